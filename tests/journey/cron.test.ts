import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileJourney, formatError } from '../../src/journey/compiler';
import { checkCron, nextCronTimes } from '../../src/journey/cron';
import { simulateCommand } from '../../src/cli/journey-commands';

const journey = (cron: string, tz = 'Asia/Shanghai') => `
id: digest
name: Digest
triggers: [{ type: schedule, cron: ${JSON.stringify(cron)}, timezone: ${tz} }]
steps:
  done: { type: exit }
`;
const errors = (cron: string) => {
  const r = compileJourney(journey(cron));
  return r.ok ? [] : r.errors.map(formatError);
};

describe('cron expressions, as Temporal Schedules read them', () => {
  it.each([
    ['99 99 * * *', 'minute 99 is out of range 0–59'],
    ['0 24 * * *', 'hour 24 is out of range 0–23'],
    ['0 9 0 * *', 'day of month 0 is out of range 1–31'],
    ['0 9 * 13 *', 'month 13 is out of range 1–12'],
    ['0 9 * * FRI-MON', 'day of week range "FRI-MON" runs backwards'],
    ['0 9 * * XYZ', 'day of week "XYZ" is not a number 0–7 or a three-letter name such as MON'],
    ['5/15 * * * *', 'minute "5/15": a step needs * or a range (write 5-59/15)'],
    ['*/0 * * * *', 'minute step "0" is not a whole number of at least 1'],
    ['0 0 * * 5#2', '"#" is not supported (Temporal Schedules read it differently or not at all)'],
    ['0 0 L * *', '"L" is not supported (Temporal Schedules read it differently or not at all)'],
    ['0 0 0 * * *', 'it has 6 fields; use five: minute hour day-of-month month day-of-week'],
    ['@every 1h', 'unknown nickname (use one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)'],
    ['@Daily', 'unknown nickname (use one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)'],
    ['0 0 30 2 *', 'it never fires (no such date)'],
  ])('%j is refused: %s', (cron, problem) => {
    expect(errors(cron)).toEqual([`triggers[0].cron: ${JSON.stringify(cron)} is not a cron expression: ${problem}`]);
  });

  it.each(['0 9 * * MON-FRI', '@daily', '@hourly', '*/15 8-18/2 1,15 JAN-MAR,dec sun,6', '0 9 * * 7', '30 2 13 * FRI'])('%j is accepted', (cron) => {
    expect(errors(cron)).toEqual([]);
    expect(checkCron(cron).ok).toBe(true);
  });

  it('fire times are computed in the zone, day-of-month and day-of-week both matching (Temporal\'s rule)', () => {
    const from = Date.parse('2026-12-07T00:00:00Z');
    expect(nextCronTimes('0 9 * * MON-FRI', 'Asia/Shanghai', from, 3).map((t) => new Date(t).toISOString())).toEqual([
      '2026-12-07T01:00:00.000Z',
      '2026-12-08T01:00:00.000Z',
      '2026-12-09T01:00:00.000Z',
    ]);
    // Friday the 13th only, not every Friday and every 13th.
    expect(nextCronTimes('0 0 13 * FRI', 'UTC', from, 2).map((t) => new Date(t).toISOString())).toEqual(['2027-08-13T00:00:00.000Z', '2028-10-13T00:00:00.000Z']);
  });

  it('itinera simulate lists the next five fire times in the trigger\'s zone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cron-'));
    writeFileSync(join(dir, 'digest.yaml'), journey('0 9 * * MON-FRI'));
    writeFileSync(join(dir, 'contact.json'), JSON.stringify({ id: 'c1' }));
    const out: string[] = [];
    const code = await simulateCommand(join(dir, 'digest.yaml'), { contact: join(dir, 'contact.json'), start: '2026-12-11T12:00:00Z' }, { out: (l) => out.push(l), err: () => undefined });
    expect(code).toBe(0);
    expect(out.join('\n')).toContain(
      'triggers.0 schedule "0 9 * * MON-FRI" (Asia/Shanghai): next 5 fires\n  2026-12-14 09:00 Mon\n  2026-12-15 09:00 Tue\n  2026-12-16 09:00 Wed\n  2026-12-17 09:00 Thu\n  2026-12-18 09:00 Fri',
    );
    const json: string[] = [];
    await simulateCommand(join(dir, 'digest.yaml'), { contact: join(dir, 'contact.json'), start: '2026-12-11T12:00:00Z', json: true }, { out: (l) => json.push(l), err: () => undefined });
    expect(JSON.parse(json.join('\n')).schedule[0]).toMatchObject({ trigger: 0, timezone: 'Asia/Shanghai', next: [Date.parse('2026-12-14T01:00:00Z'), expect.any(Number), expect.any(Number), expect.any(Number), expect.any(Number)] });
  });
});
