import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { PlanEntry, PlanFilter, PlanTrigger } from '../journey/plan';
import { canEnter, entryKeyOf, reachesKeyedRun, type EntryHistory } from '../journey/entry';
import type { EntryCaps } from '../db/entry-caps';
import { matchesFilters } from '../journey/conditions';
import { ContactIdKey, journeyEventSignal, type JourneyEventSignal, JourneyIdKey, JourneyStepKey, JourneyVersionKey, journeyWorkflowId, type JourneyWorkflowInput, WorkflowType } from '../contracts';

/** A published journey version that starts on an event type. */
export type EventTrigger = {
  journeyId: string;
  version: number;
  eventType: string;
  where?: PlanFilter[];
  entry?: PlanEntry;
  /** settings.unknown_contact: whether an event for a CRM id we do not know may create the contact. @default 'reject' */
  unknownContact?: 'reject' | 'create';
};

/** A published version that starts on contact changes: a `change` trigger or an enter-on-match `audience` trigger. */
export type ContactTrigger = {
  journeyId: string;
  version: number;
  trigger: Extract<PlanTrigger, { type: 'change' | 'audience' }>;
  entry?: PlanEntry;
};

export interface TriggerSource {
  triggersFor(eventType: string): Promise<EventTrigger[]>;
  /** Change and audience triggers of live journeys (src/ingest/contact-routing.ts); a source without it starts none. */
  contactTriggers?(): Promise<ContactTrigger[]>;
}

export type RouteResult = {
  started: { journeyId: string; workflowId: string }[];
  signalled: string[];
  notEntered: { journeyId: string; reason: string }[];
};

export type RouterDeps = {
  temporal: Client;
  taskQueue: string;
  triggers: TriggerSource;
  /** Workflow ids of the contact's running runs (from the run projection). */
  runningRuns?: (contactId: string) => Promise<string[]>;
  /** Past and active runs of a journey for a contact (of one key, for keyed journeys), for the re-entry rules. */
  entryHistory?: (journeyId: string, contactId: string, entryKey?: string) => Promise<EntryHistory>;
  /** The contact's running runs of keyed journeys (entry.key), so an event reaches only the run of its key. */
  keyedRuns?: (contactId: string) => Promise<{ workflowId: string; entryKey: string; keyPath: string[]; keyedTypes: string[] }[]>;
  /** Entry caps (entry.cap); required once a journey declares one. */
  entryCaps?: EntryCaps;
};

/**
 * Starts the journeys an event triggers. `signalWithStart` both starts a run and delivers the event atomically, and
 * because the workflow id is deterministic a duplicate trigger reaches the running run instead of starting another.
 */
export async function routeEvent(deps: RouterDeps, contactId: string, event: JourneyEventSignal): Promise<RouteResult> {
  const started: RouteResult['started'] = [];
  const notEntered: RouteResult['notEntered'] = [];
  // Read alongside the triggers (the runs started below are told apart by id, not by read order).
  const running = deps.runningRuns?.(contactId) ?? Promise.resolve([]);
  running.catch(() => undefined); // awaited below; this only keeps an early throw from leaving it unhandled
  const keyed = deps.keyedRuns?.(contactId) ?? Promise.resolve([]);
  keyed.catch(() => undefined);
  for (const trigger of await deps.triggers.triggersFor(event.type)) {
    if (trigger.where && !matchesFilters(trigger.where, event.properties, event.occurredAt)) continue;
    const entry = trigger.entry ?? { reEntry: 'once', maxConcurrent: 1 };
    // A keyed journey (entry.key) runs once per key: the rules below and the run's id are the key's.
    const entryKey = entry.key ? entryKeyOf(entry.key, event) : undefined;
    if (entry.key && entryKey === undefined) {
      notEntered.push({ journeyId: trigger.journeyId, reason: 'missing_key' });
      continue;
    }
    const r = await enterJourney(deps, { journeyId: trigger.journeyId, version: trigger.version, entry }, contactId, event, entryKey);
    if (r.started) started.push({ journeyId: trigger.journeyId, workflowId: r.workflowId });
    else if (r.reason) notEntered.push({ journeyId: trigger.journeyId, reason: r.reason });
  }
  // Every other running run of the contact gets the event too (waits, exit rules and goals all listen for events),
  // all signals at once rather than one round trip after another.
  const startedIds = new Set(started.map((s) => s.workflowId));
  // A keyed run hears the events of its own key: deal B's update must not reset deal A's wait. An event without a key
  // is judged by its type: one of the types the journey enters on (a deal's event) reaches no keyed run, any other (an
  // unsubscribe, a contact change: the contact's, not a deal's) reaches every run of the contact.
  const otherKey = new Set(
    (await keyed).filter((k) => !reachesKeyedRun(k.keyPath, k.keyedTypes, k.entryKey, event)).map((k) => k.workflowId),
  );
  const targets = (await running).filter((id) => !startedIds.has(id) && !otherKey.has(id));
  const delivered = await Promise.all(
    targets.map(async (workflowId) => {
      try {
        await deps.temporal.workflow.getHandle(workflowId).signal(journeyEventSignal, event);
        return true;
      } catch (err) {
        // The projection can lag a run that just ended; that run no longer needs the event.
        if ((err as Error).name !== 'WorkflowNotFoundError') throw err;
        return false;
      }
    }),
  );
  const signalled = targets.filter((_, i) => delivered[i]);
  return { started, signalled, notEntered };
}

