/**
 * Test-only: a compiled plan whose journey time runs `factor` times faster, so the differential suite
 * (tests/differential) can run a journey of days through the real workflow in seconds. Never used by the API, the
 * CLI or the worker; a published plan is only ever scaled when a test compiled it so.
 *
 * Every duration in the plan is divided by `factor`: wait durations and until_date offsets, wait_for_event timeouts
 * and lookbacks, goal windows, "event seen within" windows, relative date tests (`before: -7d`), retention, the
 * event lookback, frequency-cap windows, the re-entry period, hand-off task due times and SLAs. Not scaled, because
 * they are not journey time: a webhook's HTTP timeout (a real request still needs real time), and the calendar —
 * quiet hours, send windows, `until_time` and the dates an `until_date` reads from a contact — which the suite
 * compares through the timers the run records instead.
 */
import { assertNever, type JourneyPlan, type PlanCondition, type PlanFilter, type PlanStep, type PlanTest } from '../plan';

/** A positive duration stays at least 1 ms (a 0 stays 0: `lookback: 0s` keeps meaning "no lookback"). */
function shrink(ms: number, factor: number): number {
  if (ms === 0) return 0;
  const v = Math.round(ms / factor);
  return v === 0 ? Math.sign(ms) : v;
}

function scaleTest(t: PlanTest, f: number): PlanTest {
  if ((t.op === 'before' || t.op === 'after') && 'rel' in t.value) return { op: t.op, value: { rel: shrink(t.value.rel, f) } };
  return t;
}

const scaleFilters = (fs: PlanFilter[], f: number): PlanFilter[] => fs.map((x) => ({ ...x, tests: x.tests.map((t) => scaleTest(t, f)) }));

function scaleCondition(c: PlanCondition, f: number): PlanCondition {
  switch (c.op) {
    case 'all':
    case 'any':
      return { op: c.op, of: c.of.map((x) => scaleCondition(x, f)) };
    case 'not':
      return { op: 'not', of: scaleCondition(c.of, f) };
    case 'field':
      return { ...c, tests: c.tests.map((t) => scaleTest(t, f)) };
    case 'tag':
      return c;
    case 'event':
      return { ...c, where: scaleFilters(c.where, f), withinMs: shrink(c.withinMs, f) };
    default:
      return assertNever(c, 'condition');
  }
}

function scaleStep(s: PlanStep, f: number): PlanStep {
  switch (s.type) {
    case 'wait': {
      const w = s.wait;
      if (w.mode === 'duration') return { ...s, wait: { ...w, ms: shrink(w.ms, f) } };
      if (w.mode === 'until_date') return { ...s, wait: { ...w, offsetMs: shrink(w.offsetMs, f) } };
      return s;
    }
    case 'wait_for_event':
      return { ...s, where: scaleFilters(s.where, f), timeoutMs: shrink(s.timeoutMs, f), lookbackMs: shrink(s.lookbackMs, f) };
    case 'branch':
      return { ...s, conditions: s.conditions.map((c) => ({ ...c, when: scaleCondition(c.when, f) })) };
    case 'handoff_to_sales': {
      const a = s.assignment;
      return {
        ...s,
        ...(a.strategy === 'territory' ? { assignment: { ...a, rules: a.rules.map((r) => ({ ...r, when: scaleCondition(r.when, f) })) } } : {}),
        ...(s.task ? { task: { ...s.task, dueMs: shrink(s.task.dueMs, f) } } : {}),
        ...(s.sla ? { sla: { ...s.sla, afterMs: shrink(s.sla.afterMs, f) } } : {}),
      };
    }
    case 'send_email':
    case 'send_sms':
    case 'webhook':
    case 'notify':
    case 'split':
    case 'update_score':
    case 'tag':
    case 'untag':
    case 'set_attribute':
    case 'set_lifecycle_stage':
    case 'goal':
    case 'exit':
      return s;
    default:
      return assertNever(s, 'step');
  }
}

/** The plan with journey time `factor` times faster (see the file comment for what is and is not scaled). */
export function scalePlanTime(plan: JourneyPlan, factor: number): JourneyPlan {
  if (!Number.isFinite(factor) || factor <= 0) throw new Error(`timeScale must be a positive number (got ${factor})`);
  const f = factor;
  const { settings } = plan;
  const caps: JourneyPlan['settings']['frequencyCaps'] = {};
  for (const [channel, cap] of Object.entries(settings.frequencyCaps)) caps[channel as keyof typeof caps] = { ...cap, perMs: shrink(cap.perMs, f) };
  return {
    ...plan,
    triggers: plan.triggers.map((t) => {
      switch (t.type) {
        case 'event':
          return { ...t, where: scaleFilters(t.where, f) };
        case 'audience':
          return { ...t, filter: scaleCondition(t.filter, f) };
        case 'schedule':
          return t.audience ? { ...t, audience: scaleCondition(t.audience, f) } : t;
        case 'change':
          return t;
        case 'date':
          // A calendar feature (a contact's date at a local time): not scaled; its audience's relative dates are.
          return t.audience ? { ...t, audience: scaleCondition(t.audience, f) } : t;
        default:
          return assertNever(t, 'trigger');
      }
    }),
    entry: plan.entry.reEntryAfterMs !== undefined ? { ...plan.entry, reEntryAfterMs: shrink(plan.entry.reEntryAfterMs, f) } : plan.entry,
    exitRules: plan.exitRules.map((r) => (r.kind === 'event' ? { ...r, where: scaleFilters(r.where, f) } : { ...r, when: scaleCondition(r.when, f) })),
    goals: plan.goals.map((g) => ({
      ...g,
      where: scaleFilters(g.where, f),
      ...(g.when ? { when: scaleCondition(g.when, f) } : {}),
      ...(g.withinMs !== undefined ? { withinMs: shrink(g.withinMs, f) } : {}),
    })),
    settings: { ...settings, frequencyCaps: caps, eventLookbackMs: shrink(settings.eventLookbackMs, f) },
    steps: Object.fromEntries(Object.entries(plan.steps).map(([id, s]) => [id, scaleStep(s, f)])),
    retention: { ...plan.retention, ms: shrink(plan.retention.ms, f) },
  };
}
