/**
 * The outbox of system events (contact.updated, contact.unsubscribed): stored unrouted in the transaction of the write
 * that caused them (changes.ts), routed right after the commit through the one ingest path, and — when the process
 * died in between, or routing failed (Temporal unavailable) — by the sweeper, which re-ingests unrouted `system`
 * events older than a grace period. `ingestEvent` treats a stored unrouted row as "route it now", and routing is
 * idempotent, so the sweeper racing a slow first attempt is harmless.
 */
import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import { anyOf } from '../db/any';
import type { DbOrTx } from '../db/client';
import { events, journeyRuns } from '../db/schema';
import { ingestEvent, type IncomingEvent, type IngestDeps } from '../ingest/event';
import { CONTACT_UPDATED } from './changes';

export type OutboxLog = { warn(obj: object, msg: string): void };

/**
 * Routes events already stored by a write. Failures are logged, not thrown: the write has committed, and the sweeper
 * routes what is left.
 */
export async function routeStoredEvents(ingest: IngestDeps | undefined, stored: readonly IncomingEvent[], log?: OutboxLog): Promise<void> {
  if (!ingest) return;
  for (const e of stored) {
    try {
      await ingestEvent(ingest, e);
    } catch (err) {
      log?.warn({ err, eventId: e.id, type: e.type }, 'routing a stored event failed; the outbox sweeper will route it');
    }
  }
}

/**
 * The contacts, of `contactIds`, whose `contact.updated` has nowhere to go: no live journey has an event, change or
 * audience trigger it could fire, and the contact has no running run to signal. Routing such an event is only its
 * mark. Empty when some journey has such a trigger (every change must then take the ingest path).
 */
export async function quietContacts(ingest: IngestDeps, db: DbOrTx, contactIds: readonly string[]): Promise<Set<string>> {
  const quiet = new Set<string>();
  if (contactIds.length === 0) return quiet;
  const { triggers } = ingest.router;
  const [eventTriggers, contactTriggers] = await Promise.all([triggers.triggersFor(CONTACT_UPDATED), triggers.contactTriggers?.() ?? Promise.resolve([])]);
  if (eventTriggers.length > 0 || contactTriggers.length > 0) return quiet;
  const ids = [...new Set(contactIds)];
  const busy = new Set<string>();
  for (let i = 0; i < ids.length; i += 5000) {
    const rows = await db.selectDistinct({ contactId: journeyRuns.contactId }).from(journeyRuns).where(and(anyOf(journeyRuns.contactId, ids.slice(i, i + 5000)), eq(journeyRuns.status, 'running')));
    for (const r of rows) busy.add(r.contactId);
  }
  for (const id of ids) if (!busy.has(id)) quiet.add(id);
  return quiet;
}

/**
 * `routeStoredEvents` for the many writes of a bulk import's chunk. Routing a `contact.updated` starts the journeys
 * whose event, change or audience triggers it fires and signals the contact's running runs; the change of a quiet
 * contact (see `quietContacts`) has nowhere to go, and its routing is only the mark — done for all of those in one
 * statement. Every other event (a contact with running runs, any trigger to evaluate, a `contact.unsubscribed`) takes
 * the one ingest path, `concurrency` contacts at a time, each contact's events in order.
 */
export async function routeStoredEventsInBulk(ingest: IngestDeps | undefined, stored: readonly IncomingEvent[], opts: { log?: OutboxLog | undefined; concurrency?: number } = {}): Promise<void> {
  if (!ingest || stored.length === 0) return;
  let quiet = new Set<string>();
  const updates = stored.filter((e) => e.type === CONTACT_UPDATED);
  if (updates.length > 0) {
    const quietIds = await quietContacts(ingest, ingest.db, updates.map((e) => e.contactId));
    quiet = new Set(updates.filter((e) => quietIds.has(e.contactId)).map((e) => e.id));
    const marks = [...quiet];
    for (let i = 0; i < marks.length; i += 5000) await ingest.db.update(events).set({ routedAt: sql`now()` }).where(and(anyOf(events.id, marks.slice(i, i + 5000)), isNull(events.routedAt)));
  }
  const byContact = new Map<string, IncomingEvent[]>();
  for (const e of stored) {
    if (quiet.has(e.id)) continue;
    const lane = byContact.get(e.contactId);
    if (lane) lane.push(e);
    else byContact.set(e.contactId, [e]);
  }
  const lanes = [...byContact.values()];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(opts.concurrency ?? 8, lanes.length) }, async () => {
      while (next < lanes.length) await routeStoredEvents(ingest, lanes[next++]!, opts.log);
    }),
  );
}

export type SweepOptions = {
  /** Rows younger than this are left to the writer that stored them. @default 30_000 */
  olderThanMs?: number;
  /** Rows per sweep. @default 200 */
  limit?: number;
};

/** Routes unrouted system events older than the grace period, oldest first; returns how many it routed. */
export async function sweepUnroutedEvents(ingest: IngestDeps, opts: SweepOptions = {}): Promise<number> {
  const olderThanMs = opts.olderThanMs ?? 30_000;
  const rows = await ingest.db
    .select()
    .from(events)
    .where(and(isNull(events.routedAt), eq(events.source, 'system'), sql`${events.receivedAt} < now() - ${`${olderThanMs} milliseconds`}::interval`))
    .orderBy(asc(events.receivedAt))
    .limit(opts.limit ?? 200);
  let routed = 0;
  for (const r of rows) {
    if (!r.contactId) continue;
    await ingestEvent(ingest, { id: r.id, type: r.type, contactId: r.contactId, properties: r.properties, occurredAt: r.occurredAt, source: r.source });
    routed++;
  }
  return routed;
}

export type OutboxSweeper = { stop(): Promise<void> };

/**
 * Sweeps every `intervalMs` until stopped (the worker process runs one; several processes sweeping is safe). A failed
 * sweep is logged and retried on the next tick.
 */
export function startOutboxSweeper(ingest: IngestDeps, opts: SweepOptions & { intervalMs?: number; log?: OutboxLog } = {}): OutboxSweeper {
  const intervalMs = opts.intervalMs ?? 10_000;
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    running = sweepUnroutedEvents(ingest, opts)
      .catch((err: unknown) => opts.log?.warn({ err }, 'outbox sweep failed; retrying on the next tick'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs).unref();
      });
  };
  timer = setTimeout(tick, intervalMs).unref();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
