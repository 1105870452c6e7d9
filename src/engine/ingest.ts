import { eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { insertEventOnce } from '../db/queries';
import { events } from '../db/schema';
import { routeEvent, type RouterDeps } from './router';
import { applyScoringToEvent } from '../scoring/apply';
import type { ScoringModel } from '../scoring/model';

export type IncomingEvent = {
  id: string;
  type: string;
  contactId: string;
  properties: Record<string, unknown>;
  occurredAt: Date;
  /** api | tracking | scoring | system */
  source: string;
};

export type IngestDeps = {
  db: Db;
  router: RouterDeps;
  /** The lead-scoring model applied to every ingested event (journeys/scoring.yaml); none disables scoring. */
  scoring?: ScoringModel;
};

export type IngestOutcome = { id: string; duplicate: boolean; runs: string[]; notEntered?: { journeyId: string; reason: string }[] };

/**
 * The one path every event takes, whether the CRM posted it or a tracking link produced it: stored once by id, then
 * routed. A re-delivered id is reported as a duplicate and routed no further, so it cannot double-count in journeys.
 */
export async function ingestEvent(deps: IngestDeps, event: IncomingEvent): Promise<IngestOutcome> {
  const fresh = await insertEventOnce(deps.db, {
    id: event.id,
    type: event.type,
    contactId: event.contactId,
    properties: event.properties,
    occurredAt: event.occurredAt,
    source: event.source,
  });
  if (!fresh) return { id: event.id, duplicate: true, runs: [] };
  // Scoring runs before routing so a journey that branches on score sees this event's points. Events it emits
  // (lead.mql) take this same path; their ids are deterministic, so a re-delivery cannot emit twice.
  if (deps.scoring) {
    const scored = await applyScoringToEvent(deps.db, deps.scoring, {
      eventId: event.id,
      contactId: event.contactId,
      type: event.type,
      properties: event.properties,
      occurredAt: event.occurredAt,
    });
    for (const e of scored.emitted) {
      await ingestEvent(deps, { id: e.id, type: e.type, contactId: e.contactId, properties: e.properties, occurredAt: e.occurredAt, source: 'scoring' });
    }
  }
  const routed = await routeEvent(deps.router, event.contactId, {
    id: event.id,
    type: event.type,
    properties: event.properties,
    occurredAt: event.occurredAt.getTime(),
  }).catch(async (err: unknown) => {
    // Stored but not routed (Temporal or Postgres unavailable; the API answers 5xx): forget the event, so the sender's
    // retry of the same id is routed instead of being called a duplicate and dropped — a lost run, found by the chaos
    // suite. Routing again is safe: run ids are deterministic and a run ignores its own trigger arriving as a signal.
    await forgetEvent(deps.db, event.id);
    throw err;
  });
  return {
    id: event.id,
    duplicate: false,
    runs: [...routed.started.map((s) => s.workflowId), ...routed.signalled],
    ...(routed.notEntered.length ? { notEntered: routed.notEntered } : {}),
  };
}

/**
 * Deletes a stored event that was not routed. When routing failed because Postgres went away, the delete fails too:
 * it is retried for ~15 s, the length of a restart (the chaos suite lost a run to that window before). An outage longer
 * than that still leaves the event stored and unrouted; a routed-at marker on the event would close it for good.
 */
async function forgetEvent(db: Db, id: string): Promise<void> {
  for (let delayMs = 250; ; delayMs *= 2) {
    try {
      await db.delete(events).where(eq(events.id, id));
      return;
    } catch {
      if (delayMs > 8000) return;
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}
