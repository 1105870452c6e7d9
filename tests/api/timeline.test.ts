/**
 * A run's timeline from its history: runs on the slim shape upsert JourneyStep only where they wait and end, so a step
 * is also marked where an activity is scheduled for a step other than the last one seen — once, not per activity.
 */
import { describe, expect, it } from 'vitest';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { historyTimeline } from '../../src/runs/timeline';

type Event = temporal.api.history.v1.IHistoryEvent;
// Histories decode int64 fields as Long; historyTimeline reads plain numbers as well, which is what these are.
const history = (events: object[]) => events as Event[];

const at = (s: number) => ({ seconds: 1_700_000_000 + s, nanos: 0 });
const payloads = (v: unknown) => ({ payloads: [defaultPayloadConverter.toPayload(v) as temporal.api.common.v1.IPayload] });
const upsert = (id: number, step: string): object => ({ eventId: id, eventTime: at(id), upsertWorkflowSearchAttributesEventAttributes: { searchAttributes: { indexedFields: { JourneyStep: defaultPayloadConverter.toPayload(step) as temporal.api.common.v1.IPayload } } } });
const scheduled = (id: number, type: string, input: Record<string, unknown>): object => ({ eventId: id, eventTime: at(id), activityTaskScheduledEventAttributes: { activityType: { name: type }, input: payloads(input) } });

describe('historyTimeline steps', () => {
  it('marks the step of an activity scheduled without an upsert, once per step, and keeps upserted steps', () => {
    const events = history([
      { eventId: 1, eventTime: at(1), workflowExecutionStartedEventAttributes: {} },
      scheduled(2, 'sendEmail', { stepId: 'welcome', contactId: 'c' }),
      scheduled(3, 'callWebhook', { stepId: 'notify-crm' }),
      scheduled(4, 'callWebhook', { stepId: 'notify-crm' }),
      upsert(5, 'hold'),
      scheduled(6, 'tagContact', { stepId: 'hold' }),
      scheduled(7, 'recordArm', { splitId: 'ab' }),
    ]);
    const steps = historyTimeline('r1', events).entries.filter((e) => e.kind === 'step');
    expect(steps.map((e) => e.step)).toEqual(['welcome', 'notify-crm', 'hold']);
    expect(steps.map((e) => e.at.getTime())).toEqual([2, 3, 5].map((s) => (1_700_000_000 + s) * 1000));
  });

  it('an old-shape history (an upsert before each step) gets no extra step entries', () => {
    const events = history([upsert(1, 'welcome'), scheduled(2, 'sendEmail', { stepId: 'welcome' }), upsert(3, 'score'), scheduled(4, 'updateScore', { stepId: 'score' })]);
    expect(historyTimeline('r1', events).entries.filter((e) => e.kind === 'step').map((e) => e.step)).toEqual(['welcome', 'score']);
  });
});
