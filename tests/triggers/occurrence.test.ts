import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { localTime } from '../../src/journey/time';
import {
  anniversaryIn,
  candidateDays,
  candidateMonthDays,
  nextOccurrence,
  occurrencesBetween,
  parseDateValue,
  type DateRule,
  type DateValue,
} from '../../src/triggers/occurrence';

const H = 3_600_000;
const D = 24 * H;
const t = (iso: string) => Date.parse(iso);
const v = (s: string) => parseDateValue(s)!;
const once = (offsetMs: number, at?: number): DateRule => ({ repeat: 'once', offsetMs, ...(at !== undefined ? { at } : {}) });
const yearly = (offsetMs: number, at?: number): DateRule => ({ repeat: 'yearly', offsetMs, ...(at !== undefined ? { at } : {}) });
const NINE = 9 * 60;

describe('date values', () => {
  it('reads ISO dates, wall times and instants', () => {
    expect(parseDateValue('2027-03-01')).toEqual({ kind: 'local', year: 2027, month: 3, day: 1, minute: 0 });
    expect(parseDateValue('2027-03-01T10:30')).toEqual({ kind: 'local', year: 2027, month: 3, day: 1, minute: 630 });
    expect(parseDateValue('2027-03-01T10:30:00Z')).toEqual({ kind: 'instant', t: t('2027-03-01T10:30:00Z') });
    expect(parseDateValue('2027-03-01T10:30:00.250+08:00')).toEqual({ kind: 'instant', t: t('2027-03-01T02:30:00.250Z') });
    expect(parseDateValue('2027-03-01T10:30:00+0800')).toEqual({ kind: 'instant', t: t('2027-03-01T02:30:00Z') });
    expect(parseDateValue('2028-02-29')).toMatchObject({ month: 2, day: 29 });
  });

  it.each([['soon'], [''], [' 2027-03-01'], ['2027-03-01 '], ['03/01/2027'], ['2027-02-30'], ['2027-02-29'], ['2027-13-01'], ['2027-3-1'], ['2027-03-01T25:00'], [20270301], [null], [true], [{}]])(
    'refuses %j as a date',
    (x) => expect(parseDateValue(x)).toBeUndefined(),
  );
});

describe('one-off occurrences', () => {
  it('7 days before a renewal, at 09:00 in Shanghai', () => {
    const occ = nextOccurrence(v('2027-03-08'), once(-7 * D, NINE), 'Asia/Shanghai', t('2027-01-01T00:00:00Z'));
    expect(occ).toEqual({ date: '2027-03-08', at: t('2027-03-01T01:00:00Z') });
  });

  it('offset days are calendar days across a DST change; the hour stays 09:00', () => {
    // New York moves to EDT on 2027-03-14: 09:00 is 14:00Z before, 13:00Z after.
    expect(nextOccurrence(v('2027-03-20'), once(-7 * D, NINE), 'America/New_York', 0)!.at).toBe(t('2027-03-13T14:00:00Z'));
    expect(nextOccurrence(v('2027-03-10'), once(7 * D, NINE), 'America/New_York', 0)!.at).toBe(t('2027-03-17T13:00:00Z'));
  });

  it('a local time inside the DST gap lands just after it', () => {
    expect(nextOccurrence(v('2027-03-14'), once(0, 150), 'America/New_York', 0)!.at).toBe(t('2027-03-14T07:30:00Z'));
  });

  it('without a local time the offset is an exact duration from the field (hours allowed)', () => {
    expect(nextOccurrence(v('2027-03-01T15:00:00Z'), once(-2 * H), 'Asia/Tokyo', 0)!.at).toBe(t('2027-03-01T13:00:00Z'));
    // A calendar date starts at the contact's local midnight.
    expect(nextOccurrence(v('2027-03-01'), once(0), 'Asia/Shanghai', 0)!.at).toBe(t('2027-02-28T16:00:00Z'));
    expect(nextOccurrence(v('2027-03-01T08:00'), once(H), 'Europe/London', 0)!.at).toBe(t('2027-03-01T09:00:00Z'));
  });

  it('an instant is read on the contact wall clock for the date a local time applies to', () => {
    // 20:00Z on 1 March is already 2 March in Shanghai: the 09:00 entry is on 2 March there.
    expect(nextOccurrence(v('2027-03-01T20:00:00Z'), once(0, NINE), 'Asia/Shanghai', 0)).toEqual({ date: '2027-03-02', at: t('2027-03-02T01:00:00Z') });
  });

  it('a date that has passed has no next occurrence; a window finds it once', () => {
    expect(nextOccurrence(v('2020-01-01'), once(0, NINE), 'UTC', t('2026-01-01T00:00:00Z'))).toBeUndefined();
    expect(occurrencesBetween(v('2020-01-01'), once(0, NINE), 'UTC', t('2020-01-01T08:59:00Z'), t('2020-01-01T09:00:00Z'))).toHaveLength(1);
    expect(occurrencesBetween(v('2020-01-01'), once(0, NINE), 'UTC', t('2020-01-01T09:00:00Z'), t('2020-01-01T10:00:00Z'))).toHaveLength(0);
  });
});

