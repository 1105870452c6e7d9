/**
 * Cron expressions for schedule triggers: the subset that Temporal Schedules read the same way as the parser library
 * (croner) we use to show the next fire times. Not imported by workflow code (croner stays out of the bundle).
 *
 * Temporal's cron strings (server: service/worker/scheduler calendar parsing) are five fields — minute, hour,
 * day-of-month, month, day-of-week — with `*`, values, ranges `a-b`, steps `*\/n` and `a-b/n`, lists, month names
 * and weekday names, 7 as Sunday, and the nicknames `@yearly @annually @monthly @weekly @daily @midnight @hourly`.
 * Where the two readings differ we refuse rather than let the preview and production disagree:
 * - a `#` starts a comment for Temporal but means "nth weekday" elsewhere; `L`, `W` and `?` are not Temporal's;
 * - `a/n` (a value with a step) means "a to the end, every n" for Temporal; croner refuses it: write `a-59/n`;
 * - six or seven fields (seconds, years), `@every` and a `TZ=` prefix: the trigger's `timezone` says the zone.
 * Temporal matches a time only when day-of-month *and* day-of-week both match (not classic cron's "either"), so
 * croner runs with `domAndDow`.
 */
import { Cron as Croner } from 'croner';

const NICKNAMES: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** Value of names[0]. */
  namesFrom?: number;
}

const FIELDS: FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, namesFrom: 1 },
  { name: 'day of week', min: 0, max: 7, names: DAYS, namesFrom: 0 },
];

/** One field's problem, or undefined. */
function fieldProblem(text: string, f: FieldSpec): string | undefined {
  const value = (s: string): number | string => {
    if (/^\d+$/.test(s)) {
      const n = Number(s);
      return n < f.min || n > f.max ? `${f.name} ${s} is out of range ${f.min}–${f.max}` : n;
    }
    const i = f.names?.indexOf(s.toLowerCase()) ?? -1;
    if (i >= 0) return i + f.namesFrom!;
    const names = f.names ? ` or a three-letter name such as ${f.names[1]!.toUpperCase()}` : '';
    return `${f.name} ${JSON.stringify(s)} is not a number ${f.min}–${f.max}${names}`;
  };
  for (const part of text.split(',')) {
    if (part === '') return `${f.name} has an empty list item`;
    const [range, step, extra] = part.split('/');
    if (extra !== undefined) return `${f.name} ${JSON.stringify(part)} has more than one /`;
    if (step !== undefined && !/^[1-9]\d*$/.test(step)) return `${f.name} step ${JSON.stringify(step)} is not a whole number of at least 1`;
    if (range === '*') continue;
    const bounds = range!.split('-');
    if (bounds.length > 2) return `${f.name} ${JSON.stringify(part)} has more than one -`;
    const [a, b] = bounds.map(value);
    if (typeof a === 'string') return a;
    if (b === undefined) {
      if (step !== undefined) return `${f.name} ${JSON.stringify(part)}: a step needs * or a range (write ${range}-${f.max}/${step})`;
      continue;
    }
    if (typeof b === 'string') return b;
    if (b < a!) return `${f.name} range ${JSON.stringify(range)} runs backwards`;
  }
  return undefined;
}

export type CronCheck = { ok: true; pattern: string } | { ok: false; problem: string };

