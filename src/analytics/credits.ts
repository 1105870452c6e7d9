/**
 * The credit rollup: attribution credits of every conversion, per model, UTC day of the conversion, conversion kind,
 * touch and currency (attribution_credits), so the campaign report reads pre-summed rows instead of sharing every
 * conversion among its touches per request.
 *
 * A contact's credits depend only on its own conversions and touches, and a touch's share is fixed once both are known
 * (time decay too: it depends on the time between the touch and the conversion). So the rollup is kept per contact:
 * - the analytics drain (apply.ts) marks a contact in attribution_dirty in the transaction of any write that changes its
 *   credits: a conversion time (funnel stage times), a won deal, or a UTM touch at or before one of its conversions (a
 *   later touch is credited by the recompute that the next conversion's mark brings), with the earliest time the change
 *   can affect (`since`), so the recompute leaves out the conversions of earlier UTC days;
 * - journey entries (journey_run_steps, seq 1) are written on every run's hot path, so they carry no mark: the drain
 *   finds those committed since its last look and marks their contacts itself (`markNewEntries`);
 * - `drainCredits` recomputes marked contacts in batches with the request-time formulas (credit-sql.ts): it takes the
 *   contact's previous contribution (attribution_contact_credits) out of the sums and puts the new one in, in one
 *   statement, and unmarks them in the same transaction. Late and out-of-order events, stage regressions, deals
 *   changing currency or amount or moving to another contact: all end as "recompute these contacts".
 * - the campaign report drains first, so it reads credits exactly as the request-time computation gives them; the
 *   worker drains every 250 ms, after the analytics drain (drain.ts, `startAnalyticsRollup`), so the report finds little
 *   to do.
 *
 * Sums are `numeric`: adding and taking out the same contribution leaves no rounding drift behind (and trim_scale keeps
 * them in one form, so a sum reached by increments reads as the same sum rebuilt). The rollup holds the
 * default half-life and lookback; a report asking for others is computed at request time.
 *
 * Concurrency: a drain locks the marks it takes (`for update skip locked`), and writers mark with an upsert that waits
 * for that lock, so a write committed after the drain read the contact's rows leaves the contact marked again; a
 * journey entry committed after the drain's look is found by the next look. Drains run one at a time (an advisory
 * lock), as their sums touch the same rows and the looks' snapshots follow one another.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Db, DbOrTx } from '../db/client';
import { ATTRIBUTION_MODELS, DEFAULT_HALF_LIFE_DAYS, DEFAULT_LOOKBACK_DAYS, type AttributionOptions } from './attribution';
import { addCreditRow, conversionsSql, creditInSql, emptyCredits, joinedSql, mergeCredits, shareSql, type CampaignReportQuery, type Credits } from './credit-sql';
import { rowsOf } from './rows';

/** The half-life and lookback the rollup holds. */
export const ROLLED_UP: Pick<AttributionOptions, 'halfLifeDays' | 'lookbackDays'> = { halfLifeDays: DEFAULT_HALF_LIFE_DAYS, lookbackDays: DEFAULT_LOOKBACK_DAYS };

const DAY = 86_400_000;
const BUILT = 'attribution_credits';
const DRAIN_LOCK = sql`select pg_advisory_xact_lock(hashtext('itinera:attribution_credits'))`;

/** uuid[] literal of ids read from our own uuid columns. */
const uuidArray = (ids: readonly string[]): SQL => sql`${`{${ids.join(',')}}`}::uuid[]`;

/**
 * The upsert of marks (attribution_dirty) of contacts, each with the earliest time its changes can affect (null: all):
 * a mark already there keeps the earlier of the two, and null wins.
 */
export const MARK_CONFLICT = sql.raw(`on conflict (contact_id) do update set marked_at = excluded.marked_at,
  since = case when attribution_dirty.since is null or excluded.since is null then null else least(attribution_dirty.since, excluded.since) end`);