describe('anniversaries', () => {
  it('every year after the field’s own year, keyed by that year’s date', () => {
    const signup = v('2026-12-07T03:00:00Z');
    const first = nextOccurrence(signup, yearly(0, NINE), 'Asia/Shanghai', t('2026-12-07T00:00:00Z'));
    expect(first).toEqual({ date: '2027-12-07', at: t('2027-12-07T01:00:00Z') });
    const second = nextOccurrence(signup, yearly(0, NINE), 'Asia/Shanghai', first!.at);
    expect(second).toEqual({ date: '2028-12-07', at: t('2028-12-07T01:00:00Z') });
  });

  it('29 February falls on 28 February in other years', () => {
    expect(anniversaryIn(2027, 2, 29)).toEqual({ year: 2027, month: 2, day: 28 });
    expect(anniversaryIn(2028, 2, 29)).toEqual({ year: 2028, month: 2, day: 29 });
    const leapling = v('2000-02-29');
    const occ = occurrencesBetween(leapling, yearly(0, NINE), 'UTC', t('2026-01-01T00:00:00Z'), t('2029-01-01T00:00:00Z'));
    expect(occ.map((o) => o.date)).toEqual(['2026-02-28', '2027-02-28', '2028-02-29']);
    // Its month-day is queried whenever 28 February is.
    expect(candidateMonthDays(yearly(0, NINE), t('2027-02-28T00:00:00Z'), t('2027-02-28T12:00:00Z'))).toContain('02-29');
  });

  it('3 days before a birthday, across the new year', () => {
    const occ = occurrencesBetween(v('1990-01-02'), yearly(-3 * D, NINE), 'UTC', t('2026-12-01T00:00:00Z'), t('2027-01-31T00:00:00Z'));
    expect(occ).toEqual([{ date: '2027-01-02', at: t('2026-12-30T09:00:00Z') }]);
  });
});

// Zones with extreme offsets, half hours, DST in both hemispheres.
const ZONES = ['UTC', 'Asia/Shanghai', 'America/New_York', 'Pacific/Kiritimati', 'Pacific/Pago_Pago', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'Europe/London', 'America/Santiago'];
const arbValue: fc.Arbitrary<{ text: string; value: DateValue }> = fc
  .record({ y: fc.integer({ min: 1950, max: 2035 }), m: fc.integer({ min: 1, max: 12 }), d: fc.integer({ min: 1, max: 31 }), h: fc.integer({ min: 0, max: 23 }), kind: fc.constantFrom('date', 'local', 'utc', 'offset') })
  .map(({ y, m, d, h, kind }) => {
    const date = `${y}-${String(m).padStart(2, '0')}-${String(Math.min(d, 28)).padStart(2, '0')}`;
    const text = kind === 'date' ? date : kind === 'local' ? `${date}T${String(h).padStart(2, '0')}:15` : kind === 'utc' ? `${date}T${String(h).padStart(2, '0')}:15:00Z` : `${date}T${String(h).padStart(2, '0')}:15:00-11:00`;
    return { text, value: v(text) };
  });
