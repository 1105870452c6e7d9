/**
 * Keeps the analytics tables current as events arrive: called by the one ingest path (src/ingest/event.ts) for every
 * event it stores, before the event is marked routed — so an event whose analytics write failed is re-delivered (the
 * API answered 5xx) or re-swept, and applied then. Every write here is idempotent per event id (deal_events and
 * analytics_touches are keyed by it; the funnel keeps least/greatest times), so applying twice changes nothing.
 * Events of no interest cost one type check and no query.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Db, DbOrTx } from '../db/client';
import { isDealEventType } from './crm-events';
import { applyDealEvent, dealEventRow, lockDeals, storeAndFold, upsertDeals, type DealEventRow } from './deals';
import { FUNNEL_STAGES, type FunnelStage } from './stages';
import { utmOf, type Utm } from './utm';
import { ts } from './rows';

/**
 * A CTE marking the contact for the credit rollup (credits.ts) in the statement that changes its conversions or
 * touches. An upsert, not `do nothing`: it waits for a drain that holds the mark, so the mark outlives that drain.
 */
const markCredits = (contactIds: readonly string[]) =>
  sql`credit_mark as (insert into attribution_dirty (contact_id) values ${sql.join(
    [...new Set(contactIds)].sort().map((id) => sql`(${id}::uuid)`),
    sql`, `,
  )} on conflict (contact_id) do update set marked_at = excluded.marked_at)`;

export type AnalyticsEvent = { id: string; type: string; contactId: string; properties: Record<string, unknown>; occurredAt: Date };

export type AnalyticsOptions = {
  /** The currency of an amount sent without one, and the one reports convert to. @default 'USD' */
  currency: string;
};

/** lifecycle_stage values that place a contact in the funnel; `subscriber` and `other` do not, `evangelist` is a customer. */
const STAGE_OF_LIFECYCLE: Record<string, FunnelStage | undefined> = {
  lead: 'lead',
  mql: 'mql',
  sql: 'sql',
  opportunity: 'opportunity',
  customer: 'customer',
  evangelist: 'customer',
};

/** The stage an event shows the contact reached, and whether it states the current stage (a lifecycle write) or only proves progress. */
function stageOf(e: AnalyticsEvent): { stage: FunnelStage; authoritative: boolean } | undefined {
  switch (e.type) {
    case 'contact.updated': {
      const changes = e.properties.changes as Record<string, { to?: unknown }> | undefined;
      const to = changes?.lifecycle_stage?.to;
      const stage = typeof to === 'string' ? STAGE_OF_LIFECYCLE[to] : undefined;
      return stage ? { stage, authoritative: true } : undefined;
    }
    case 'lead.mql':
      return { stage: 'mql', authoritative: false };
    case 'handoff.accepted':
      return { stage: 'sql', authoritative: false };
    case 'deal.created':
    case 'deal.updated':
    case 'deal.stage_changed':
    case 'deal.lost':
      return { stage: 'opportunity', authoritative: false };
    case 'deal.won':
    case 'order.paid':
    case 'payment.received':
      return { stage: 'customer', authoritative: false };
    default:
      return undefined;
  }
}

/** The first sales touch after an MQL: CRM feedback on a hand-off, or a `sales.touched` event. */
const SALES_TOUCH = new Set(['sales.touched', 'handoff.accepted', 'handoff.rejected']);

const rank = (column: string) =>
  sql.raw(`(case ${column} ${FUNNEL_STAGES.map((s, i) => `when '${s}' then ${i}`).join(' ')} else -1 end)`);

type StageWrite = { contactId: string; stage: FunnelStage; at: Date; authoritative: boolean };

/**
 * Records that each contact reached its `stage` at `at` (one row per contact; all lifecycle writes or all other
 * events). Each stage keeps its earliest time. The current stage follows the latest move by occurred_at: a lifecycle
 * write sets it (a recycle back to lead included); other events only move it forward. An event older than the last
 * move leaves the current stage alone.
 */