/** A marked contact, and the first UTC day its changes can affect (null: every day). */
export type Mark = { id: string; sinceDay: string | null };

/**
 * Recomputes the credits of these contacts: old contribution out, new one in (one statement), for their conversions
 * on UTC days from the mark's `sinceDay` on (a change at time t affects only conversions at or after t: a touch counts
 * for conversions after it, and a changed conversion's old and new times are both at or after t; a day is recomputed
 * whole, as its rows sum every conversion of the day). A contact's rows are unique by (model, day, conversion, touch)
 * and currency (`fresh` groups by them), so a row equal in every column is the same contribution and is left in place.
 */
export function recomputeSql(marks: readonly Mark[]): SQL {
  const ids = marks.map((m) => m.id);
  const contacts = uuidArray(ids);
  const from = JSON.stringify(marks.map((m) => ({ contact_id: m.id, since_day: m.sinceDay })));
  const share = sql.join(
    ATTRIBUTION_MODELS.map((m) => sql`when ${m} then ${shareSql(m)}`),
    sql` `,
  );
  const models = sql.join(
    ATTRIBUTION_MODELS.map((m) => sql`(${m})`),
    sql`, `,
  );
  const day = (col: string) => sql.raw(`(${col} at time zone 'UTC')::date`);
  return sql`
    with m as (select * from jsonb_to_recordset(${from}::jsonb) as m(contact_id uuid, since_day date)),
    conv as (
      select c.* from (${conversionsSql({ contacts })}) c join m on m.contact_id = c.contact_id
      where m.since_day is null or ${day('c.at')} >= m.since_day
    ),
    touches as (
      select t.contact_id, t.occurred_at as at, 'utm' as kind, t.utm_campaign as key from analytics_touches t where t.contact_id = any(${contacts})
      union all
      select s.contact_id, s.entered_at, 'journey', s.journey_id from journey_run_steps s where s.seq = 1 and s.contact_id = any(${contacts})
    ),
    x as (${joinedSql(ROLLED_UP)}),
    fresh as (
      select x.contact_id, m.model, ${day('x.cat')} as day, x.ckind as conversion, x.kind as touch_kind, x.key as touch_key, coalesce(x.currency, '') as currency,
        sum((case m.model ${share} end)::numeric) as credit, sum(((case m.model ${share} end) * x.amount::float8)::numeric) as amount, count(x.amount)::int as priced
      from x cross join (values ${models}) m(model) where x.kind is not null
      group by 1, 2, 3, 4, 5, 6, 7
      union all
      select x.contact_id, '*', ${day('x.cat')}, x.ckind, 'none', '', coalesce(x.currency, ''), count(*), sum(x.amount), count(x.amount)::int
      from x where x.kind is null group by 1, 3, 4, 7
      union all
      select c.contact_id, '*', ${day('c.at')}, c.kind, 'total', '', coalesce(c.currency, ''), count(*), sum(c.amount), count(c.amount)::int
      from conv c group by 1, 3, 4, 7
      union all
      select c.contact_id, '*', ${day('c.at')}, 'deals', 'unpriced', '', '', count(*), null, 0
      from conv c where c.kind = 'deals' and c.amount is null group by 1, 3
    ),
    -- Only what changed is written: a contact whose recompute gives its stored rows again (an open deal created, a stage
    -- reached earlier already) costs no write, and a new touch rewrites only the conversions it shares.
    old as (
      select a.contact_id, a.model, a.day, a.conversion, a.touch_kind, a.touch_key, a.currency, a.credit, a.amount, a.priced
      from attribution_contact_credits a join m on m.contact_id = a.contact_id
      where a.contact_id = any(${contacts}) and (m.since_day is null or a.day >= m.since_day)
    ),
    gone as (select * from old except all select * from fresh),
    came as (select * from fresh except all select * from old),
    del as (
      delete from attribution_contact_credits a using gone g
      where a.contact_id = any(${contacts}) and a.contact_id = g.contact_id and a.model = g.model and a.day = g.day and a.conversion = g.conversion and a.touch_kind = g.touch_kind
        and a.touch_key = g.touch_key and a.currency = g.currency
    ),
    ins as (
      insert into attribution_contact_credits (contact_id, model, day, conversion, touch_kind, touch_key, currency, credit, amount, priced)
      select * from came
    ),
    delta as (
      select model, day, conversion, touch_kind, touch_key, currency, trim_scale(sum(credit)) as credit, trim_scale(sum(coalesce(amount, 0))) as amount, sum(priced)::int as priced
      from (
        select model, day, conversion, touch_kind, touch_key, currency, credit, amount, priced from came
        union all
        select model, day, conversion, touch_kind, touch_key, currency, -credit, -amount, -priced from gone
      ) d
      group by 1, 2, 3, 4, 5, 6
      having sum(credit) <> 0 or sum(coalesce(amount, 0)) <> 0 or sum(priced) <> 0
    )
    insert into attribution_credits (model, day, conversion, touch_kind, touch_key, currency, credit, amount, priced)
    select * from delta order by 1, 2, 3, 4, 5, 6
    on conflict (model, day, conversion, touch_kind, touch_key, currency) do update set
      credit = trim_scale(attribution_credits.credit + excluded.credit),
      amount = trim_scale(attribution_credits.amount + excluded.amount),
      priced = attribution_credits.priced + excluded.priced`;
}