const arbRule: fc.Arbitrary<DateRule> = fc.oneof(
  fc.record({ repeat: fc.constantFrom('once' as const, 'yearly' as const), offsetMs: fc.integer({ min: -60, max: 60 }).map((n) => n * D), at: fc.integer({ min: 0, max: 1439 }) }),
  fc.record({ repeat: fc.constantFrom('once' as const, 'yearly' as const), offsetMs: fc.integer({ min: -1000, max: 1000 }).map((n) => n * H) }),
);
const arbWindow = fc.record({ start: fc.integer({ min: t('1950-01-01T00:00:00Z'), max: t('2036-01-01T00:00:00Z') }), a: fc.integer({ min: 0, max: 40 * D }), b: fc.integer({ min: 0, max: 40 * D }) });

describe('properties', () => {
  it('consecutive windows find each occurrence exactly once (a sweep split in two finds what one sweep finds)', () => {
    fc.assert(
      fc.property(arbValue, arbRule, fc.constantFrom(...ZONES), arbWindow, ({ value }, rule, tz, w) => {
        // Windows around an occurrence, so the property is not about empty windows.
        const occ = nextOccurrence(value, rule, tz, w.start);
        fc.pre(occ !== undefined);
        const start = occ!.at - w.a - 1;
        const mid = start + w.a;
        const end = mid + w.b + 1;
        const whole = occurrencesBetween(value, rule, tz, start, end);
        expect(whole).toContainEqual(occ);
        const split = [...occurrencesBetween(value, rule, tz, start, mid), ...occurrencesBetween(value, rule, tz, mid, end)];
        expect(split).toEqual(whole);
        expect(new Set(split.map((o) => o.date)).size).toBe(split.length);
      }),
      { numRuns: 400 },
    );
  });

  it('the indexed narrowing never misses an occurrence: the stored text’s date (or month-day) is always a candidate', () => {
    fc.assert(
      fc.property(arbValue, arbRule, fc.constantFrom(...ZONES), fc.integer({ min: t('1950-01-01T00:00:00Z'), max: t('2036-01-01T00:00:00Z') }), fc.integer({ min: 1, max: 3 * D }), fc.integer({ min: 0, max: 3 * D }), ({ text, value }, rule, tz, after, before, later) => {
        const occ = nextOccurrence(value, rule, tz, after);
        fc.pre(occ !== undefined);
        // Any sweep window that holds the occurrence.
        const [from, to] = [occ!.at - before, occ!.at + later];
        expect(occurrencesBetween(value, rule, tz, from, to)).toContainEqual(occ);
        const { first, last } = candidateDays(rule, from, to);
        if (rule.repeat === 'once') {
          expect(text.slice(0, 10) >= first && text.slice(0, 10) <= last).toBe(true);
        } else {
          const days = candidateMonthDays(rule, from, to);
          expect(days).toBeDefined();
          expect(days).toContain(text.slice(5, 10));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('with a local time, the entry is at that time on the wall clock (outside DST gaps), offset days from the date', () => {
    fc.assert(
      fc.property(arbValue, arbRule, fc.constantFrom(...ZONES), fc.integer({ min: t('2020-01-01T00:00:00Z'), max: t('2036-01-01T00:00:00Z') }), ({ value }, rule, tz, after) => {
        if (rule.at === undefined) return;
        const occ = nextOccurrence(value, rule, tz, after);
        if (!occ) return;
        expect(occ.at).toBeGreaterThan(after);
        const p = localTime(occ.at, tz);
        const entryDay = Date.UTC(p.year, p.month - 1, p.day);
        const fieldDay = Date.parse(`${occ.date}T00:00:00Z`);
        const minute = p.hour * 60 + p.minute;
        if (minute === rule.at) expect(entryDay - fieldDay).toBe(rule.offsetMs);
        else {
          // Only a wall time that does not exist (a DST gap) moves, forward by the gap (≤ 1 h; 30 min on Lord Howe).
          expect(minute - rule.at).toBeGreaterThan(0);
          expect(minute - rule.at).toBeLessThanOrEqual(60);
        }
      }),
      { numRuns: 500 },
    );
  });
});
