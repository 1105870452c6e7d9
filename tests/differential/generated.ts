/**
 * Small valid journeys generated with fast-check: a few steps of wait, wait_for_event, branch on a field or a tag,
 * tag, untag, set_attribute, update_score, send_email (an existing template) and exit, with an optional goal and exit
 * rule. Every reference points forward, so there is no loop (with or without a wait) and every journey compiles.
 */
import fc from 'fast-check';

const TEMPLATES = ['welcome', 'webinar-replay', 'product-a-case-study'];

type Step = Record<string, unknown> & { type: string };

/** `n` steps s0 … s(n-1), then the exits; `pick(i)` chooses a step after i or an exit. */
function stepArb(i: number, n: number): fc.Arbitrary<Step> {
  // Mostly the next step, so journeys are as long as generated rather than ending at the first exit.
  const anyLater = fc.constantFrom(...[...Array.from({ length: n - i - 1 }, (_, k) => `s${i + k + 1}`), 'done', 'stopped']);
  const later = i + 1 < n ? fc.oneof({ weight: 3, arbitrary: fc.constant(`s${i + 1}`) }, { weight: 2, arbitrary: anyLater }) : anyLater;
  const days = fc.integer({ min: 1, max: 3 }).map((d) => `${d}d`);
  const waitForEvent = fc.record({
    type: fc.constant('wait_for_event'),
    event: fc.constantFrom('gen.signal', 'gen.other'),
    where: fc.option(fc.record({ kind: fc.constantFrom('a', 'b') }), { nil: undefined }),
    timeout: days,
    on_event: later,
    on_timeout: later,
  });
  return fc.oneof(
    // Event waits are where the timeline matters: more of them.
    waitForEvent,
    waitForEvent,
    fc.record({ type: fc.constant('wait'), duration: days, next: later }),
    fc.record({
      type: fc.constant('branch'),
      conditions: fc.tuple(
        fc.oneof(
          fc.record({ field: fc.constant('industry'), in: fc.subarray(['retail', 'energy', 'media'], { minLength: 1 }) }),
          fc.record({ tag: fc.constantFrom('vip', 'gen-tagged') }),
          fc.record({ field: fc.constant('attributes.plan'), eq: fc.constantFrom('pro', 'free') }),
          fc.record({ field: fc.constant('score'), gte: fc.constantFrom(5, 10) }),
        ),
        later,
      ).map(([when, next]) => [{ when, next }]),
      else: later,
    }),
    fc.record({ type: fc.constant('tag'), tags: fc.constantFrom(['gen-tagged'], ['vip'], ['gen-tagged', 'other']), next: later }),
    fc.record({ type: fc.constant('untag'), tags: fc.constantFrom(['vip'], ['gen-tagged']), next: later }),
    // Built-in fields too (`industry`, which a branch above reads): production writes the column, as the simulator sets the
    // field (this suite found production writing attributes.industry instead).
    fc.record({ type: fc.constant('set_attribute'), field: fc.constantFrom('attributes.plan', 'attributes.stage_seen', 'industry'), value: fc.constantFrom('pro', 'free', 'retail'), next: later }),
    fc.record({ type: fc.constant('update_score'), delta: fc.constantFrom(5, -3, 10), reason: fc.constant('generated'), next: later }),
    fc.record({ type: fc.constant('send_email'), template: fc.constantFrom(...TEMPLATES), next: later }),
  ) as fc.Arbitrary<Step>;
}

export interface GeneratedJourney {
  id: string;
  source: object;
}

export function journeyArb(index: number): fc.Arbitrary<GeneratedJourney> {
  return fc.integer({ min: 3, max: 7 }).chain((n) =>
    fc.record({
      steps: fc.tuple(...Array.from({ length: n }, (_, i) => stepArb(i, n))),
      goal: fc.option(fc.record({ event: fc.constant('gen.goal'), within: fc.constantFrom('1d', '3d'), exit: fc.boolean() }), { nil: undefined }),
      exitRule: fc.boolean(),
      reEntry: fc.constantFrom('once', 'after_exit'),
    }).map(({ steps, goal, exitRule, reEntry }) => {
      const id = `gen-${index}`;
      // Forward references only; keep the steps s0 reaches (the compiler refuses unreachable ones).
      const all: Record<string, Step> = {
        ...Object.fromEntries(steps.map((s, i) => [`s${i}`, s])),
        done: { type: 'exit', reason: 'done' },
        stopped: { type: 'exit', reason: 'stopped' },
      };
      const reached = new Set<string>();
      const visit = (sid: string) => {
        if (reached.has(sid)) return;
        reached.add(sid);
        const s = all[sid]!;
        const refs = [s.next, s.on_event, s.on_timeout, s.else, ...((s.conditions as { next: string }[] | undefined) ?? []).map((c) => c.next)];
        for (const r of refs) if (typeof r === 'string') visit(r);
      };
      visit('s0');
      return {
        id,
        source: {
          id,
          name: `Generated ${index}`,
          triggers: [{ type: 'event', event: `gen.start_${index}` }],
          entry: { re_entry: reEntry },
          ...(exitRule ? { exit: [{ event: 'gen.stop', reason: 'stopped-by-event' }] } : {}),
          ...(goal ? { goals: [{ id: 'gen-goal', ...goal }] } : {}),
          settings: { timezone: 'Asia/Shanghai', default_locale: 'en', locales: ['en', 'zh-CN'] },
          start: 's0',
          steps: Object.fromEntries(Object.entries(all).filter(([sid]) => reached.has(sid))),
        },
      };
    }),
  );
}
