import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parseSignedDuration } from '../../src/journey/duration';
import { fromLocal, isSendAllowed, localTime, nextLocalTime, nextSendTime, offsetMs, resolveTimeZone } from '../../src/journey/time';

const H = 3_600_000;

describe('durations', () => {
  it.each([
    ['30s', 30_000], ['15m', 900_000], ['2h', 2 * H], ['2d', 48 * H], ['1w', 168 * H], ['1d12h', 36 * H],
    ['P2D', 48 * H], ['PT48H', 48 * H], ['P1DT12H', 36 * H], ['PT90M', 90 * 60_000], ['P1W', 168 * H], ['0s', 0],
  ])('%s = %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '2', '2 days', '2dayz', 'P', 'PT', 'P1M', 'P1Y', '1h2d', '-2d', '1.5h', 'p2d'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('signed offsets', () => {
    expect(parseSignedDuration('-3d')).toBe(-72 * H);
    expect(parseSignedDuration('+12h')).toBe(12 * H);
    expect(parseSignedDuration('--3d')).toBeUndefined();
  });

  it('formatDuration round-trips through parseDuration for whole seconds', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 10_000_000 }), (s) => parseDuration(formatDuration(s * 1000)) === s * 1000));
  });
});

describe('time zones without libraries', () => {
  it('offsets: Shanghai +8 all year, Berlin +1/+2, New York -5/-4', () => {
    expect(offsetMs(Date.parse('2025-01-15T12:00:00Z'), 'Asia/Shanghai')).toBe(8 * H);
    expect(offsetMs(Date.parse('2025-07-15T12:00:00Z'), 'Asia/Shanghai')).toBe(8 * H);
    expect(offsetMs(Date.parse('2025-01-15T12:00:00Z'), 'Europe/Berlin')).toBe(1 * H);
    expect(offsetMs(Date.parse('2025-07-15T12:00:00Z'), 'Europe/Berlin')).toBe(2 * H);
    expect(offsetMs(Date.parse('2025-03-30T00:59:59Z'), 'Europe/Berlin')).toBe(1 * H);
    expect(offsetMs(Date.parse('2025-03-30T01:00:00Z'), 'Europe/Berlin')).toBe(2 * H);
    expect(offsetMs(Date.parse('2025-07-15T12:00:00Z'), 'America/New_York')).toBe(-4 * H);
    expect(offsetMs(Date.parse('2025-07-15T12:00:00Z'), 'Asia/Kathmandu')).toBe(5.75 * H);
  });

  it('cached local times agree with Intl for random instants and zones', () => {
    const zones = ['Asia/Shanghai', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/Sao_Paulo', 'UTC'];
    fc.assert(
      fc.property(fc.integer({ min: Date.parse('2000-01-01'), max: Date.parse('2040-01-01') }), fc.constantFrom(...zones), (t, tz) => {
        const f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', weekday: 'short' });
        const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]));
        const l = localTime(t, tz);
        return l.year === Number(p.year) && l.month === Number(p.month) && l.day === Number(p.day) && l.hour === Number(p.hour) && l.minute === Number(p.minute) && ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][l.weekday] === p.weekday;
      }),
      { numRuns: 2000 },
    );
  });

  it('fromLocal inverts localTime, and lands after a DST gap', () => {
    expect(new Date(fromLocal('Asia/Shanghai', 2025, 3, 4, 8 * 60)).toISOString()).toBe('2025-03-04T00:00:00.000Z');
    expect(new Date(fromLocal('Europe/Berlin', 2025, 7, 1, 9 * 60)).toISOString()).toBe('2025-07-01T07:00:00.000Z');
    // 02:30 does not exist in Berlin on 2025-03-30: the result is a real instant at or after the gap.
    const gap = fromLocal('Europe/Berlin', 2025, 3, 30, 150);
    expect(new Date(gap).toISOString()).toBe('2025-03-30T01:30:00.000Z');
    expect(localTime(gap, 'Europe/Berlin').hour).toBeGreaterThanOrEqual(3);
  });

  it('invalid zones fall back to the journey zone, then UTC', () => {
    expect(resolveTimeZone('Mars/Base', 'Asia/Shanghai')).toBe('Asia/Shanghai');
    expect(resolveTimeZone(null, 'Nope/Nope')).toBe('UTC');
    expect(resolveTimeZone('Europe/Berlin', 'Asia/Shanghai')).toBe('Europe/Berlin');
  });

  it('nextSendTime respects quiet hours spanning midnight and weekday windows', () => {
    const rules = { quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 }, sendWindows: [{ days: [1, 2, 3, 4, 5], startMinute: 9 * 60, endMinute: 18 * 60 }] };
    const sat = Date.parse('2025-03-08T04:00:00Z'); // Saturday 12:00 Shanghai
    expect(isSendAllowed(sat, 'Asia/Shanghai', rules)).toBe(false);
    expect(new Date(nextSendTime(sat, 'Asia/Shanghai', rules)!).toISOString()).toBe('2025-03-10T01:00:00.000Z');
    const ok = Date.parse('2025-03-10T02:00:00Z');
    expect(nextSendTime(ok, 'Asia/Shanghai', rules)).toBe(ok);
    // Windows entirely inside quiet hours leave no slot.
    expect(nextSendTime(ok, 'Asia/Shanghai', { quietHours: { startMinute: 0, endMinute: 23 * 60 }, sendWindows: [{ days: [1], startMinute: 60, endMinute: 120 }] })).toBeUndefined();
  });

  it('nextSendTime always returns an allowed instant not before t', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.parse('2024-01-01'), max: Date.parse('2027-01-01') }),
        fc.integer({ min: 0, max: 1439 }),
        fc.integer({ min: 0, max: 1439 }),
        fc.constantFrom('Asia/Shanghai', 'Europe/Berlin', 'America/New_York'),
        (t, qs, qe, tz) => {
          const rules = { quietHours: { startMinute: qs, endMinute: qe }, sendWindows: [] };
          const n = nextSendTime(t, tz, rules);
          return n === undefined || (n >= t && isSendAllowed(n, tz, rules) && n - t <= 25 * H);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('nextLocalTime finds the next matching weekday and time', () => {
    const mon11 = Date.parse('2025-03-03T03:00:00Z');
    expect(new Date(nextLocalTime(mon11, 'Asia/Shanghai', 10 * 60, [1])).toISOString()).toBe('2025-03-10T02:00:00.000Z');
    expect(new Date(nextLocalTime(mon11, 'Asia/Shanghai', 12 * 60, [0, 1, 2, 3, 4, 5, 6])).toISOString()).toBe('2025-03-03T04:00:00.000Z');
  });
});

