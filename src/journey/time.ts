/**
 * Local-time arithmetic in IANA time zones with nothing but `Intl.DateTimeFormat`, so that it runs
 * inside Temporal workflow code (no libraries, no `Date.now()`, no argument-less `new Date()`).
 *
 * Times of day are minutes after midnight; weekdays are 0 (Sunday) … 6 (Saturday).
 */

const DAY_MS = 86_400_000;
const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

export interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  /** 0 = Sunday. */
  weekday: number;
}

// Formatters are expensive to build and immutable: one per zone for the life of the process/isolate.
const formatters = new Map<string, Intl.DateTimeFormat | null>();

function formatter(tz: string): Intl.DateTimeFormat | null {
  let f = formatters.get(tz);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: tz,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
        weekday: 'short',
      });
    } catch {
      f = null;
    }
    formatters.set(tz, f);
  }
  return f;
}

export function isTimeZone(tz: string | null | undefined): tz is string {
  return typeof tz === 'string' && tz !== '' && formatter(tz) !== null;
}

/** The contact's zone when it is a valid IANA name, otherwise the journey's. */
export function resolveTimeZone(contactTz: string | null | undefined, fallback: string): string {
  return isTimeZone(contactTz) ? contactTz : isTimeZone(fallback) ? fallback : 'UTC';
}

export interface WallClock extends LocalTime {
  second: number;
}

function partsViaIntl(t: number, tz: string): WallClock {
  const f = formatter(tz) ?? formatter('UTC')!;
  const out: WallClock = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, weekday: 0 };
  for (const p of f.formatToParts(t)) {
    switch (p.type) {
      case 'year': out.year = Number(p.value); break;
      case 'month': out.month = Number(p.value); break;
      case 'day': out.day = Number(p.value); break;
      case 'hour': out.hour = Number(p.value); break;
      case 'minute': out.minute = Number(p.value); break;
      case 'second': out.second = Number(p.value); break;
      case 'weekday': out.weekday = WEEKDAYS[p.value] ?? 0; break;
      default: break;
    }
  }
  return out;
}

/**
 * What the wall clock in `tz` shows at instant t, to the second, read from `Intl` itself (an unknown zone reads as
 * UTC). One `formatToParts` call each, uncached: the send path uses {@link localTime}, whose offset is cached per
 * quarter hour (see below); this is for callers that want the exact reading, such as scoring's calendar days.
 */
export function wallClock(t: number, tz: string): WallClock {
  return partsViaIntl(t, tz);
}

/** Offset of local wall-clock time from UTC at instant t, in ms, exact to the second (uncached, like {@link wallClock}). */
export function exactOffsetMs(t: number, tz: string): number {
  const p = partsViaIntl(t, tz);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - (t - (((t % 1000) + 1000) % 1000));
}

/**
 * UTC offsets only change at transitions, and every transition of the current tz database falls on
 * a quarter hour in UTC, so one `formatToParts` call per zone and quarter hour is enough. This keeps
 * the simulator fast (formatToParts is by far the most expensive call on the send path).
 * Deterministic: a cached value is exactly what the uncached computation returns.
 */
const QUARTER_HOUR = 900_000;
const MAX_CACHED_OFFSETS = 10_000;
const offsetCache = new Map<string, Map<number, number>>();

/** Offset of local wall-clock time from UTC at instant t, in ms (Asia/Shanghai: +8h). */
export function offsetMs(t: number, tz: string): number {
  const bucket = Math.floor(t / QUARTER_HOUR);
  let zone = offsetCache.get(tz);
  if (!zone) offsetCache.set(tz, (zone = new Map()));
  let off = zone.get(bucket);
  if (off === undefined) {
    off = exactOffsetMs(bucket * QUARTER_HOUR, tz);
    if (zone.size >= MAX_CACHED_OFFSETS) zone.clear();
    zone.set(bucket, off);
  }
  return off;
}

