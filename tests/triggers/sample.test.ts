import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileJourney, formatError } from '../../src/journey/compiler';
import type { Contact } from '../../src/journey/schema';
import { formatSimulation, simulate } from '../../src/journey/simulator';
import { JOURNEYS_DIR, TEMPLATES_DIR } from '../../src/paths';
import { simulateCommand, type CliIo } from '../../src/cli/journey-commands';
import { loadTemplateCatalog } from '../../src/templates/catalog';

const catalog = await loadTemplateCatalog(TEMPLATES_DIR);
const read = (f: string) => readFileSync(path.join(JOURNEYS_DIR, f), 'utf8');
const compiled = compileJourney(read('renewal-reminder.yaml'), { file: 'journeys/renewal-reminder.yaml', templates: catalog });
const contact = JSON.parse(read('samples/renewal-reminder/contact.json')) as Contact;
const timeline = (name: string) => JSON.parse(read(`samples/renewal-reminder/${name}`)) as { start: string; events: { at: string; type: string; properties?: Record<string, unknown> }[] };

describe('journeys/renewal-reminder.yaml', () => {
  it('compiles with its templates and no warnings', () => {
    expect(compiled.ok ? compiled.warnings.map(formatError) : compiled.errors.map(formatError)).toEqual([]);
  });
  if (!compiled.ok) return;
  const plan = compiled.plan;

  it('the sample customer enters at 09:00 Shanghai time a week before the renewal date', () => {
    const r = simulate(plan, { contact, start: '2027-01-15T00:00:00Z' });
    expect(r.dateEntries).toEqual([expect.objectContaining({ next: { date: '2027-03-08', at: '2027-03-01T01:00:00.000Z', local: '2027-03-01 09:00', timezone: 'Asia/Shanghai' } })]);
    const lead = simulate(plan, { contact: { ...contact, lifecycle_stage: 'lead' }, start: '2027-01-15T00:00:00Z' });
    expect(lead.dateEntries?.[0]?.reason).toBe('not in the trigger audience now (checked again at the entry time)');
  });

  it('renewed within four days: reminder, then exit renewed (goal)', () => {
    const t = timeline('timeline-renewed.json');
    const r = simulate(plan, { contact, start: t.start, events: t.events });
    expect(r.path.map((p) => p.stepId)).toEqual(['reminder', 'wait-renewal', 'renewed']);
    expect(r.state.trigger).toMatchObject({ type: 'date.reached', properties: { date: '2027-03-08', occurrence_at: '2027-03-01T01:00:00.000Z' } });
    expect(r.goals).toEqual(['renewed']);
  });

  it('silent: tagged renewal-at-risk four days after the reminder', () => {
    const t = timeline('timeline-silent.json');
    const r = simulate(plan, { contact, start: t.start, events: t.events });
    expect(r.path.map((p) => `${p.stepId}@${p.at}`)).toEqual(['reminder@2027-03-01T01:00:00.000Z', 'wait-renewal@2027-03-01T01:00:00.000Z', 'at-risk@2027-03-05T01:00:00.000Z', 'not-renewed@2027-03-05T01:00:00.000Z']);
    expect(r.contact.tags).toEqual(['renewal-at-risk']);
    expect(formatSimulation(r)).toMatch(/^date trigger attributes\.renewal_date: enters next 2027-03-01 09:00 Asia\/Shanghai/);
  });

  it('itinera simulate prints the next entry first (text) and dateEntries (--json)', async () => {
    const out: string[] = [];
    const sink: CliIo = { out: (l) => out.push(l), err: (l) => out.push(l) };
    const file = (f: string) => path.join(JOURNEYS_DIR, f);
    const args = { contact: file('samples/renewal-reminder/contact.json'), events: file('samples/renewal-reminder/timeline-silent.json') };
    expect(await simulateCommand(file('renewal-reminder.yaml'), args, sink)).toBe(0);
    expect(out.join('\n').split('\n')[0]).toBe('date trigger attributes.renewal_date: enters next 2027-03-01 09:00 Asia/Shanghai (2027-03-01T01:00:00.000Z, for 2027-03-08)');
    out.length = 0;
    expect(await simulateCommand(file('renewal-reminder.yaml'), { ...args, json: true }, sink)).toBe(0);
    expect(JSON.parse(out.join('\n')).dateEntries[0].next.local).toBe('2027-03-01 09:00');
  });
});
