import { describe, expect, it } from 'vitest';
import { bulkProgressLine, formatDuration, formatTable, replayLines, runsTable, showRun, stuckCell, timelineLines, type RunDetail, type RunItem } from '../../src/cli/runs';

const NOW = Date.parse('2025-03-04T10:00:00Z');

const run = (over: Partial<RunItem> = {}): RunItem => ({
  workflowId: 'journey:welcome:c1',
  journeyId: 'welcome',
  version: 2,
  currentStep: 'send-welcome',
  status: 'running',
  startedAt: '2025-03-04T09:00:00.000Z',
  updatedAt: '2025-03-04T09:45:30.000Z',
  ...over,
});

describe('itinera runs: formatting', () => {
  it('formats durations with the largest unit and the next when it is not zero', () => {
    expect(formatDuration(450)).toBe('450ms');
    expect(formatDuration(40_000)).toBe('40s');
    expect(formatDuration(14 * 60_000 + 30_000)).toBe('14m30s');
    expect(formatDuration(2 * 3_600_000)).toBe('2h');
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000 + 59_000)).toBe('3d4h');
    expect(formatDuration(-5)).toBe('0ms');
  });

  it('aligns table columns and clips long cells', () => {
    const t = formatTable(['A', 'LONGER'], [['xyz', '1'], ['q', '22']]);
    expect(t.split('\n')).toEqual(['A    LONGER', 'xyz  1', 'q    22']);
    expect(formatTable(['X'], [['a'.repeat(60)]], 10).split('\n')[1]).toBe(`${'a'.repeat(9)}…`);
  });

  it('lists runs with journey@version, time in step and, for stuck runs, why', () => {
    const stuck = run({
      workflowId: 'journey:hook:c2',
      currentStep: 'call',
      stuck: { reasons: ['activity_retrying'], pendingActivity: { activityType: 'callWebhook', attempt: 4, maximumAttempts: 11, state: 'scheduled', lastFailure: 'HTTP 500', nextAttemptAt: null } },
    });
    const late = run({ workflowId: 'journey:wait:c3', currentStep: 'hold', stuck: { reasons: ['overdue'], pendingActivity: null } });
    const lines = runsTable([stuck, late, run({ status: 'completed' })], NOW, { stuck: true }).split('\n');
    expect(lines[0]).toMatch(/^WORKFLOW ID\s+JOURNEY\s+STEP\s+STATUS\s+STARTED\s+IN STEP\s+STUCK$/);
    expect(lines[1]).toMatch(/^journey:hook:c2\s+welcome@2\s+call\s+running\s+2025-03-04 09:00:00\s+14m30s\s+callWebhook attempt 4\/11$/);
    expect(lines[2]).toMatch(/hold\s+running\s+.*\s+overdue$/);
    expect(lines[3]).toMatch(/completed\s+2025-03-04 09:00:00\s+-$/);
    expect(runsTable([run()], NOW).split('\n')[0]).not.toContain('STUCK');
    expect(stuckCell({ reasons: ['activity_retrying', 'overdue'], pendingActivity: { activityType: 'sendEmail', attempt: 7, maximumAttempts: 0, state: 'started', lastFailure: null, nextAttemptAt: null } })).toBe(
      'sendEmail attempt 7, overdue',
    );
  });

  it('prints a run with its pending activity and timeline', () => {
    const d: RunDetail = {
      ...run({ currentStep: 'call' }),
      contactId: '00000000-0000-4000-8000-000000000001',
      endedAt: null,
      temporal: { runId: 'r1', status: 'RUNNING', historyLength: 17 },
      pendingActivities: [{ activityType: 'callWebhook', attempt: 3, maximumAttempts: 11, state: 'scheduled', lastFailure: 'webhook: HTTP 500: down', nextAttemptAt: '2025-03-04T10:00:08.000Z' }],
      timeline: [
        { at: '2025-03-04T09:00:00.000Z', runId: 'r1', kind: 'started' },
        { at: '2025-03-04T09:00:00.010Z', runId: 'r1', kind: 'signal', signal: 'journeyEvent', eventType: 'order.placed', eventId: 'e1' },
        { at: '2025-03-04T09:00:00.020Z', runId: 'r1', kind: 'step', step: 'call' },
        { at: '2025-03-04T09:00:00.030Z', runId: 'r1', kind: 'activity_scheduled', activityType: 'callWebhook', step: 'call' },
        { at: '2025-03-04T09:00:05.000Z', runId: 'r1', kind: 'activity_completed', activityType: 'callWebhook', attempt: 3 },
        { at: '2025-03-04T09:00:06.000Z', runId: 'r1', kind: 'timer_started', timerId: '1', fireAt: '2025-03-04T10:00:06.000Z' },
        { at: '2025-03-04T09:00:07.000Z', runId: 'r1', kind: 'terminated', reason: 'stuck' },
      ],
      timelineTruncated: false,
    };
    const out = showRun(d, NOW);
    expect(out).toContain('journey   welcome@2');
    expect(out).toContain('status    running (Temporal: RUNNING, 17 events)');
    expect(out).toContain('callWebhook attempt 3/11 (scheduled), next attempt 2025-03-04 10:00:08.000');
    expect(out).toContain('last failure: webhook: HTTP 500: down');
    expect(timelineLines(d.timeline)).toEqual([
      '2025-03-04 09:00:00.000  started             run r1',
      '2025-03-04 09:00:00.010  signal              journeyEvent order.placed (e1)',
      '2025-03-04 09:00:00.020  step                → call',
      '2025-03-04 09:00:00.030  activity_scheduled  callWebhook (call)',
      '2025-03-04 09:00:05.000  activity_completed  callWebhook after 3 attempts',
      '2025-03-04 09:00:06.000  timer_started       timer 1 fires 2025-03-04 10:00:06.000',
      '2025-03-04 09:00:07.000  terminated          stuck',
    ]);
  });

  it('draws bulk progress and replay reports', () => {
    const p = { action: 'cancel', dryRun: false, total: 200, scanned: 100, matched: 100, succeeded: 98, skipped: 2, failed: 0 };
    expect(bulkProgressLine(p, 10)).toBe('[█████░░░░░] 50% 100/200 scanned · 98 cancelled · 2 skipped · 0 failed');
    expect(bulkProgressLine({ ...p, action: 'migrate' }, 10)).toBe('[█████░░░░░] 50% 100/200 scanned · 98 migrated · 2 skipped · 0 failed');
    expect(bulkProgressLine({ ...p, action: 'terminate', dryRun: true, total: 0 })).toBe('100 scanned · 100 would be terminated');
    const lines = replayLines({
      journeyId: 'welcome',
      results: [
        { workflowId: 'w1', version: 1, status: 'ok' },
        { workflowId: 'w2', version: 1, status: 'nondeterministic', error: '[TMPRL1100] Nondeterminism error: activity type mismatch\nmore detail' },
      ],
      totals: { ok: 1, nondeterministic: 1, failed: 0, unavailable: 0, notReplayed: 0 },
      timedOut: false,
    });
    expect(lines).toEqual(['✓ w1 v1 ok', '✗ w2 v1 nondeterministic: [TMPRL1100] Nondeterminism error: activity type mismatch', '1 ok, 1 nondeterministic, 0 failed, 0 unavailable']);
  });
});
