import { describe, expect, it } from 'vitest';
import { compileJourney } from '../../src/journey/compiler';

const journey = (triggers: string) => `
id: dates
name: Dates
triggers:
${triggers}
steps:
  done: { type: exit }
`;
const errors = (triggers: string) => {
  const r = compileJourney(journey(triggers));
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
};

describe('date triggers compile', () => {
  it('to a plan trigger with the offset in ms, the local time in minutes and repeat filled in', () => {
    const r = compileJourney(journey('  - { type: date, field: attributes.renewal_date, offset: -7d, at: "09:00" }\n  - { type: date, field: created_at, repeat: yearly, audience: { tag: vip } }'));
    expect(r.ok && r.plan.triggers).toEqual([
      { type: 'date', field: ['attributes', 'renewal_date'], offsetMs: -7 * 86_400_000, at: 540, repeat: 'once' },
      { type: 'date', field: ['created_at'], offsetMs: 0, repeat: 'yearly', audience: { op: 'tag', tag: 'vip' } },
    ]);
  });

  it.each([
    ['{ type: date, field: email }', 'triggers[0].field: "email" is a contact field but not a date'],
    ['{ type: date, field: renewal_date }', 'triggers[0].field: "renewal_date" is not a contact date field (did you mean "attributes.renewal_date"?)'],
    ['{ type: date, field: attributes.contract.end }', 'triggers[0].field: "attributes.contract.end" is not a contact date field'],
    ['{ type: date, field: "attributes.x\'y" }', 'triggers[0].field: "attributes.x\'y" is not a contact date field'],
    ['{ type: date, field: created_at, offset: soon }', 'triggers[0].offset: "soon" is not an offset'],
    ['{ type: date, field: created_at, at: 9am }', 'triggers[0].at: "9am" is not a time of day'],
    ['{ type: date, field: created_at, repeat: monthly }', 'triggers[0].repeat: "monthly" is not one of once, yearly'],
    ['{ type: date, field: created_at, offset: -36h, at: "09:00" }', 'triggers[0].offset: "-36h" is not whole days'],
    ['{ type: date, field: created_at, offset: 400d, repeat: yearly }', 'triggers[0].offset: "400d" is a year or more'],
    ['{ type: date, field: created_at, audience: { all: [{ tag: vip }, { event: email.opened, within: 7d }] } }', "triggers[0].audience.all[1]: a date trigger's audience cannot test events"],
    ['{ type: date, field: created_at, audience: { field: industy, eq: x } }', 'triggers[0].audience.field: "industy" is not a contact field'],
    ['{ type: date, field: created_at, fields: x }', 'triggers[0].fields: unknown field (did you mean "field"?)'],
    ['{ type: date, field: created_at }\n  - { type: date, field: created_at, offset: 1d }', 'triggers[1].field: "created_at" already has a date trigger in this journey'],
  ])('%s → %s', (trigger, message) => {
    const found = errors(`  - ${trigger}`);
    expect(found.some((e) => e.startsWith(message)), found.join('\n')).toBe(true);
  });

  it('hours without a local time are allowed (enter 2 hours before a trial ends)', () => {
    expect(errors('  - { type: date, field: attributes.trial_ends_at, offset: -2h }')).toEqual([]);
  });
});