function reachStagesSql(writes: readonly StageWrite[], authoritative: boolean): SQL {
  const moves = authoritative
    ? sql`(contact_funnel.moved_at is null or excluded.moved_at >= contact_funnel.moved_at)`
    : sql`(contact_funnel.moved_at is null or (excluded.moved_at >= contact_funnel.moved_at and ${rank('excluded.current_stage')} > ${rank('contact_funnel.current_stage')}))`;
  const values = sql.join(
    writes.map((w) => {
      const at = ts(w.at);
      const cols = FUNNEL_STAGES.map((s) => (s === w.stage ? at : sql`null::timestamptz`));
      return sql`(${w.contactId}::uuid, ${sql.join(cols, sql`, `)}, ${at}, ${w.stage}, ${at})`;
    }),
    sql`, `,
  );
  return sql`
    insert into contact_funnel (contact_id, ${sql.raw(FUNNEL_STAGES.map((s) => `${s}_at`).join(', '))}, entered_at, current_stage, moved_at)
    values ${values}
    on conflict (contact_id) do update set
      ${sql.raw(FUNNEL_STAGES.map((s) => `${s}_at = least(contact_funnel.${s}_at, excluded.${s}_at)`).join(', '))},
      entered_at = least(contact_funnel.entered_at, excluded.entered_at),
      current_stage = case when ${moves} then excluded.current_stage else contact_funnel.current_stage end,
      moved_at = case when ${moves} then excluded.moved_at else contact_funnel.moved_at end`;
}

const reachStageSql = (contactId: string, stage: FunnelStage, at: Date, authoritative: boolean) => reachStagesSql([{ contactId, stage, at, authoritative }], authoritative);

/** CTEs `touch` and `first_touch`: the touches' rows and the first UTM touch per contact among them (earliest; the first given on a tie). */
function touchesSql(touches: readonly { e: AnalyticsEvent; utm: Utm }[]): SQL {
  const first = new Map<string, { e: AnalyticsEvent; utm: Utm }>();
  for (const t of touches) {
    const f = first.get(t.e.contactId);
    if (!f || t.e.occurredAt.getTime() < f.e.occurredAt.getTime()) first.set(t.e.contactId, t);
  }
  const rows = sql.join(
    touches.map(({ e, utm }) => sql`(${e.id}, ${e.contactId}::uuid, ${ts(e.occurredAt)}, ${utm.source}, ${utm.medium}, ${utm.campaign})`),
    sql`, `,
  );
  const firsts = sql.join(
    [...first.values()]
      .sort((a, b) => (a.e.contactId < b.e.contactId ? -1 : 1))
      .map(({ e, utm }) => sql`(${e.contactId}::uuid, ${ts(e.occurredAt)}, ${utm.source}, ${utm.medium}, ${utm.campaign})`),
    sql`, `,
  );
  // The touches, and each contact's first touch (by occurred_at) naming its source, medium and campaign.
  return sql`
    touch as (
      insert into analytics_touches (event_id, contact_id, occurred_at, utm_source, utm_medium, utm_campaign) values ${rows}
      on conflict (event_id) do nothing
    ),
    first_touch as (
      insert into contact_funnel (contact_id, first_touch_at, utm_source, utm_medium, utm_campaign) values ${firsts}
      on conflict (contact_id) do update set
        first_touch_at = excluded.first_touch_at, utm_source = excluded.utm_source, utm_medium = excluded.utm_medium, utm_campaign = excluded.utm_campaign
      where contact_funnel.first_touch_at is null or excluded.first_touch_at < contact_funnel.first_touch_at
    )`;
}

/** The earliest sales touch per contact. */
function salesTouchesSql(touches: ReadonlyMap<string, Date>): SQL {
  const rows = sql.join(
    [...touches.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([c, at]) => sql`(${c}::uuid, ${ts(at)})`),
    sql`, `,
  );
  return sql`
    insert into contact_funnel (contact_id, sales_touch_at) values ${rows}
    on conflict (contact_id) do update set sales_touch_at = least(contact_funnel.sales_touch_at, excluded.sales_touch_at)`;
}

/** Whether the event changes any analytics table (else it costs no query). */
const relevant = (e: AnalyticsEvent) => isDealEventType(e.type) || SALES_TOUCH.has(e.type) || stageOf(e) !== undefined || utmOf(e.type, e.properties) !== undefined;

