import { describe, expect, it } from 'vitest';
import { compileOrThrow } from '../../src/journey/compiler';
import { formatSimulation, simulate } from '../../src/journey/simulator';
import type { Contact } from '../../src/journey/schema';

const plan = compileOrThrow(`
id: renewal
name: Renewal
triggers:
  - { type: date, field: attributes.renewal_date, offset: -7d, at: "09:00" }
  - { type: date, field: attributes.birthday, repeat: yearly, at: "10:30", audience: { tag: vip } }
settings: { timezone: Asia/Shanghai }
steps:
  mark: { type: tag, tags: [reminded], next: done }
  done: { type: exit }
`);
const contact = (c: Partial<Contact>): Contact => ({ id: 'c1', tags: [], score: 0, attributes: {}, ...c });
const START = '2027-01-01T00:00:00Z';

describe('the simulator shows when a contact enters a date-triggered journey, or why not', () => {
  it('the next entry in the contact’s zone (the journey’s when it has none), and the date.reached trigger', () => {
    const r = simulate(plan, { contact: contact({ timezone: 'America/New_York', attributes: { renewal_date: '2027-03-08', birthday: '1992-02-29' }, tags: ['vip'] }), start: START });
    expect(r.dateEntries).toEqual([
      {
        field: 'attributes.renewal_date',
        next: { date: '2027-03-08', at: '2027-03-01T14:00:00.000Z', local: '2027-03-01 09:00', timezone: 'America/New_York' },
        event: { field: 'attributes.renewal_date', date: '2027-03-08', offset: '-1w', repeat: 'once', occurrence_at: '2027-03-01T14:00:00.000Z', timezone: 'America/New_York' },
      },
      {
        field: 'attributes.birthday',
        next: { date: '2027-02-28', at: '2027-02-28T15:30:00.000Z', local: '2027-02-28 10:30', timezone: 'America/New_York' },
        event: expect.objectContaining({ date: '2027-02-28', repeat: 'yearly' }),
      },
    ]);
    expect(r.state.trigger).toMatchObject({ type: 'date.reached', properties: { field: 'attributes.renewal_date', date: '2027-03-08' } });
    expect(formatSimulation(r).split('\n')[0]).toBe('date trigger attributes.renewal_date: enters next 2027-03-01 09:00 America/New_York (2027-03-01T14:00:00.000Z, for 2027-03-08)');
    const shanghai = simulate(plan, { contact: contact({ attributes: { renewal_date: '2027-03-08' } }), start: START });
    expect(shanghai.dateEntries?.[0]?.next).toMatchObject({ at: '2027-03-01T01:00:00.000Z', local: '2027-03-01 09:00', timezone: 'Asia/Shanghai' });
  });

  it('why not: missing, not a date, passed, outside the audience', () => {
    const r = simulate(plan, { contact: contact({ attributes: { renewal_date: 'soon', birthday: '1990-05-01' } }), start: START });
    expect(r.dateEntries?.map((d) => d.reason)).toEqual([
      'attributes.renewal_date is not a date (an ISO date such as 2027-03-01, or a date-time); the sweep skips this contact',
      'not in the trigger audience now (checked again at the entry time)',
    ]);
    const text = formatSimulation(r);
    expect(text).toContain('date trigger attributes.renewal_date: does not enter: attributes.renewal_date is not a date');
    const none = simulate(plan, { contact: contact({ attributes: { renewal_date: '2020-01-01' } }), start: START });
    expect(none.dateEntries?.map((d) => d.reason)).toEqual(['its entry time has passed (a one-off date)', 'the contact has no attributes.birthday']);
  });

  it('a journey without date triggers has no dateEntries', () => {
    const other = compileOrThrow('id: e\nname: E\ntriggers: [{ type: event, event: x }]\nsteps:\n  done: { type: exit }\n');
    expect(simulate(other, { contact: contact({}), start: START })).not.toHaveProperty('dateEntries');
  });
});
