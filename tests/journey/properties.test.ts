/**
 * Property tests: random valid journeys compile and simulate to termination; random mutations of
 * valid journeys produce errors (or a valid plan), never exceptions or hangs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { compileJourney, formatError } from '../../src/journey/compiler';
import { MAX_TRANSITIONS_PER_INPUT } from '../../src/journey/interpreter';
import { simulate } from '../../src/journey/simulator';
import { catalog, mutate, readJourney, SAMPLES, T0, type Json } from './helpers';

const DURATIONS = ['30s', '15m', '2h', '1d', '1d12h', 'P2D', 'PT48H', '1w'];
const EVENTS = ['email.clicked', 'email.opened', 'demo.requested', 'contact.unsubscribed'];

/** A step body of a random type whose successors are filled in by the graph builder. */
const stepBody = fc.oneof(
  fc.record({ type: fc.constant('send_email'), template: fc.constantFrom('welcome', 'product-a-case-study'), category: fc.constantFrom('marketing', 'transactional') }),
  fc.record({ type: fc.constant('send_sms'), body: fc.constant('Hi {{first_name}}') }),
  fc.record({ type: fc.constant('webhook'), url: fc.constant('https://example.com/hook'), body: fc.constant({ id: '{{contact.id}}' }) }),
  fc.record({ type: fc.constant('notify'), channel: fc.constantFrom('wecom', 'dingtalk', 'feishu', 'slack'), to: fc.constantFrom('owner', 'manager'), message: fc.constant('Lead {{contact.email}}') }),
  fc.record({ type: fc.constant('wait'), duration: fc.constantFrom(...DURATIONS) }),
  fc.record({ type: fc.constant('wait'), until_time: fc.record({ time: fc.constantFrom('08:00', '10:30', '23:59'), days: fc.subarray(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const, { minLength: 1 }) }) }),
  fc.record({ type: fc.constant('wait'), until_date: fc.record({ field: fc.constant('journey.entered_at'), offset: fc.constantFrom('1d', '-1d', '3d') }) }),
  fc.record({ type: fc.constant('wait_for_event'), event: fc.constantFrom(...EVENTS), timeout: fc.constantFrom(...DURATIONS) }),
  fc.record({ type: fc.constant('branch'), cond: fc.constantFrom<unknown>({ field: 'score', gte: 10 }, { tag: 'vip' }, { event: 'email.opened', within: '7d' }, { any: [{ field: 'industry', eq: 'x' }, { not: { field: 'email', exists: true } }] }) }),
  fc.record({ type: fc.constant('split'), first: fc.integer({ min: 1, max: 99 }) }),
  fc.record({ type: fc.constant('update_score'), delta: fc.integer({ min: -50, max: 50 }).filter((n) => n !== 0), reason: fc.constant('prop') }),
  fc.record({ type: fc.constantFrom('tag', 'untag'), tags: fc.constantFrom('vip', ['a', '待激活']) }),
  fc.record({ type: fc.constant('set_attribute'), field: fc.constant('attributes.x'), value: fc.oneof(fc.integer(), fc.string(), fc.boolean()) }),
  fc.record({ type: fc.constant('set_lifecycle_stage'), stage: fc.constantFrom('lead', 'mql', 'sql') }),
  fc.record({ type: fc.constant('handoff_to_sales'), assignment: fc.constant({ strategy: 'round_robin', team: 'sales' }) }),
);

interface Body {
  type: string;
  [k: string]: unknown;
}

/**
 * Steps s0…sN then terminal steps. Every step's first successor is the next one in the chain (so all
 * are reachable) and others point forward, which rules out loops — except that a wait_for_event
 * timeout may also point back, which is allowed (a loop through a wait).
 */
const journeyArb = fc
  .tuple(fc.array(stepBody, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { minLength: 40, maxLength: 40 }), fc.boolean())
  .map(([bodies, picks, withRules]) => {
    const n = bodies.length;
    const ids = bodies.map((_, i) => `s${i}`);
    const terminals = ['end-exit', 'end-goal'];
    let k = 0;
    const pick = (from: number, allowBack: boolean) => {
      const r = picks[k++ % picks.length]!;
      const forward = [...ids.slice(from + 1), ...terminals];
      const pool = allowBack ? [...ids.slice(0, from + 1), ...forward] : forward;
      const target = pool[r % pool.length]!;
      used.add(target);
      return target;
    };
    const used = new Set<string>(['end-exit']);
    const steps: Record<string, unknown> = {};
    bodies.forEach((raw, i) => {
      const b = { ...(raw as Body) };
      const chain = i + 1 < n ? ids[i + 1]! : terminals[0]!;
      if (b.type === 'branch') {
        const { cond, ...rest } = b;
        steps[ids[i]!] = { ...rest, conditions: [{ when: cond, next: chain }], else: pick(i, false) };
      } else if (b.type === 'split') {
        const { first, ...rest } = b;
        steps[ids[i]!] = { ...rest, paths: [{ name: 'a', percent: first, next: chain }, { name: 'b', percent: 100 - (first as number), holdout: true, next: pick(i, false) }] };
      } else if (b.type === 'wait_for_event') {
        steps[ids[i]!] = { ...b, on_event: chain, on_timeout: pick(i, true) };
      } else {
        steps[ids[i]!] = { ...b, next: chain };
      }
    });
    steps['end-exit'] = { type: 'exit', reason: 'end' };
    // Only when something leads there: an unreferenced step is (rightly) an unreachable-step error.
    if (used.has('end-goal')) steps['end-goal'] = { type: 'goal', goal: 'g' };
    return {
      id: 'prop-journey',
      name: 'Property journey',
      triggers: [{ type: 'event', event: 'lead.created' }],
      settings: {
        timezone: 'Asia/Shanghai',
        quiet_hours: { start: '21:00', end: '08:00' },
        frequency_caps: { email: { max: 2, per: '1d', on_cap: 'defer' }, sms: { max: 1, per: '1w', on_cap: 'skip' } },
        default_locale: 'en',
        locales: ['en', 'zh-CN'],
      },
      ...(withRules ? { exit: [{ event: 'contact.unsubscribed' }], goals: [{ id: 'demo', event: 'demo.requested', within: '30d' }] } : {}),
      steps,
    };
  });