/** Events per analytics transaction, at most. */
const MAX_BATCH = 200;

/**
 * Group commit, one batch in flight: events arriving while a batch is being written wait and go together in the next
 * one. Under load the batches grow with the load (one transaction, a few statements and one commit for many events)
 * instead of each turn of the event loop starting its own small transaction, which then contend for the same deal
 * locks, mark rows and commits. Each caller still awaits its own event's commit. A failing batch is retried event by
 * event, so one bad event fails only its own caller.
 */
function oneBatchAtATime(write: (events: AnalyticsEvent[]) => Promise<void>): (e: AnalyticsEvent) => Promise<void> {
  type Waiter = { e: AnalyticsEvent; resolve: () => void; reject: (err: unknown) => void };
  let queue: Waiter[] = [];
  let running = false;
  const writeAlone = (w: Waiter) => write([w.e]).then(w.resolve, w.reject);
  const pump = async () => {
    while (queue.length) {
      const chunk = queue.slice(0, MAX_BATCH);
      queue = queue.slice(chunk.length);
      try {
        await write(chunk.map((w) => w.e));
        for (const w of chunk) w.resolve();
      } catch (err) {
        if (chunk.length === 1) chunk[0]!.reject(err);
        else for (const w of chunk) await writeAlone(w);
      }
    }
    running = false;
  };
  return (e) =>
    new Promise<void>((resolve, reject) => {
      queue.push({ e, resolve, reject });
      if (!running) {
        running = true;
        // The next turn of the event loop: the events of this one go in the same first batch.
        setImmediate(() => void pump());
      }
    });
}

const batchers = new WeakMap<Db, Map<string, (e: AnalyticsEvent) => Promise<void>>>();

/**
 * Applies one event. Events applied concurrently (the ingest path's requests in flight) are group-committed
 * (`oneBatchAtATime`): written in one transaction of a few multi-row statements, with the per-event semantics (a
 * contact's stage writes in arrival order; deals folded from all their events).
 */
export async function applyAnalytics(db: Db, e: AnalyticsEvent, opts: AnalyticsOptions): Promise<void> {
  if (!relevant(e)) return;
  let byCurrency = batchers.get(db);
  if (!byCurrency) batchers.set(db, (byCurrency = new Map()));
  let apply = byCurrency.get(opts.currency);
  if (!apply) {
    apply = oneBatchAtATime(async (events) => {
      if (events.length === 1) await applyOne(db, events[0]!, opts);
      else await applyMany(db, events, opts);
    });
    byCurrency.set(opts.currency, apply);
  }
  await apply(e);
}

