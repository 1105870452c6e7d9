/**
 * A run's timeline from its Temporal history: steps, activities (with attempts and errors), timers with their fire
 * time, signals, cancellation and the end — picked field by field, since activity inputs carry contact data and
 * rendered content. Followed back through continue-as-new.
 */
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal as proto } from '@temporalio/proto';
import { durationMs, failureMessage, tsToDate } from './inspect';

export const TIMELINE_KINDS = [
  'started',
  'step',
  'activity_scheduled',
  'activity_completed',
  'activity_failed',
  'activity_timed_out',
  'activity_cancelled',
  'timer_started',
  'timer_fired',
  'timer_cancelled',
  'signal',
  'update',
  'cancel_requested',
  'continued_as_new',
  'completed',
  'failed',
  'cancelled',
  'terminated',
  'timed_out',
] as const;
export type TimelineKind = (typeof TIMELINE_KINDS)[number];

export type TimelineEntry = {
  at: Date;
  runId: string;
  kind: TimelineKind;
  step?: string;
  activityType?: string;
  attempt?: number;
  error?: string;
  timerId?: string;
  fireAt?: Date;
  signal?: string;
  eventType?: string;
  eventId?: string;
  reason?: string;
  /** A repair's update name (skipWait, moveToStep, migrateVersion). */
  update?: string;
  /** Who asked for a repair or a cancellation (the API key's name). */
  by?: string;
};

/** The identity prefix of requests the API makes on someone's behalf. */
export const ACTOR_PREFIX = 'itinera:';

/** History runs walked back through continue-as-new, and timeline entries kept (the newest). */
const MAX_CHAIN = 5;
const MAX_TIMELINE = 500;

type HistoryEvent = proto.api.history.v1.IHistoryEvent;

function decode(payload: proto.api.common.v1.IPayload | null | undefined): unknown {
  if (!payload) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(payload as never);
  } catch {
    return undefined;
  }
}

/** Only named fields of an activity's or signal's first argument: inputs carry contact data and rendered content. */
function pick(payloads: proto.api.common.v1.IPayloads | null | undefined, key: string): string | undefined {
  const v = decode(payloads?.payloads?.[0]);
  if (typeof v !== 'object' || v === null) return undefined;
  const x = (v as Record<string, unknown>)[key];
  return typeof x === 'string' ? x : undefined;
}

