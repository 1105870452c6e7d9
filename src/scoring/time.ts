/**
 * Calendar arithmetic for cap periods and decay days in the model's time zone. Pure: time is always an argument.
 * Wall-clock readings and offsets come from journey/time.ts, read exactly (not its per-quarter-hour cache): a day
 * boundary here is where Intl puts it, to the second.
 */
import { DURATION_MS, parseDuration } from '../journey/duration';
import { exactOffsetMs, isTimeZone, wallClock } from '../journey/time';
import type { CapPeriod } from './model';

const DAY = DURATION_MS.DAY;
/** Multi-day windows count from a Monday so that `7d` is the Monday–Sunday week. 1970-01-05 was a Monday. */
const MONDAY_EPOCH_DAY = 4;

/**
 * The model's zone, which the model schema has validated. journey/time.ts falls back to UTC for an unknown zone;
 * scoring never did, so an invalid one still throws the RangeError `Intl.DateTimeFormat` throws for it.
 */
function zone(tz: string): string {
  if (!isTimeZone(tz)) throw new RangeError(`Invalid time zone specified: ${tz}`);
  return tz;
}

/** Local calendar day number (days since 1970-01-01 of the local date). */
export function localDayNumber(at: Date, tz: string): number {
  const w = wallClock(at.getTime(), zone(tz));
  return Math.floor(Date.UTC(w.year, w.month - 1, w.day) / DAY);
}

/** `yyyy-mm-dd` of the local date: the day part of decay idempotency keys. */
export function localDate(at: Date, tz: string): string {
  return new Date(localDayNumber(at, tz) * DAY).toISOString().slice(0, 10);
}

/** The instant local midnight starts on local day `dayNumber`. */
export function startOfLocalDay(dayNumber: number, tz: string): Date {
  zone(tz);
  const guess = dayNumber * DAY;
  // Two passes settle the offset even when the day starts next to a DST change.
  let t = guess - exactOffsetMs(guess, tz);
  t = guess - exactOffsetMs(t, tz);
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
