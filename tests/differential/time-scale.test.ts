import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileJourney, compileOrThrow } from '../../src/journey/compiler';
import type { PlanStep } from '../../src/journey/plan';

/** CompileOptions.timeScale: every duration of the plan divided, the calendar and HTTP timeouts left alone. */
describe('CompileOptions.timeScale (test-only)', () => {
  const source = `
id: scaled
name: Scaled
triggers: [{ type: event, event: a.b, where: { at: { after: -2d } } }]
entry: { re_entry: { after: 30d } }
exit: [{ when: { event: x.y, within: 4d }, reason: seen }]
goals: [{ id: g, event: g.h, within: 10d }]
settings:
  timezone: Asia/Shanghai
  quiet_hours: { start: "21:00", end: "08:00" }
  frequency_caps: { email: { max: 2, per: 7d } }
  event_lookback: 1h
steps:
  w: { type: wait, duration: 2d, next: d }
  d: { type: wait, until_date: { field: journey.entered_at, offset: 7d }, next: t }
  t: { type: wait, until_time: { time: "10:00" }, next: e }
  e: { type: wait_for_event, event: c.d, timeout: 1d, lookback: 0s, on_event: h, on_timeout: h }
  h: { type: webhook, url: "https://crm.example.com/x", timeout: 10s, next: s }
  s: { type: handoff_to_sales, assignment: { strategy: round_robin, team: east }, task: { title: Call, due: 1d }, sla: { after: 2h }, next: x }
  x: { type: exit }
`;
  const step = <T extends PlanStep['type']>(p: { steps: Record<string, PlanStep> }, id: string) => p.steps[id] as Extract<PlanStep, { type: T }>;

  it('divides waits, timeouts, lookbacks, windows, caps, re-entry and hand-off times; leaves the calendar and HTTP timeouts', () => {
    const plain = compileOrThrow(source);
    const p = compileOrThrow(source, { timeScale: 86_400 }); // a day becomes a second
    expect(step<'wait'>(p, 'w').wait).toEqual({ mode: 'duration', ms: 2000 });
    expect(step<'wait'>(p, 'd').wait).toMatchObject({ mode: 'until_date', offsetMs: 7000 });
    expect(step<'wait'>(p, 't').wait).toEqual(step<'wait'>(plain, 't').wait);
    expect(step<'wait_for_event'>(p, 'e')).toMatchObject({ timeoutMs: 1000, lookbackMs: 0 });
    expect(step<'webhook'>(p, 'h').timeoutMs).toBe(10_000);
    expect(step<'handoff_to_sales'>(p, 's')).toMatchObject({ task: { dueMs: 1000 }, sla: { afterMs: 83 } });
    expect(p.goals[0]!.withinMs).toBe(10_000);
    expect(p.exitRules[0]).toMatchObject({ when: { withinMs: 4000 } });
    expect(p.triggers[0]).toMatchObject({ where: [{ tests: [{ op: 'after', value: { rel: -2000 } }] }] });
    expect(p.entry.reEntryAfterMs).toBe(30_000);
    expect(p.settings.frequencyCaps.email!.perMs).toBe(7000);
    expect(p.settings.eventLookbackMs).toBe(42);
    expect(p.settings.quietHours).toEqual(plain.settings.quietHours);
    expect(p.retention.ms).toBe(Math.round(plain.retention.ms / 86_400));
  });

  it('is off by default, and refuses a factor that is not a positive number', () => {
    expect(compileOrThrow(source, { timeScale: 1 })).toEqual(compileOrThrow(source));
    expect(() => compileJourney(readFileSync('journeys/new-lead-nurture.yaml', 'utf8'), { timeScale: 0 })).toThrow(/timeScale must be a positive number/);
  });
});