/** Builds the timeline of one run's history: what ops need to see, picked field by field. */
export function historyTimeline(runId: string, events: HistoryEvent[]): { entries: TimelineEntry[]; continuedFrom?: string } {
  const entries: TimelineEntry[] = [];
  const scheduled = new Map<string, { type: string; step?: string }>();
  const started = new Map<string, { attempt: number }>();
  const timers = new Map<string, string>();
  let continuedFrom: string | undefined;
  // Runs upsert the JourneyStep search attribute where they wait and end, not at every step (the step journal has each
  // entry): an activity scheduled for another step than the last one seen marks that step too.
  let lastStep: string | undefined;
  for (const e of events) {
    const at = tsToDate(e.eventTime) ?? new Date(0);
    const id = String(e.eventId ?? '');
    const base = { at, runId };
    if (e.workflowExecutionStartedEventAttributes) {
      const a = e.workflowExecutionStartedEventAttributes;
      continuedFrom = a.continuedExecutionRunId || undefined;
      entries.push({ ...base, kind: 'started', ...(a.attempt ? { attempt: a.attempt } : {}) });
    } else if (e.upsertWorkflowSearchAttributesEventAttributes) {
      const step = decode(e.upsertWorkflowSearchAttributesEventAttributes.searchAttributes?.indexedFields?.JourneyStep);
      if (typeof step === 'string') {
        entries.push({ ...base, kind: 'step', step });
        lastStep = step;
      }
    } else if (e.activityTaskScheduledEventAttributes) {
      const a = e.activityTaskScheduledEventAttributes;
      const type = a.activityType?.name ?? '';
      const step = pick(a.input, 'stepId') ?? pick(a.input, 'currentStep');
      scheduled.set(id, { type, ...(step ? { step } : {}) });
      if (step && step !== lastStep) {
        entries.push({ ...base, kind: 'step', step });
        lastStep = step;
      }
      entries.push({ ...base, kind: 'activity_scheduled', activityType: type, ...(step ? { step } : {}) });
    } else if (e.activityTaskStartedEventAttributes) {
      started.set(id, { attempt: e.activityTaskStartedEventAttributes.attempt ?? 1 });
    } else if (e.activityTaskCompletedEventAttributes || e.activityTaskFailedEventAttributes || e.activityTaskTimedOutEventAttributes || e.activityTaskCanceledEventAttributes) {
      const a = (e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes ?? e.activityTaskCanceledEventAttributes)!;
      const s = scheduled.get(String(a.scheduledEventId ?? ''));
      const attempt = started.get(String(a.startedEventId ?? ''))?.attempt;
      const kind = e.activityTaskCompletedEventAttributes
        ? 'activity_completed'
        : e.activityTaskFailedEventAttributes
          ? 'activity_failed'
          : e.activityTaskTimedOutEventAttributes
            ? 'activity_timed_out'
            : 'activity_cancelled';
      const failure = e.activityTaskFailedEventAttributes?.failure ?? e.activityTaskTimedOutEventAttributes?.failure;
      const error = failureMessage(failure);
      entries.push({
        ...base,
        kind,
        ...(s ? { activityType: s.type, ...(s.step ? { step: s.step } : {}) } : {}),
        ...(attempt ? { attempt } : {}),
        ...(error ? { error } : {}),
      });
    } else if (e.timerStartedEventAttributes) {
      const a = e.timerStartedEventAttributes;
      const timerId = a.timerId ?? '';
      timers.set(timerId, timerId);
      entries.push({ ...base, kind: 'timer_started', timerId, fireAt: new Date(at.getTime() + durationMs(a.startToFireTimeout)) });
    } else if (e.timerFiredEventAttributes) {
      entries.push({ ...base, kind: 'timer_fired', timerId: e.timerFiredEventAttributes.timerId ?? '' });
    } else if (e.timerCanceledEventAttributes) {
      entries.push({ ...base, kind: 'timer_cancelled', timerId: e.timerCanceledEventAttributes.timerId ?? '' });
    } else if (e.workflowExecutionSignaledEventAttributes) {
      const a = e.workflowExecutionSignaledEventAttributes;
      const eventType = pick(a.input, 'type');
      const eventId = pick(a.input, 'id');
      entries.push({ ...base, kind: 'signal', signal: a.signalName ?? '', ...(eventType ? { eventType } : {}), ...(eventId ? { eventId } : {}) });
    } else if (e.workflowExecutionUpdateAcceptedEventAttributes) {
      // Repairs are updates whose first argument names who asked (src/runs/repair.ts).
      const input = e.workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest?.input;
      const by = pick(input?.args, 'by');
      entries.push({ ...base, kind: 'update', update: input?.name ?? '', ...(by ? { by } : {}) });
    } else if (e.workflowExecutionCancelRequestedEventAttributes) {
      const a = e.workflowExecutionCancelRequestedEventAttributes;
      const reason = a.cause || undefined;
      // Cancellations the API asks for carry `itinera:<key name>` as their identity (cancelRun).
      const by = a.identity?.startsWith(ACTOR_PREFIX) ? a.identity.slice(ACTOR_PREFIX.length) : undefined;
      entries.push({ ...base, kind: 'cancel_requested', ...(reason ? { reason } : {}), ...(by ? { by } : {}) });
    } else if (e.workflowExecutionContinuedAsNewEventAttributes) {
      entries.push({ ...base, kind: 'continued_as_new' });
    } else if (e.workflowExecutionCompletedEventAttributes) {
      entries.push({ ...base, kind: 'completed' });
    } else if (e.workflowExecutionFailedEventAttributes) {
      const error = failureMessage(e.workflowExecutionFailedEventAttributes.failure);
      entries.push({ ...base, kind: 'failed', ...(error ? { error } : {}) });
    } else if (e.workflowExecutionCanceledEventAttributes) {
      entries.push({ ...base, kind: 'cancelled' });
    } else if (e.workflowExecutionTerminatedEventAttributes) {
      const reason = e.workflowExecutionTerminatedEventAttributes.reason || undefined;
      entries.push({ ...base, kind: 'terminated', ...(reason ? { reason } : {}) });
    } else if (e.workflowExecutionTimedOutEventAttributes) {
      entries.push({ ...base, kind: 'timed_out' });
    }
  }
  return { entries, ...(continuedFrom ? { continuedFrom } : {}) };
}

/** The timeline across continue-as-new, oldest first, at most MAX_CHAIN runs and MAX_TIMELINE entries (the newest). */
export async function runTimeline(client: Client, workflowId: string, runId: string): Promise<{ entries: TimelineEntry[]; truncated: boolean }> {
  const chunks: TimelineEntry[][] = [];
  let next: string | undefined = runId;
  let truncated = false;
  for (let i = 0; next; i++) {
    if (i >= MAX_CHAIN) {
      truncated = true;
      break;
    }
    const history = await client.workflow.getHandle(workflowId, next).fetchHistory();
    const t = historyTimeline(next, history.events ?? []);
    chunks.unshift(t.entries);
    next = t.continuedFrom;
  }
  const all = chunks.flat();
  if (all.length > MAX_TIMELINE) truncated = true;
  return { entries: all.slice(-MAX_TIMELINE), truncated };
}