/**
 * A trigger fired for a contact: the journey's re-entry rules (of the key, for a keyed journey) decide, then the run
 * starts. No reason when a running run of a single-entry journey exists: it receives the event as a running run, which
 * is not a new entry.
 */
export async function enterJourney(
  deps: Pick<RouterDeps, 'temporal' | 'taskQueue' | 'entryCaps' | 'entryHistory'>,
  journey: { journeyId: string; version: number; entry: PlanEntry },
  contactId: string,
  event: JourneyEventSignal,
  entryKey?: string,
): Promise<{ started: true; workflowId: string } | { started: false; reason?: string }> {
  const { journeyId, version, entry } = journey;
  const history = (await deps.entryHistory?.(journeyId, contactId, entryKey)) ?? { activeRuns: 0 };
  if (entry.reEntry !== 'always' && history.activeRuns > 0) return { started: false };
  const decision = canEnter(entry, history, event.occurredAt);
  if (!decision.enter) return { started: false, reason: decision.reason };
  const r = await startJourneyRun(deps, { journeyId, version, entry, contactId, event, ...(entryKey !== undefined ? { entryKey } : {}) });
  return r.started ? r : { started: false, reason: r.reason };
}

/**
 * Starts one run whose entry rules already passed. `always` gives every entry its own id (keyed by the triggering
 * event); the others share one id per contact, and Temporal's id-reuse policy backs the database check: a `once`
 * journey can never start a second time, and a duplicate start finds the run instead of making another.
 */
export async function startJourneyRun(
  deps: Pick<RouterDeps, 'temporal' | 'taskQueue' | 'entryCaps'>,
  run: { journeyId: string; version: number; entry: PlanEntry; contactId: string; event: JourneyEventSignal; entryKey?: string; memo?: Record<string, unknown> },
): Promise<{ started: true; workflowId: string } | { started: false; reason: string; workflowId: string }> {
  const always = run.entry.reEntry === 'always';
  const workflowId = journeyWorkflowId(run.journeyId, run.contactId, always ? run.event.id : run.entryKey);
  const input: JourneyWorkflowInput = {
    v: 1,
    journeyId: run.journeyId,
    version: run.version,
    contactId: run.contactId,
    trigger: run.event,
    ...(run.entryKey !== undefined ? { entryKey: run.entryKey } : {}),
  };
  // Caps are claimed after the re-entry rules passed, and given back when Temporal refuses the start.
  let claimed: string[] = [];
  if (run.entry.cap) {
    if (!deps.entryCaps) throw new Error(`journey ${run.journeyId} has entry caps but this router has no database to count them in`);
    const claim = await deps.entryCaps.claim(run.journeyId, run.entry.cap, Date.now());
    if (!claim.ok) return { started: false, reason: claim.reason, workflowId };
    claimed = claim.buckets;
  }
  const release = () => (claimed.length > 0 ? deps.entryCaps!.release(run.journeyId, claimed) : Promise.resolve());
  try {
    await deps.temporal.workflow.signalWithStart(WorkflowType.Journey, {
      workflowId,
      taskQueue: deps.taskQueue,
      args: [input],
      signal: journeyEventSignal,
      signalArgs: [run.event],
      workflowIdReusePolicy: run.entry.reEntry === 'once' || always ? 'REJECT_DUPLICATE' : 'ALLOW_DUPLICATE',
      ...(run.memo ? { memo: run.memo } : {}),
      typedSearchAttributes: [
        { key: JourneyIdKey, value: run.journeyId },
        { key: JourneyVersionKey, value: run.version },
        { key: ContactIdKey, value: run.contactId },
        { key: JourneyStepKey, value: 'start' },
      ],
    });
  } catch (err) {
    await release();
    // The id was used by a run that has ended (the projection had not caught up): the rule says no.
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return { started: false, reason: `already entered (re_entry: ${run.entry.reEntry})`, workflowId };
  }
  return { started: true, workflowId };
}