describe('fromLocal in DST overlaps', () => {
  it('picks the earlier instant when a wall time occurs twice', () => {
    // 02:30 happens twice in Berlin on 2025-10-26: first at +2 (00:30Z), then at +1 (01:30Z).
    expect(new Date(fromLocal('Europe/Berlin', 2025, 10, 26, 150)).toISOString()).toBe('2025-10-26T00:30:00.000Z');
  });
});

describe('send rule boundaries', () => {
  const rules = { quietHours: { startMinute: 21 * 60, endMinute: 8 * 60 }, sendWindows: [{ days: [1], startMinute: 9 * 60, endMinute: 18 * 60 }] };
  const at = (hhmm: string) => Date.parse(`2025-03-03T${hhmm}:00+08:00`); // Monday in Shanghai
  it.each([
    ['08:59', false], ['09:00', true], ['17:59', true], ['18:00', false],
  ])('window 09:00–18:00 (end exclusive) at %s → %s', (t, ok) => {
    expect(isSendAllowed(at(t), 'Asia/Shanghai', rules)).toBe(ok);
  });
  it.each([
    ['20:59', true], ['21:00', false], ['07:59', false], ['08:00', true],
  ])('quiet hours 21:00–08:00 at %s → allowed %s', (t, ok) => {
    expect(isSendAllowed(at(t), 'Asia/Shanghai', { quietHours: rules.quietHours, sendWindows: [] })).toBe(ok);
  });
});