/**
 * Marks every contact with a conversion or touch, once per database: the rollup then builds from the history. The
 * state row records the snapshot of its own statement as the journey entries seen: markAllDirty, a later statement,
 * sees at least those.
 */
async function ensureBuilt(db: Db): Promise<void> {
  if (built.has(db)) return;
  await db.transaction(async (tx) => {
    const inserted = rowsOf(
      await tx.execute(sql`insert into analytics_rollup_state (name, seen) values (${BUILT}, pg_current_snapshot()::text) on conflict do nothing returning name`),
    );
    if (inserted.length) await markAllDirty(tx);
  });
  built.add(db);
}

/**
 * Marks the contacts of the journey entries committed since the last look, and records this look; under the drain
 * lock (one look at a time).
 *
 * Why transaction visibility and not a high-water mark of journey_run_steps.id or entered_at: ids are drawn from a
 * sequence when a row is inserted, not when it commits, and entered_at is the writer's transaction start; a writer
 * that drew id 100 (or started at t) can commit after a look that already saw id 101 (or a later time), and a
 * watermark past it would skip its row for ever. So each entry carries the id of the transaction that wrote it
 * (journey_run_steps.xid, pg_current_xact_id()), and a look keeps the snapshot it read with (`seen`). An entry not
 * visible in that snapshot was written by a transaction still running or not yet begun when it was taken: its xid is
 * at least the snapshot's xmin and the snapshot does not count it visible. The next look reads exactly those
 * (`xid >= xmin(seen) and not visible in seen`, an index range on xid), with the rows it can see and the snapshot it
 * records both taken from the one statement's snapshot — so an entry is taken in by exactly one look, whenever it
 * commits. Entries written before the column existed have no xid; their writers marked them (the marks outlive the
 * upgrade). The first look after the upgrade (no snapshot recorded yet) reads every entry with an xid.
 */
async function markNewEntries(tx: DbOrTx): Promise<void> {
  const [state] = rowsOf(await tx.execute(sql`select seen from analytics_rollup_state where name = ${BUILT}`));
  const seen = state?.seen;
  const since =
    typeof seen === 'string'
      ? sql`s.xid >= pg_snapshot_xmin(${seen}::pg_snapshot) and not pg_visible_in_snapshot(s.xid, ${seen}::pg_snapshot)`
      : sql`s.xid is not null`;
  await tx.execute(sql`
    with entries as (select s.contact_id, min(s.entered_at) as since from journey_run_steps s where s.seq = 1 and ${since} group by s.contact_id),
    mark as (
      insert into attribution_dirty (contact_id, since) select contact_id, since from entries order by contact_id
      ${MARK_CONFLICT}
    )
    update analytics_rollup_state set seen = pg_current_snapshot()::text where name = ${BUILT}`);
}
const built = new WeakSet<Db>();