function parts(t: number, tz: string): WallClock {
  const d = new Date(t + offsetMs(t, isTimeZone(tz) ? tz : 'UTC'));
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    weekday: d.getUTCDay(),
  };
}

export function localTime(t: number, tz: string): LocalTime {
  return parts(t, tz);
}

/**
 * The instant at which the wall clock in `tz` shows the given local date and minute of day.
 * In a DST gap the result lands just after the gap; in an overlap, on the earlier instant.
 */
export function fromLocal(tz: string, year: number, month: number, day: number, minuteOfDay: number): number {
  const wall = Date.UTC(year, month - 1, day, 0, minuteOfDay);
  // The offsets a day before and after bracket any transition (zones change at most a few times a year).
  const before = offsetMs(wall - DAY_MS, tz);
  const after = offsetMs(wall + DAY_MS, tz);
  const consistent = [wall - before, wall - after].filter((t) => offsetMs(t, tz) === wall - t);
  if (consistent.length > 0) return Math.min(...consistent);
  // In a gap the wall time does not exist: use the offset in force before it, which lands after the gap.
  return wall - before;
}

/** Local calendar date `days` after the local date of t. */
function addDays(p: { year: number; month: number; day: number }, days: number) {
  const d = new Date(Date.UTC(p.year, p.month - 1, p.day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), weekday: d.getUTCDay() };
}

const inRange = (minute: number, start: number, end: number) =>
  start === end ? false : start < end ? minute >= start && minute < end : minute >= start || minute < end;

export interface SendRules {
  quietHours?: { startMinute: number; endMinute: number } | undefined;
  sendWindows: { days: number[]; startMinute: number; endMinute: number }[];
}

/** Outside quiet hours and, if windows are set, inside one of them (window end is exclusive). */
export function isSendAllowed(t: number, tz: string, rules: SendRules): boolean {
  if (!rules.quietHours && rules.sendWindows.length === 0) return true;
  const p = parts(t, tz);
  const m = p.hour * 60 + p.minute;
  if (rules.quietHours && inRange(m, rules.quietHours.startMinute, rules.quietHours.endMinute)) return false;
  if (rules.sendWindows.length === 0) return true;
  return rules.sendWindows.some((w) => w.days.includes(p.weekday) && inRange(m, w.startMinute, w.endMinute));
}

/**
 * The earliest instant ≥ t at which a marketing message may go out, or `undefined` when the rules
 * leave no slot in the coming 8 days (e.g. every window lies inside quiet hours).
 * Candidate instants are only the boundaries where "not allowed" can become "allowed".
 */
export function nextSendTime(t: number, tz: string, rules: SendRules): number | undefined {
  if (isSendAllowed(t, tz, rules)) return t;
  const boundaries = [
    ...(rules.quietHours ? [rules.quietHours.endMinute] : []),
    ...rules.sendWindows.map((w) => w.startMinute),
  ];
  const today = parts(t, tz);
  const candidates: number[] = [];
  for (let d = 0; d <= 8; d++) {
    const date = addDays(today, d);
    for (const minute of boundaries) {
      const c = fromLocal(tz, date.year, date.month, date.day, minute);
      if (c > t) candidates.push(c);
    }
  }
  candidates.sort((a, b) => a - b);
  return candidates.find((c) => isSendAllowed(c, tz, rules));
}

/** The first instant ≥ t when the local clock shows `minuteOfDay` on one of `days`. */
export function nextLocalTime(t: number, tz: string, minuteOfDay: number, days: number[]): number {
  const today = parts(t, tz);
  for (let d = 0; d <= 8; d++) {
    const date = addDays(today, d);
    if (!days.includes(date.weekday)) continue;
    const c = fromLocal(tz, date.year, date.month, date.day, minuteOfDay);
    if (c >= t) return c;
  }
  // Unreachable with at least one weekday; keeps the function total.
  return t + 7 * DAY_MS;
}