/** Checks a cron expression; on success `pattern` is the five-field form both Temporal and croner read alike. */
export function checkCron(expression: string): CronCheck {
  const trimmed = expression.trim();
  if (trimmed === '') return { ok: false, problem: 'it is empty' };
  if (trimmed.startsWith('@')) {
    // Temporal matches nicknames exactly (lowercase).
    const pattern = NICKNAMES[trimmed];
    if (!pattern) return { ok: false, problem: `unknown nickname (use one of ${Object.keys(NICKNAMES).join(', ')})` };
    return { ok: true, pattern };
  }
  if (/^(CRON_)?TZ=/i.test(trimmed)) return { ok: false, problem: 'set the zone with the trigger\'s timezone, not a TZ= prefix' };
  const m = /[#LW?]/i.exec(trimmed.replace(/[a-z]{3}/gi, (s) => (MONTHS.includes(s.toLowerCase()) || DAYS.includes(s.toLowerCase()) ? '0' : s)));
  if (m) return { ok: false, problem: `${JSON.stringify(m[0])} is not supported (Temporal Schedules read it differently or not at all)` };
  const fields = trimmed.split(/\s+/);
  if (fields.length !== 5) return { ok: false, problem: `it has ${fields.length} field${fields.length === 1 ? '' : 's'}; use five: minute hour day-of-month month day-of-week` };
  for (const [i, f] of fields.entries()) {
    const p = fieldProblem(f, FIELDS[i]!);
    if (p) return { ok: false, problem: p };
  }
  const pattern = fields.join(' ');
  let next: Date | null;
  try {
    next = croner(pattern, 'UTC').nextRun(new Date(Date.UTC(2000, 0, 1)));
  } catch (err) {
    return { ok: false, problem: (err as Error).message.replace(/^CronPattern: /, '') };
  }
  if (!next) return { ok: false, problem: 'it never fires (no such date)' };
  return { ok: true, pattern };
}

const croner = (pattern: string, timezone: string) => new Croner(pattern, { timezone, paused: true, domAndDow: true });

/** The next `count` fire times strictly after `from` (epoch ms), computed in `timezone`. */
export function nextCronTimes(expression: string, timezone: string, from: number, count: number): number[] {
  const c = checkCron(expression);
  if (!c.ok) throw new Error(`not a cron expression: ${c.problem}`);
  return croner(c.pattern, timezone)
    .nextRuns(count, new Date(from))
    .map((d) => d.getTime());
}

/** A schedule trigger's next fire times, for previews (simulate). */
export interface ScheduleFireTimes {
  trigger: number;
  /** The cron expression, or the one-off time as written in the plan (ISO). */
  schedule: string;
  timezone: string;
  /** Epoch ms. */
  next: number[];
  /** The same instants as local wall-clock times in `timezone` (`2026-12-08 09:00 Tue`). */
  local: string[];
}

const localFormat = new Map<string, Intl.DateTimeFormat>();
/** `2026-12-08 09:00 Tue` in the given zone (`2026-12-08 09:00:05 Tue` with seconds). */
export function formatLocal(ms: number, timezone: string, opts: { seconds?: boolean } = {}): string {
  const key = `${timezone}\n${opts.seconds ? 's' : ''}`;
  let f = localFormat.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', ...(opts.seconds ? { second: '2-digit' as const } : {}), weekday: 'short', hourCycle: 'h23',
    });
    localFormat.set(key, f);
  }
  const p = Object.fromEntries(f.formatToParts(ms).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}${opts.seconds ? `:${p.second}` : ''} ${p.weekday}`;
}

/**
 * The next `count` fire times of every schedule trigger after `from`: a cron trigger in its time zone, an `at` trigger
 * once (nothing when that time has passed). Other trigger types are left out.
 */
export function scheduleFireTimes(
  triggers: readonly { type: string; cron?: string; at?: number; timezone?: string }[],
  from: number,
  count = 5,
): ScheduleFireTimes[] {
  const out: ScheduleFireTimes[] = [];
  triggers.forEach((t, i) => {
    if (t.type !== 'schedule') return;
    const timezone = t.timezone ?? 'UTC';
    const next = t.cron !== undefined ? nextCronTimes(t.cron, timezone, from, count) : t.at !== undefined && t.at > from ? [t.at] : [];
    const schedule = t.cron ?? new Date(t.at!).toISOString();
    out.push({ trigger: i, schedule, timezone, next, local: next.map((ms) => formatLocal(ms, timezone)) });
  });
  return out;
}

/** Text for the CLI and the API's `text`: one block per schedule trigger. */
export function formatFireTimes(list: ScheduleFireTimes[]): string {
  return list
    .map((s) => {
      const head = `triggers.${s.trigger} schedule ${JSON.stringify(s.schedule)} (${s.timezone}):`;
      return s.next.length === 0 ? `${head} no future fire time` : `${head} next ${s.next.length === 1 ? 'fire' : `${s.next.length} fires`}\n${s.local.map((l) => `  ${l}`).join('\n')}`;
    })
    .join('\n');
}
