import { inArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { batched } from '../db/batch';
import { claimEvents, type Claim, type NewEvent } from '../db/queries';
import { events } from '../db/schema';
import { routeEvent, type RouterDeps } from './router';
import { CONTACT_UPDATED, routeContactUpdate } from './contact-routing';
import { applyScoringToEvents, type ApplyResult, type ScoringEventInput } from '../scoring/apply';
import type { ScoringModel } from '../scoring/model';
import type { IncomingEvent } from './incoming';

export type { IncomingEvent };

export type IngestDeps = {
  db: Db;
  router: RouterDeps;
  /** The lead-scoring model applied to every ingested event (journeys/scoring.yaml); none disables scoring. */
  scoring?: ScoringModel;
};

export type IngestOutcome = { id: string; duplicate: boolean; runs: string[]; notEntered?: { journeyId: string; reason: string }[] };

/**
 * The one path every event takes, whether the CRM posted it or a tracking link produced it: stored once by id, then
 * scored and routed, then marked routed. A re-delivered id that was routed is reported as a duplicate and goes no
 * further, so it cannot double-count in journeys. One whose routing failed (Temporal or Postgres unavailable: the API
 * answered 5xx) is still unrouted, so the sender's retry routes it — found by the chaos suite, where such retries were
 * dropped as duplicates and the contacts never entered their journeys. Scoring again is a no-op (scored once per
 * event id) and routing again is safe: run ids are deterministic and a run ignores its own trigger arriving as a signal.
 */
export async function ingestEvent(deps: IngestDeps, event: IncomingEvent): Promise<IngestOutcome> {
  const claimed = await claim(deps.db)({
    id: event.id,
    type: event.type,
    contactId: event.contactId,
    properties: event.properties,
    occurredAt: event.occurredAt,
    source: event.source,
  });
  if (claimed === 'routed') return { id: event.id, duplicate: true, runs: [] };
  // The analytics tables (funnel stages, touches, deals) are read by reports only: the analytics drain takes the stored
  // event in after it commits (src/analytics/drain.ts), off this path.
  // Scoring runs before routing so a journey that branches on score sees this event's points. Events it emits
  // (lead.mql) take this same path; their ids are deterministic, so a re-delivery cannot emit twice.
  // A contact.updated is the echo of a write (scoring's own among them), not an activity to score.
  if (deps.scoring && event.type !== CONTACT_UPDATED) {
    const scored = await score(deps.db, deps.scoring)({
      eventId: event.id,
      contactId: event.contactId,
      type: event.type,
      properties: event.properties,
      occurredAt: event.occurredAt,
    });
    for (const e of scored.emitted) {
      await ingestEvent(deps, { id: e.id, type: e.type, contactId: e.contactId, properties: e.properties, occurredAt: e.occurredAt, source: 'scoring' });
    }
    // The score change it made (contact.updated, stored with it): routed now rather than by the outbox sweeper.
    for (const e of scored.contactEvents) await ingestEvent(deps, e);
  }
  const signal = { id: event.id, type: event.type, properties: event.properties, occurredAt: event.occurredAt.getTime() };
  // A contact change has routing of its own: change and audience triggers, and coalesced signals carrying the contact.
  const routed = event.type === CONTACT_UPDATED ? await routeContactUpdate(deps, event.contactId, signal) : await routeEvent(deps.router, event.contactId, signal);
  // Until this is recorded a re-delivery routes again; if it fails the API answers 5xx and the sender's retry does.
  await markRouted(deps.db)(event.id);
  return {
    id: event.id,
    duplicate: false,
    runs: [...routed.started.map((s) => s.workflowId), ...routed.signalled],
    ...(routed.notEntered.length ? { notEntered: routed.notEntered } : {}),
  };
}

const scorers = new WeakMap<Db, WeakMap<ScoringModel, (input: ScoringEventInput) => Promise<ApplyResult>>>();

/** Scores events group-committed across the requests in flight (scoring/apply.ts `applyScoringToEvents`). */
function score(db: Db, model: ScoringModel): (input: ScoringEventInput) => Promise<ApplyResult> {
  let byModel = scorers.get(db);
  if (!byModel) scorers.set(db, (byModel = new WeakMap()));
  let s = byModel.get(model);
  if (!s) {
    const group = batched<ScoringEventInput, ApplyResult | { error: unknown }>((inputs) => applyScoringToEvents(db, model, inputs), { max: 50 });
    s = async (input) => {
      const r = await group(input);
      if ('error' in r) throw r.error;
      return r;
    };
    byModel.set(model, s);
  }
  return s;
}

const claimers = new WeakMap<Db, (event: NewEvent) => Promise<Claim>>();

/**
 * Stores events once by id, group-committed across the requests in flight: one statement for the events of a burst.
 * A statement that fails is retried event by event (db/batch.ts), so one bad event fails only its own request.
 */
function claim(db: Db): (event: NewEvent) => Promise<Claim> {
  let c = claimers.get(db);
  if (!c) claimers.set(db, (c = batched<NewEvent, Claim>((batch) => claimEvents(db, batch))));
  return c;
}

const markers = new WeakMap<Db, (id: string) => Promise<void>>();

/** Marks events routed, group-committed across the requests in flight (one statement, not one per event). */
function markRouted(db: Db): (id: string) => Promise<void> {
  let mark = markers.get(db);
  if (!mark) {
    mark = batched<string, void>(async (ids) => {
      await db.update(events).set({ routedAt: sql`now()` }).where(inArray(events.id, ids));
      return ids.map(() => undefined);
    });
    markers.set(db, mark);
  }
  return mark;
}
