/**
 * The analytics drain: keeps the rollup tables (deals, the funnel, touches — read by reports only) current from the
 * stored events, off the ingest path. Ingest stores an event and routes it; the drain takes in the events committed
 * since its last look, in large batches, and writes the tables in a few set-based statements (apply.ts). The worker
 * runs it every 250 ms (`startAnalyticsRollup`, with the credit drain after it), and every report catches up first
 * (`catchUpAnalytics`), so a report counts every event stored before it was asked.
 *
 * Exactly once, whenever an event commits — the credit drain's pattern (credits.ts, `markNewEntries`): each event
 * carries the id of the transaction that stored it (events.xid), and a look keeps the snapshot it read up to. An id or
 * time watermark would not do: ids and received_at are drawn when the row is written, not when it commits, so a writer
 * that committed late would be skipped for ever. A look reads the events visible in a new snapshot (`upto`) and not in
 * the last one (`seen`): an index range on xid (`xid >= xmin(seen)`, below `xmax(upto)`). A long look goes in batches
 * of whole transactions in xid order; each batch is applied in the transaction that records how far the look got
 * (`after`) — and, at its end, moves `seen` to `upto` — so a drain that dies mid-batch applied nothing of it, and the
 * next one takes the batch again. Drains take turns (an advisory lock): the looks' snapshots follow one another.
 *
 * Order: a batch gives each contact's events in occurred_at order (ties in the order they were stored), and apply.ts's
 * rules are those of a late event, so an event drained after later ones of its contact counts as a late event does.
 * Events stored before events.xid existed were rolled up by the ingest path (the upgrade gives the unrouted ones an
 * xid, for the first look: the writes are idempotent per event id).
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Db, DbOrTx } from '../db/client';
import { ANALYTICS_EVENTS } from '../db/schema';
import { applyEvents, type AnalyticsEvent, type AnalyticsOptions } from './apply';
import { drainCredits } from './credits';
import { rowsOf } from './rows';

const STATE = 'analytics_events';
const DRAIN_LOCK = sql`select pg_advisory_xact_lock(hashtext('itinera:analytics_events'))`;

export type AnalyticsDrainOptions = AnalyticsOptions & {
  /** Events per transaction, at least (a batch ends with a whole storing transaction). @default 2000 */
  batch?: number;
};

type Look = { seen: string | null; upto: string; after: string | null };

/** The look under way, or a new one up to the current snapshot (recorded by the batch's own statement). */
async function look(tx: DbOrTx): Promise<Look> {
  const [state] = rowsOf(
    await tx.execute(sql`
      insert into analytics_rollup_state (name, upto) values (${STATE}, pg_current_snapshot()::text)
      on conflict (name) do update set upto = coalesce(analytics_rollup_state.upto, excluded.upto)
      returning seen, upto, after::text as after`),
  );
  return { seen: (state!.seen as string | null) ?? null, upto: String(state!.upto), after: (state!.after as string | null) ?? null };
}

/**
 * The next batch of the look: events of `ANALYTICS_EVENTS` stored by transactions committed in `upto` and not in
 * `seen` (every stored event with an xid, on the first look), after `after`, up to the transaction of the `batch`-th
 * one — each contact's in occurred_at order. `last` when the look has nothing after it.
 */
async function nextBatch(tx: DbOrTx, l: Look, batch: number): Promise<{ events: AnalyticsEvent[]; upper: string | undefined; last: boolean }> {
  const upto = sql`${l.upto}::pg_snapshot`;
  const scope = sql.join(
    [
      sql.raw(ANALYTICS_EVENTS),
      l.seen === null ? sql`xid is not null` : sql`xid >= pg_snapshot_xmin(${l.seen}::pg_snapshot) and not pg_visible_in_snapshot(xid, ${l.seen}::pg_snapshot)`,
      sql`xid < pg_snapshot_xmax(${upto}) and pg_visible_in_snapshot(xid, ${upto})`,
      ...(l.after === null ? [] : [sql`xid > ${l.after}::xid8`]),
    ],
    sql` and `,
  );
  const rows = rowsOf(
    await tx.execute(sql`
      with bound as materialized (select max(xid) as upper_xid, count(*) as n from (select xid from events where ${scope} order by xid limit ${batch}) b)
      select e.id, e.type, e.contact_id, e.properties, e.occurred_at, (select upper_xid::text from bound) as upper_xid, (select n from bound) as n
      from events e where ${scope} and e.xid <= (select upper_xid from bound)
      order by e.contact_id, e.occurred_at, e.xid, e.id`),
  );
  const events = rows.map((r) => ({
    id: String(r.id),
    type: String(r.type),
    contactId: String(r.contact_id),
    properties: (typeof r.properties === 'string' ? JSON.parse(r.properties) : r.properties) as Record<string, unknown>,
    occurredAt: r.occurred_at instanceof Date ? r.occurred_at : new Date(String(r.occurred_at)),
  }));
  return { events, upper: rows[0] ? String(rows[0].upper_xid) : undefined, last: rows.length === 0 || Number(rows[0]!.n) < batch };
}

/** Records the batch: how far the look got (the last transaction it took in), or (its last batch) the look itself as seen. */
function advance(b: { upper: string | undefined; last: boolean }): SQL {
  return b.last
    ? sql`look as (update analytics_rollup_state set seen = upto, upto = null, after = null where name = ${STATE})`
    : sql`look as (update analytics_rollup_state set after = ${b.upper ?? null}::xid8 where name = ${STATE})`;
}

/** Takes in every event committed before the call (and any committed meanwhile); returns how many events it read (those of `ANALYTICS_EVENTS`). */
export async function drainAnalytics(db: Db, opts: AnalyticsDrainOptions): Promise<number> {
  const batch = opts.batch ?? 2000;
  let total = 0;
  for (;;) {
    const { n, last } = await db.transaction(async (tx) => {
      await tx.execute(DRAIN_LOCK);
      const l = await look(tx);
      const b = await nextBatch(tx, l, batch);
      await applyEvents(tx, b.events, opts, [advance(b)]);
      return { n: b.events.length, last: b.last };
    });
    total += n;
    if (last) return total;
  }
}

/** What a report needs first: the events stored so far taken in, and the credit rollup's marks drained. */
export async function catchUpAnalytics(db: Db, opts: AnalyticsOptions): Promise<void> {
  await drainAnalytics(db, opts);
  await drainCredits(db);
}

/**
 * Drains `intervalMs` after the end of the last drain (the analytics drain, then the credit drain for the contacts it
 * marked) until stopped: the worker process runs one; several are safe (drains take turns). Under load each drain takes
 * what arrived during the last one and its pause, so batches grow with the load; idle, a tick costs a few statements.
 * A failed drain is logged and retried on the next tick.
 */
export function startAnalyticsRollup(
  db: Db,
  opts: AnalyticsOptions & {
    /** Pause between drains. @default 250 */
    intervalMs?: number;
    log?: { warn: (obj: object, msg: string) => void };
  },
): { stop: () => Promise<void> } {
  const intervalMs = opts.intervalMs ?? 250;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = catchUpAnalytics(db, { currency: opts.currency })
      .catch((err: unknown) => opts.log?.warn({ err }, 'analytics rollup drain failed; retrying on the next tick'))
      .then(() => {
        if (!stopped) {
          timer = setTimeout(tick, intervalMs);
          timer.unref();
        }
      });
  };
  timer = setTimeout(tick, intervalMs);
  timer.unref();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
