/**
 * Calendar arithmetic for cap periods and decay days in the model's time zone. Pure: time is always an argument.
 */
import { DURATION_MS, parseDuration } from '../journey/duration';
import type { CapPeriod } from './model';

const DAY = DURATION_MS.DAY;
/** Multi-day windows count from a Monday so that `7d` is the Monday–Sunday week. 1970-01-05 was a Monday. */
const MONDAY_EPOCH_DAY = 4;

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** Wall-clock fields of an instant in a zone. */
function wallClock(at: number, tz: string): { y: number; m: number; d: number; h: number; mi: number; s: number } {
  const parts: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(new Date(at))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { y: parts.year!, m: parts.month!, d: parts.day!, h: parts.hour!, mi: parts.minute!, s: parts.second! };
}

/** Offset of `tz` from UTC at instant `at`, in ms (Asia/Shanghai → +8h). */
function offsetAt(at: number, tz: string): number {
  const w = wallClock(at, tz);
  const asUtc = Date.UTC(w.y, w.m - 1, w.d, w.h, w.mi, w.s);
  return asUtc - (at - (((at % 1000) + 1000) % 1000));
}

/** Local calendar day number (days since 1970-01-01 of the local date). */
export function localDayNumber(at: Date, tz: string): number {
  const w = wallClock(at.getTime(), tz);
  return Math.floor(Date.UTC(w.y, w.m - 1, w.d) / DAY);
}

/** `yyyy-mm-dd` of the local date: the day part of decay idempotency keys. */
export function localDate(at: Date, tz: string): string {
  return new Date(localDayNumber(at, tz) * DAY).toISOString().slice(0, 10);
}

/** The instant local midnight starts on local day `dayNumber`. */
export function startOfLocalDay(dayNumber: number, tz: string): Date {
  const guess = dayNumber * DAY;
  // Two passes settle the offset even when the day starts next to a DST change.
  let t = guess - offsetAt(guess, tz);
  t = guess - offsetAt(t, tz);
  return new Date(t);
}

export type Window = { start: Date; end: Date };

/**
 * The cap period containing `at`: `[start, end)`. `1d` is the local calendar day, `7d` the local Monday–Sunday week,
 * other lengths consecutive N-day blocks counted from Monday 1970-01-05; `lifetime` is all of time.
 */
export function capWindow(per: CapPeriod, at: Date, tz: string): Window {
  // Bounds every driver and Postgres can parse (JS's maximum date cannot be written as an ISO string Postgres accepts).
  if (per === 'lifetime') return { start: new Date('0001-01-01T00:00:00Z'), end: new Date('9999-12-31T23:59:59.999Z') };
  const days = parseDays(per);
  const day = localDayNumber(at, tz) - MONDAY_EPOCH_DAY;
  const first = day - (((day % days) + days) % days) + MONDAY_EPOCH_DAY;
  return { start: startOfLocalDay(first, tz), end: startOfLocalDay(first + days, tz) };
}

function parseDays(per: string): number {
  // The model schema has already checked that this is a whole, positive number of days.
  const ms = parseDuration(per);
  if (ms === undefined || ms <= 0 || ms % DAY !== 0) throw new Error(`cap period "${per}" is not a whole number of days`);
  return ms / DAY;
}