const timelineArb = fc.array(
  fc.record({ at: fc.integer({ min: 0, max: 20 * 86_400_000 }), type: fc.constantFrom(...EVENTS), properties: fc.constant({}) }),
  { maxLength: 8 },
);

describe('random valid journeys', () => {
  it('compile, and simulate to an outcome within the step cap', () => {
    fc.assert(
      fc.property(journeyArb, timelineArb, fc.constantFrom('Asia/Shanghai', 'Europe/Berlin', 'Bad/Zone'), (doc, events, tz) => {
        const r = compileJourney(doc, { templates: catalog });
        if (!r.ok) throw new Error(`valid journey rejected:\n${r.errors.map(formatError).join('\n')}\n${JSON.stringify(doc, null, 1)}`);
        const sim = simulate(r.plan, {
          contact: { id: 'p-1', score: 0, tags: [], attributes: {}, timezone: tz, email: 'a@b.c' },
          events: events.map((e) => ({ ...e, at: T0 + e.at })),
          start: T0,
          maxSteps: 200,
          actionLatencyMs: 1000,
        });
        expect(['completed', 'exited', 'goal', 'step_cap']).toContain(sim.outcome.status);
        // The cap is checked between inputs; one input can enter a few more steps.
        expect(sim.path.length).toBeLessThanOrEqual(200 + MAX_TRANSITIONS_PER_INPUT);
        if (sim.outcome.status === 'step_cap') expect(sim.path.length).toBeGreaterThanOrEqual(200);
        // The path never goes backwards in time and the final state is plain JSON.
        for (let i = 1; i < sim.path.length; i++) expect(sim.path[i]!.atMs).toBeGreaterThanOrEqual(sim.path[i - 1]!.atMs);
        expect(JSON.parse(JSON.stringify(sim.state))).toEqual(sim.state);
      }),
      { numRuns: 300 },
    );
  });
});

describe('random mutations of the samples', () => {
  const docs = SAMPLES.map((s) => parse(readJourney(s)) as Json);

  it('never throw: each yields a plan or path-qualified errors', () => {
    fc.assert(
      fc.property(fc.constantFrom(...docs), fc.array(fc.tuple(fc.nat(), fc.nat(), fc.jsonValue() as fc.Arbitrary<Json>), { minLength: 1, maxLength: 4 }), (doc, edits) => {
        let d = doc;
        for (const [a, b, v] of edits) d = mutate(d, [a, b], v);
        // A hang would trip the test timeout; wall-clock limits here only measure how busy the machine is.
        const r = compileJourney(d as object, { file: 'mutant.yaml', templates: catalog });
        if (!r.ok) {
          expect(r.errors.length).toBeGreaterThan(0);
          for (const e of r.errors) {
            expect(typeof e.path).toBe('string');
            expect(e.message.length).toBeGreaterThan(0);
            expect(formatError(e)).toMatch(/^mutant\.yaml: /);
          }
        } else {
          const sim = simulate(r.plan, { contact: { id: 'm', score: 0, tags: [], attributes: {} }, start: T0, maxSteps: 100 });
          expect(sim.outcome.status).toBeDefined();
        }
      }),
      { numRuns: 400 },
    );
  });

  it('reports a removed required field as an error', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SAMPLES), fc.constantFrom('id', 'name', 'triggers', 'steps'), (name, key) => {
        const doc = parse(readJourney(name)) as Record<string, unknown>;
        delete doc[key];
        const r = compileJourney(doc);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.errors.map((e) => e.path)).toContain(key);
      }),
    );
  });

  it('text-level damage to the YAML never throws', () => {
    const texts = SAMPLES.map((s) => readJourney(s));
    fc.assert(
      fc.property(fc.constantFrom(...texts), fc.nat(), fc.nat({ max: 20 }), fc.string({ maxLength: 6 }), (text, at, del, ins) => {
        const i = at % text.length;
        const damaged = text.slice(0, i) + ins + text.slice(i + del);
        const r = compileJourney(damaged, { file: 'x.yaml' });
        if (!r.ok) expect(r.errors.every((e) => formatError(e).startsWith('x.yaml: '))).toBe(true);
      }),
      { numRuns: 400 },
    );
  });
});
