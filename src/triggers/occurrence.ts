/**
 * When a date trigger (`type: date`) enters a contact: the occurrence instants of a contact date field, shifted by the
 * trigger's offset, at a local time in the contact's zone, once or every year. Pure and workflow-safe (Intl only, via
 * ../journey/time), so the sweep activity, the simulator and tests compute the same instants.
 *
 * A date field holds a date when it is an ISO-8601 string: `2027-03-01` (a calendar date), `2027-03-01T10:00` (a wall
 * time in the contact's zone) or `2027-03-01T10:00:00Z` / `…+08:00` (an instant). Anything else (`"soon"`, `03/01/2027`,
 * a number, 2027-02-30) is not a date: the contact is skipped with a counted reason.
 */
import { fromLocal, localTime } from '../journey/time';
import type { PlanTrigger } from '../journey/plan';

export type DateTriggerPlan = Extract<PlanTrigger, { type: 'date' }>;
export type DateRule = Pick<DateTriggerPlan, 'offsetMs' | 'at' | 'repeat'>;

const DAY_MS = 86_400_000;

/** The field's value: a calendar date or wall time read in the contact's zone, or an absolute instant. */
export type DateValue =
  | { kind: 'local'; year: number; month: number; day: number; minute: number }
  | { kind: 'instant'; t: number };

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * The same shape as {@link ISO} for Postgres (an ARE): the sweep counts the values that do not have it through a
 * partial index (src/triggers/sweep.ts). Shape-valid values that are no calendar date (2027-02-30) are counted by the
 * sweep when their days come round.
 */
export const ISO_SHAPE_SQL = '^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$';

/** Whether a value has the ISO shape (calendar validity aside): the partial index counts the others. */
export const hasIsoShape = (v: unknown): boolean => typeof v === 'string' && ISO.test(v);

