/**
 * The pure parts of contact-change routing (src/ingest/contact-routing.ts): which changes fire a `change` trigger, the
 * contact before a change, which fields a plan reads, what the compiler refuses — and that the simulator treats a
 * `contact.updated` as production does. The routing itself runs against the real server in
 * tests/e2e/contact-changes.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { changeMatches } from '../../src/ingest/contact-routing';
import { compileJourney, compileOrThrow } from '../../src/journey/compiler';
import { contactFieldsOf, readsChangedPath } from '../../src/journey/compiler/contact-fields';
import { applyChanges, parseChanges } from '../../src/journey/contact-changes';
import type { PlanTrigger } from '../../src/journey/plan';
import { Contact } from '../../src/journey/schema';
import { simulate } from '../../src/journey/simulator';

type Change = Extract<PlanTrigger, { type: 'change' }>;
const change = (field: string, from?: unknown, to?: unknown): Change =>
  ({ type: 'change', field: field.split('.'), ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) }) as Change;

describe('change triggers', () => {
  it('match the field, with from/to when given (absent = any)', () => {
    const changes = { industry: { from: 'retail', to: 'manufacturing' } };
    expect(changeMatches(change('industry'), changes)).toBe(true);
    expect(changeMatches(change('industry', undefined, 'manufacturing'), changes)).toBe(true);
    expect(changeMatches(change('industry', 'retail', 'manufacturing'), changes)).toBe(true);
    expect(changeMatches(change('industry', undefined, 'retail'), changes)).toBe(false);
    expect(changeMatches(change('industry', 'energy'), changes)).toBe(false);
    expect(changeMatches(change('region'), changes)).toBe(false);
    // Scores arrive as numbers, a YAML value may be a string: compared as the conditions compare them.
    expect(changeMatches(change('score', undefined, '50'), { score: { from: 10, to: 50 } })).toBe(true);
  });

  it('on tags, to names an added tag and from a removed one', () => {
    const changes = { tags: { from: ['a'], to: ['a', 'vip'] } };
    expect(changeMatches(change('tags', undefined, 'vip'), changes)).toBe(true);
    expect(changeMatches(change('tags', undefined, 'a'), changes)).toBe(false); // already there
    expect(changeMatches(change('tags', 'vip'), changes)).toBe(false);
    expect(changeMatches(change('tags', 'vip'), { tags: { from: ['vip'], to: [] } })).toBe(true);
  });

  it('see inside a changed attribute object, and find the country in attributes', () => {
    const changes = { 'attributes.plan': { from: { tier: 'free', seats: 1 }, to: { tier: 'pro', seats: 1 } } };
    expect(changeMatches(change('attributes.plan.tier', 'free', 'pro'), changes)).toBe(true);
    expect(changeMatches(change('attributes.plan.seats'), changes)).toBe(false); // unchanged inside
    expect(changeMatches(change('country', undefined, 'CN'), { 'attributes.country': { from: null, to: 'CN' } })).toBe(true);
  });
});

describe('contact changes applied to a journey-language contact', () => {
  const after = Contact.parse({ id: 'c1', industry: 'manufacturing', score: 60, tags: ['vip'], lifecycle_stage: 'mql', country: 'CN', attributes: { plan: 'pro', country: 'CN' } });
  it('from gives the contact before the change; unknown paths are ignored', () => {
    const before = applyChanges(after, {
      industry: { from: null, to: 'manufacturing' },
      score: { from: 20, to: 60 },
      tags: { from: [], to: ['vip'] },
      'attributes.plan': { from: undefined, to: 'pro' },
      'attributes.country': { from: 'US', to: 'CN' },
      id: { from: 'x', to: 'c1' },
      nonsense: { from: 1, to: 2 },
    }, 'from');
    expect(before).toEqual({ ...after, industry: null, score: 20, tags: [], country: 'US', attributes: { country: 'US' } });
  });
  it('parseChanges refuses anything but { path: { from, to } }', () => {
    expect(parseChanges({ changes: { a: { from: 1, to: 2 } } })).toEqual({ a: { from: 1, to: 2 } });
    for (const bad of [undefined, null, [], 'x', { a: 1 }, { a: null }, { '': { to: 1 } }]) expect(parseChanges({ changes: bad })).toBeUndefined();
  });
});

describe('plan.contactFields', () => {
  it('lists what exits, goals, branches, territory rules and until_date read, and nothing else', () => {
    const plan = compileOrThrow(`
id: reads
name: reads
triggers: [{ type: event, event: go }]
exit:
  - when: { any: [{ field: lifecycle_stage, in: [sql] }, { event: x.y, within: 1d }, { field: event.source, eq: ad }] }
goals: [{ id: g, when: { tag: won } }]
steps:
  b: { type: branch, conditions: [{ when: { field: attributes.plan.tier, eq: pro }, next: w }], else: w }
  w: { type: wait, until_date: { field: attributes.renewal }, next: h }
  h: { type: handoff_to_sales, assignment: { strategy: territory, rules: [{ when: { field: region, eq: east }, team: east }], fallback_team: all }, next: e }
  e: { type: exit }
`);
    expect(plan.contactFields).toEqual(['attributes.plan.tier', 'attributes.renewal', 'lifecycle_stage', 'region', 'tags']);
    expect(contactFieldsOf(plan)).toEqual(plan.contactFields);
    const none = compileOrThrow('{ id: n, name: n, triggers: [{ type: event, event: go }], steps: { w: { type: wait, duration: 1h, next: e }, e: { type: exit } } }');
    expect(none.contactFields).toBeUndefined();
  });
  it('a changed path touches a field when one contains the other', () => {
    expect(readsChangedPath(['attributes.plan.tier'], 'attributes.plan')).toBe(true);
    expect(readsChangedPath(['attributes.plan'], 'attributes.plan.tier')).toBe(true);
    expect(readsChangedPath(['attributes.plan'], 'attributes.planner')).toBe(false);
    expect(readsChangedPath(['country'], 'attributes.country')).toBe(true);
    expect(readsChangedPath(['lifecycle_stage'], 'score')).toBe(false);
  });
});

describe('the compiler and the routing agree', () => {
  it('refuses event conditions in an audience trigger, and non-contact fields in a change trigger, with paths', () => {
    const r = compileJourney(`
id: bad
name: bad
triggers:
  - type: audience
    filter: { all: [{ field: score, gte: 50 }, { not: { event: form.submitted, within: 7d } }] }
  - { type: change, field: event.source }
steps: { e: { type: exit } }
`);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.path)).toEqual(['triggers[0].filter.all[1].not.event', 'triggers[1].field']);
    expect(r.errors[0]!.message).toMatch(/audience trigger .* contact change/);
  });
});

describe('the simulator plays contact.updated as production routes it', () => {
  const nurture = compileOrThrow(readFileSync('journeys/new-lead-nurture.yaml', 'utf8'));
  const industry = compileOrThrow(readFileSync('journeys/industry-content.yaml', 'utf8'));
  const contact = Contact.parse({ id: 'sim-1', email: 'a@example.com', timezone: 'Asia/Shanghai', lifecycle_stage: 'lead' });

  it('a stage change while waiting for a click exits (already-in-sales)', () => {
    const r = simulate(nurture, {
      contact,
      start: '2026-03-02T02:00:00Z',
      events: [{ at: '+3h', type: 'contact.updated', properties: { changes: { lifecycle_stage: { from: 'lead', to: 'sql' } }, source: 'api' } }],
    });
    expect(r.outcome).toMatchObject({ status: 'exited', reason: 'already-in-sales' });
    expect(r.path.at(-1)?.stepId).toBe('wait-click');
    expect(r.contact.lifecycle_stage).toBe('sql');
  });

  it('a change-triggered journey starts with the contact after the change', () => {
    const r = simulate(industry, {
      contact,
      start: '2026-03-02T02:00:00Z',
      trigger: { type: 'contact.updated', properties: { changes: { industry: { from: null, to: 'manufacturing' } } } },
    });
    expect(r.path.slice(0, 3).map((p) => p.stepId)).toEqual(['by-industry', 'manufacturing-role', 'wp-manufacturing']);
    expect(r.state.trigger?.type).toBe('contact.updated');
  });
});
