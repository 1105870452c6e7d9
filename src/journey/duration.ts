/**
 * Durations as marketers write them: `30s`, `15m`, `2h`, `2d`, `1w`, combinations in
 * descending order such as `1d12h`, or ISO-8601 (`P2D`, `PT48H`, `P1DT12H`).
 *
 * Months and years are deliberately not accepted: their length depends on the calendar,
 * and a journey plan stores plain milliseconds so that it stays deterministic.
 *
 * Pure module (no Node builtins): the interpreter may import it.
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

const SHORT = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
const ISO = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;

/** Regex source used for the JSON Schema `pattern` (editors flag bad durations while typing). */
export const DURATION_PATTERN =
  '^(?:(?:\\d+w)?(?:\\d+d)?(?:\\d+h)?(?:\\d+m)?(?:\\d+s)?|P(?:\\d+W)?(?:\\d+D)?(?:T(?:\\d+H)?(?:\\d+M)?(?:\\d+S)?)?)$';
export const SIGNED_DURATION_PATTERN =
  '^[+-]?(?:(?:\\d+w)?(?:\\d+d)?(?:\\d+h)?(?:\\d+m)?(?:\\d+s)?|P(?:\\d+W)?(?:\\d+D)?(?:T(?:\\d+H)?(?:\\d+M)?(?:\\d+S)?)?)$';

export const DURATION_HINT = 'use 2d, 48h or P2D';

/**
 * The longest duration a journey may state (100 years). Beyond it a wait is no plan, and the time it yields no longer
 * fits what Temporal timers, Postgres timestamps or a Date can hold: the run, a launch or the stats would fail on it.
 */
export const MAX_DURATION_MS = 36_500 * DAY;
export const MAX_DURATION_HINT = 'is longer than 100 years (36500d), the longest a journey may state';

function sum(m: RegExpExecArray): number | undefined {
  const [, w, d, h, mi, s] = m;
  // "P", "PT" and "" match the regexes with every group empty: they are not durations.
  if (w === undefined && d === undefined && h === undefined && mi === undefined && s === undefined) return undefined;
  const n = (x: string | undefined) => (x === undefined ? 0 : Number(x));
  return n(w) * WEEK + n(d) * DAY + n(h) * HOUR + n(mi) * MINUTE + n(s) * SECOND;
}

/** Milliseconds for a duration string, or `undefined` if it is not one. */
export function parseDuration(text: string): number | undefined {
  const m = SHORT.exec(text) ?? ISO.exec(text);
  if (!m) return undefined;
  if (text.startsWith('P') && text.endsWith('T')) return undefined;
  return sum(m);
}

/** Like {@link parseDuration} but accepts a leading `+` or `-` (offsets such as `-3d`). */
export function parseSignedDuration(text: string): number | undefined {
  const sign = text.startsWith('-') ? -1 : 1;
  const body = text.startsWith('-') || text.startsWith('+') ? text.slice(1) : text;
  const ms = parseDuration(body);
  return ms === undefined ? undefined : sign * ms;
}

export function isDuration(text: string): boolean {
  return parseDuration(text) !== undefined;
}

/** Compact human form (`1d12h`, `-3d`, `0s`), the inverse of {@link parseDuration} for whole seconds. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  let out = '';
  for (const [unit, size] of [['w', WEEK], ['d', DAY], ['h', HOUR], ['m', MINUTE], ['s', SECOND]] as const) {
    const q = Math.floor(rest / size);
    if (q > 0) {
      out += `${q}${unit}`;
      rest -= q * size;
    }
  }
  if (rest > 0) out += `${rest}ms`;
  return sign + out;
}

export const DURATION_MS = { SECOND, MINUTE, HOUR, DAY, WEEK } as const;