const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const daysIn = (y: number, m: number) => (m === 2 ? (isLeap(y) ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31);
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
export const isoDate = (d: { year: number; month: number; day: number }) => `${pad(d.year, 4)}-${pad(d.month)}-${pad(d.day)}`;

/** The value as a date, or undefined when it is not one (see the module comment). */
export function parseDateValue(v: unknown): DateValue | undefined {
  if (typeof v !== 'string') return undefined;
  const m = ISO.exec(v);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  if (m[4] === undefined) return { kind: 'local', year, month, day, minute: 0 };
  const [hour, minute, second] = [Number(m[4]), Number(m[5]), Number(m[6] ?? 0)];
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  if (m[8] === undefined) return { kind: 'local', year, month, day, minute: hour * 60 + minute };
  const t = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${pad(second)}${m[7] ? `.${m[7].slice(0, 3).padEnd(3, '0')}` : ''}${m[8].length === 5 ? `${m[8].slice(0, 3)}:${m[8].slice(3)}` : m[8]}`);
  return Number.isNaN(t) ? undefined : { kind: 'instant', t };
}

/** The value's calendar date and minute of day on the contact's wall clock. */
function localParts(v: DateValue, tz: string): { year: number; month: number; day: number; minute: number } {
  if (v.kind === 'local') return v;
  const p = localTime(v.t, tz);
  return { year: p.year, month: p.month, day: p.day, minute: p.hour * 60 + p.minute };
}

function addDays(d: { year: number; month: number; day: number }, days: number) {
  const x = new Date(Date.UTC(d.year, d.month - 1, d.day + days));
  return { year: x.getUTCFullYear(), month: x.getUTCMonth() + 1, day: x.getUTCDate() };
}

/**
 * The day a yearly anniversary falls on in `year`. A 29 February anniversary is kept on 28 February in other years
 * (the last day of the same month, as most people born on 29 February celebrate it), never moved into March.
 */
export function anniversaryIn(year: number, month: number, day: number): { year: number; month: number; day: number } {
  return { year, month, day: Math.min(day, daysIn(year, month)) };
}

export interface Occurrence {
  /** The field's date this occurrence belongs to (the anniversary in that year for `yearly`): the entry's key. */
  date: string;
  /** Epoch ms at which the contact enters. */
  at: number;
}

/** The instant for the field date `base` (a calendar date in the contact's zone). */
function instantFor(v: DateValue, rule: DateRule, tz: string, base: { year: number; month: number; day: number }): number {
  if (rule.at !== undefined) {
    // With a local time the offset is whole days (the compiler insists): calendar days, so DST never moves the hour.
    const d = addDays(base, Math.round(rule.offsetMs / DAY_MS));
    return fromLocal(tz, d.year, d.month, d.day, rule.at);
  }
  if (rule.repeat === 'once' && v.kind === 'instant') return v.t + rule.offsetMs;
  return fromLocal(tz, base.year, base.month, base.day, localParts(v, tz).minute) + rule.offsetMs;
}

/** Every occurrence of the value with from < at ≤ to, earliest first. */
export function occurrencesBetween(v: DateValue, rule: DateRule, tz: string, from: number, to: number): Occurrence[] {
  if (to <= from) return [];
  const own = localParts(v, tz);
  if (rule.repeat === 'once') {
    const at = instantFor(v, rule, tz, own);
    return at > from && at <= to ? [{ date: isoDate(own), at }] : [];
  }
  // Anniversaries: years after the field's own year (a signup day is not its own anniversary). The compiler keeps
  // yearly offsets under a year, so two years of margin on each side find every candidate.
  const first = Math.max(own.year + 1, new Date(from - Math.abs(rule.offsetMs)).getUTCFullYear() - 1);
  const last = new Date(to + Math.abs(rule.offsetMs)).getUTCFullYear() + 1;
  const out: Occurrence[] = [];
  for (let y = first; y <= last; y++) {
    const base = anniversaryIn(y, own.month, own.day);
    const at = instantFor(v, rule, tz, base);
    if (at > from && at <= to) out.push({ date: isoDate(base), at });
  }
  return out;
}

/** The first occurrence after `after`, or undefined when there is none (a one-off date that has passed). */
export function nextOccurrence(v: DateValue, rule: DateRule, tz: string, after: number): Occurrence | undefined {
  const own = localParts(v, tz);
  if (rule.repeat === 'once') {
    const at = instantFor(v, rule, tz, own);
    return at > after ? { date: isoDate(own), at } : undefined;
  }
  // Two years always hold the next anniversary (offsets are under a year).
  return occurrencesBetween(v, rule, tz, after, after + 2 * 366 * DAY_MS + Math.abs(rule.offsetMs))[0];
}

/**
 * The field dates (calendar days, inclusive) whose occurrences can fall in (from, to], with margin for every zone's
 * offset and the local time: what the indexed query asks Postgres for before the exact check above.
 */
export function candidateDays(rule: DateRule, from: number, to: number): { first: string; last: string } {
  const day = (t: number) => {
    const d = new Date(t);
    return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
  };
  return { first: isoDate(addDays(day(from - rule.offsetMs), -2)), last: isoDate(addDays(day(to - rule.offsetMs), 2)) };
}

/**
 * For yearly triggers: the month-days (`MM-DD`) whose anniversaries can fall in (from, to], or undefined when the
 * window spans a whole year (every day can). 29 February joins whenever 28 February is in (its non-leap day).
 */
export function candidateMonthDays(rule: DateRule, from: number, to: number): string[] | undefined {
  const { first, last } = candidateDays(rule, from, to);
  const start = Date.parse(`${first}T00:00:00Z`);
  const end = Date.parse(`${last}T00:00:00Z`);
  if (end - start >= 365 * DAY_MS) return undefined;
  const out = new Set<string>();
  for (let t = start; t <= end; t += DAY_MS) {
    const md = new Date(t).toISOString().slice(5, 10);
    out.add(md);
    if (md === '02-28') out.add('02-29');
  }
  return [...out].sort();
}
