import { describe, expect, it } from 'vitest';
import { compileOrThrow } from '../../src/journey/compiler';
import { entryKeyOf, reachesKeyedRun } from '../../src/journey/entry';
import { simulate } from '../../src/journey/simulator';
import { readJourney, catalog } from './helpers';

describe('keyed runs in the simulator (the router\'s rule, src/journey/entry.ts)', () => {
  const plan = compileOrThrow(readJourney('stale-opportunity'), { templates: catalog });
  const contact = { id: 'c-1', owner_id: 'rep-zhang', timezone: 'Asia/Shanghai', score: 0, tags: [], attributes: {} };
  const trigger = { type: 'opportunity.created', properties: { opportunity_id: 'opp-77' } };
  const at = (d: number) => `+${d}d`;

  it('the key is read from the event; an object, null, empty or missing value is no key', () => {
    expect(plan.entry.key).toEqual(['properties', 'opportunity_id']);
    expect(entryKeyOf(['properties', 'opportunity_id'], { properties: { opportunity_id: 42 } })).toBe('42');
    for (const v of [null, '', { a: 1 }, undefined]) expect(entryKeyOf(['properties', 'opportunity_id'], { properties: { opportunity_id: v } })).toBeUndefined();
    expect(reachesKeyedRun(plan.entry.key!, ['opportunity.updated'], 'opp-77', { type: 'opportunity.updated', properties: {} })).toBe(false);
    expect(reachesKeyedRun(plan.entry.key!, ['opportunity.updated'], 'opp-77', { type: 'contact.unsubscribed', properties: {} })).toBe(true);
  });

  it('another opportunity\'s update does not restart this one\'s clock; its own does', () => {
    const start = '2025-03-01T02:00:00Z';
    const other = simulate(plan, { contact, trigger, start, events: [{ at: at(10), type: 'opportunity.updated', properties: { opportunity_id: 'opp-88' } }] });
    const own = simulate(plan, { contact, trigger, start, events: [{ at: at(10), type: 'opportunity.updated', properties: { opportunity_id: 'opp-77' } }] });
    const reminded = (r: ReturnType<typeof simulate>) => r.path.find((p) => p.stepId === 'remind-owner')?.at;
    expect(reminded(other)).toBe('2025-03-16T02:00:00.000Z');
    expect(reminded(own)).toBe('2025-03-26T02:00:00.000Z');
  });
});