/** Marks every contact that has a conversion or a touch (a rebuild: the next drain recomputes them all). */
export async function markAllDirty(tx: DbOrTx): Promise<void> {
  await tx.execute(sql`
    insert into attribution_dirty (contact_id)
    select contact_id from contact_funnel union select contact_id from deals
    union select contact_id from analytics_touches union select contact_id from journey_run_steps where seq = 1
    on conflict (contact_id) do update set marked_at = now(), since = null`);
}

export type DrainOptions = {
  /** Contacts per transaction. @default 500 */
  batch?: number;
};

/** Recomputes every marked contact; returns how many. */
export async function drainCredits(db: Db, opts: DrainOptions = {}): Promise<number> {
  const batch = opts.batch ?? 500;
  await ensureBuilt(db);
  let total = 0;
  let looked = false;
  for (;;) {
    const look = !looked;
    looked = true;
    const n = await db.transaction(async (tx) => {
      await tx.execute(DRAIN_LOCK);
      if (look) await markNewEntries(tx);
      const marks = rowsOf(
        await tx.execute(sql`select contact_id, (since at time zone 'UTC')::date::text as since_day from attribution_dirty order by contact_id limit ${batch} for update skip locked`),
      ).map((r): Mark => ({ id: String(r.contact_id), sinceDay: r.since_day === null ? null : String(r.since_day) }));
      if (!marks.length) return 0;
      await tx.execute(recomputeSql(marks));
      await tx.execute(sql`delete from attribution_dirty where contact_id = any(${uuidArray(marks.map((m) => m.id))})`);
      return marks.length;
    });
    total += n;
    if (n < batch) return total;
  }
}

const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The rolled-up credits of conversions on the UTC days [fromDay, toDay) (ms at midnight), for a model. */
async function readRollup(db: DbOrTx, model: AttributionOptions['model'], fromDay: number, toDay: number): Promise<Credits> {
  const res = await db.execute(sql`
    select case touch_kind when 'none' then 'unattributed' when 'total' then 'total' when 'unpriced' then 'unpriced' else 'credit' end as part,
      touch_kind, touch_key, conversion as ckind, nullif(currency, '') as currency, sum(credit)::float8 as n,
      case when sum(priced) > 0 then sum(amount)::float8 end as amount
    from attribution_credits
    where model in (${model}, '*') and day >= ${iso(fromDay)}::date and day < ${iso(toDay)}::date
    group by touch_kind, touch_key, conversion, currency`);
  const out = emptyCredits();
  for (const r of rowsOf(res)) addCreditRow(out, r);
  return out;
}

/**
 * Credits of the conversions in [from, to): whole UTC days from the rollup (after draining the marked contacts), the
 * partial days at either end at request time; all at request time when the model's parameters are not the rolled-up
 * ones or the range holds no whole day.
 */
export async function rolledUpCredits(db: Db, q: CampaignReportQuery): Promise<Credits> {
  const firstDay = Math.ceil(q.from.getTime() / DAY) * DAY;
  const endDay = Math.floor(q.to.getTime() / DAY) * DAY;
  if (q.halfLifeDays !== ROLLED_UP.halfLifeDays || q.lookbackDays !== ROLLED_UP.lookbackDays || firstDay >= endDay) return creditInSql(db, q);
  await drainCredits(db);
  const out = await readRollup(db, q.model, firstDay, endDay);
  if (q.from.getTime() < firstDay) mergeCredits(out, await creditInSql(db, { ...q, to: new Date(firstDay) }));
  if (endDay < q.to.getTime()) mergeCredits(out, await creditInSql(db, { ...q, from: new Date(endDay) }));
  return out;
}