async function applyMany(db: Db, all: readonly AnalyticsEvent[], opts: AnalyticsOptions): Promise<void> {
  // A re-delivery in the same batch changes nothing (every write is idempotent per event id): applied once.
  const events = [...new Map(all.map((e) => [e.id, e])).values()];
  const marks = new Set<string>();
  const stages: StageWrite[] = [];
  const dealRows: DealEventRow[] = [];
  const salesTouches = new Map<string, Date>();
  const touches: { e: AnalyticsEvent; utm: Utm }[] = [];
  for (const e of events) {
    const stage = stageOf(e);
    if (isDealEventType(e.type)) {
      const row = dealEventRow(e);
      if (row) dealRows.push(row);
    }
    if (stage) {
      stages.push({ contactId: e.contactId, stage: stage.stage, at: e.occurredAt, authoritative: stage.authoritative });
      marks.add(e.contactId);
    }
    if (SALES_TOUCH.has(e.type)) {
      const prev = salesTouches.get(e.contactId);
      if (!prev || e.occurredAt < prev) salesTouches.set(e.contactId, e.occurredAt);
    }
    const utm = utmOf(e.type, e.properties);
    if (utm) {
      touches.push({ e, utm });
      marks.add(e.contactId);
    }
  }
  // A contact's stage writes in arrival order: its k-th write goes in round k (one row per contact per statement).
  const rounds: StageWrite[][] = [];
  const seen = new Map<string, number>();
  for (const w of stages) {
    const k = seen.get(w.contactId) ?? 0;
    seen.set(w.contactId, k + 1);
    (rounds[k] ??= []).push(w);
  }
  // The writes as statements of data-modifying CTEs; each statement's CTEs write different rows (a round's lifecycle
  // and other stage writes are of different contacts). Statements that may write one contact's funnel row are kept
  // apart; the deal rows and the marks go with the last one, so a batch costs few round trips.
  const statements: SQL[][] = [];
  for (const round of rounds) {
    const ctes: SQL[] = [];
    for (const authoritative of [true, false]) {
      const ws = round.filter((w) => w.authoritative === authoritative).sort((a, b) => (a.contactId < b.contactId ? -1 : 1));
      if (ws.length) ctes.push(sql`${sql.raw(authoritative ? 'stage_set' : 'stage_reached')} as (${reachStagesSql(ws, authoritative)})`);
    }
    statements.push(ctes);
  }
  if (salesTouches.size) statements.push([sql`sales_touch as (${salesTouchesSql(salesTouches)})`]);
  if (touches.length) statements.push([touchesSql(touches)]);
  const run = async (tx: DbOrTx, last: SQL[]) => {
    if (marks.size) last.push(markCredits([...marks]));
    const all = [...statements.slice(0, -1), [...(statements.at(-1) ?? []), ...last]];
    for (const ctes of all) if (ctes.length) await tx.execute(sql`with ${sql.join(ctes, sql`, `)} select 1`);
  };
  if (!dealRows.length && statements.length === 1) {
    // One statement is atomic on its own: no BEGIN/COMMIT round trips.
    await run(db, []);
    return;
  }
  await db.transaction(async (tx) => {
    const last: SQL[] = [];
    if (dealRows.length) {
      await lockDeals(tx, dealRows.map((r) => r.dealId));
      const folded = await storeAndFold(tx, dealRows, opts.currency);
      last.push(sql`deal as ${upsertDeals(tx, folded.map((f) => f.deal))}`);
      for (const f of folded) for (const c of f.contactIds) marks.add(c);
    }
    await run(tx, last);
  });
}

/** One event: one statement on the common paths (a UTM touch, a stage move), one short transaction for a deal. */
async function applyOne(db: Db, e: AnalyticsEvent, opts: AnalyticsOptions): Promise<void> {
  const stage = stageOf(e);
  const deal = isDealEventType(e.type);
  const salesTouch = SALES_TOUCH.has(e.type);
  const utm = utmOf(e.type, e.properties);
  const writes: ((tx: DbOrTx) => Promise<unknown>)[] = [];
  const reach = stage && sql`with ${markCredits([e.contactId])} ${reachStageSql(e.contactId, stage.stage, e.occurredAt, stage.authoritative)}`;
  if (deal) {
    // The deal row, the marks of its contacts (a deal moved to another contact takes its revenue from the first one)
    // and the funnel stage it proves, in one statement after the fold.
    writes.push(async (tx) => {
      const d = await applyDealEvent(tx, { ...e, type: e.type as Parameters<typeof applyDealEvent>[1]['type'] }, opts.currency, (upsertDeal, contactIds) =>
        tx.execute(sql`with deal as ${upsertDeal}, ${markCredits([e.contactId, ...contactIds])} ${stage ? reachStageSql(e.contactId, stage.stage, e.occurredAt, stage.authoritative) : sql`select 1`}`),
      );
      // A payment naming no deal still proves the stage.
      if (!d && reach) await tx.execute(reach);
    });
  } else if (reach) writes.push((tx) => tx.execute(reach));
  if (salesTouch) writes.push((tx) => tx.execute(salesTouchesSql(new Map([[e.contactId, e.occurredAt]]))));
  if (utm) writes.push((tx) => tx.execute(sql`with ${markCredits([e.contactId])}, ${touchesSql([{ e, utm }])} select 1`));
  if (!writes.length) return;
  // A single statement is atomic on its own: no BEGIN/COMMIT round trips on the common paths.
  if (writes.length === 1 && !deal) {
    await writes[0]!(db);
    return;
  }
  await db.transaction(async (tx) => {
    for (const w of writes) await w(tx);
  });
}
