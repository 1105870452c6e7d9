/**
 * Normalization of a valid journey definition into plan form: durations to milliseconds, times of day to minutes,
 * weekdays to numbers, field names to paths, comparisons to tests, and every default made explicit.
 */
import { parseDuration, parseSignedDuration } from '../duration';
import type { Comparison, Condition, PropertyFilters, Settings, Step, Trigger, Weekday } from '../schema';
import type { PlanAssignment, PlanCondition, PlanFilter, PlanSettings, PlanStep, PlanTest, PlanTrigger } from '../plan';

type Scalar = Extract<PlanTest, { op: 'in' }>['value'][number];
import { isObject } from './parse';
import { normalizeRegion, regionRuleValues } from '../../contacts/regions';

const DEFAULT_LOOKBACK_MS = 15 * 60 * 1000;
export const MAX_RETAINED_EVENTS = 100;
const WEEKDAY_NUMBER: Record<Weekday, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };
const ALL_DAYS = [0, 1, 2, 3, 4, 5, 6];

const fieldPath = (field: string) => field.split('.');
const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
export const ms = (d: string) => parseDuration(d)!;

function tests(c: Comparison): PlanTest[] {
  const out: PlanTest[] = [];
  if (c.eq !== undefined) out.push({ op: 'eq', value: c.eq });
  if (c.neq !== undefined) out.push({ op: 'neq', value: c.neq });
  if (c.in !== undefined) out.push({ op: 'in', value: c.in });
  if (c.contains !== undefined) out.push({ op: 'contains', value: c.contains });
  for (const op of ['gt', 'gte', 'lt', 'lte'] as const) if (c[op] !== undefined) out.push({ op, value: c[op] });
  if (c.exists !== undefined) out.push({ op: 'exists', value: c.exists });
  for (const op of ['before', 'after'] as const) {
    const v = c[op];
    if (v === undefined) continue;
    const rel = parseSignedDuration(v);
    out.push({ op, value: rel !== undefined ? { rel } : { abs: Date.parse(v) } });
  }
  return out;
}

export function filters(where: PropertyFilters | undefined): PlanFilter[] {
  return Object.entries(where ?? {}).map(([key, value]) => ({
    path: fieldPath(key),
    tests: isObject(value) ? tests(value as Comparison) : [{ op: 'eq', value }],
  }));
}

export function condition(c: Condition): PlanCondition {
  if ('all' in c) return { op: 'all', of: c.all.map(condition) };
  if ('any' in c) return { op: 'any', of: c.any.map(condition) };
  if ('not' in c) return { op: 'not', of: condition(c.not) };
  if ('tag' in c) return { op: 'tag', tag: c.tag };
  if ('event' in c) return { op: 'event', event: c.event, where: filters(c.where), withinMs: ms(c.within), atLeast: c.at_least ?? 1 };
  const { field, ...ops } = c;
  return { op: 'field', field: fieldPath(field), tests: field === 'region' ? foldRegionTests(tests(ops)) : tests(ops) };
}

/**
 * Contacts hold folded regions (`北京市` is stored as `CN-BJ`), so a rule's region values are folded the same way:
 * `in: [北京, 华东]` becomes `in: [CN-BJ, 华东, CN-SH, CN-JS, …]` (see regionRuleValues). A value that stands for
 * several (a macro-region, China) turns `eq` into `in` and `neq` into one `neq` per value.
 */
function foldRegionTests(list: PlanTest[]): PlanTest[] {
  return list.flatMap((t): PlanTest[] => {
    if (t.op === 'in') {
      const values: Scalar[] = t.value.flatMap((v): Scalar[] => (typeof v === 'string' ? regionRuleValues(v) : [v]));
      return [{ op: 'in', value: [...new Set(values)] }];
    }
    if ((t.op === 'eq' || t.op === 'neq') && typeof t.value === 'string') {
      const values = regionRuleValues(t.value);
      if (values.length === 1) return [{ op: t.op, value: values[0]! }];
      return t.op === 'eq' ? [{ op: 'in', value: values }] : values.map((value) => ({ op: 'neq' as const, value }));
    }
    return [t];
  });
}

export function conditionEvents(c: PlanCondition, into: Set<string>, windows: number[]): void {
  if (c.op === 'all' || c.op === 'any') c.of.forEach((x) => conditionEvents(x, into, windows));
  else if (c.op === 'not') conditionEvents(c.of, into, windows);
  else if (c.op === 'event') {
    into.add(c.event);
    windows.push(c.withinMs);
  }
}

export function normalizeSettings(s: Settings | undefined): PlanSettings {
  const defaultLocale = s?.default_locale ?? 'en';
  const caps: PlanSettings['frequencyCaps'] = {};
  for (const ch of ['email', 'sms'] as const) {
    const cap = s?.frequency_caps?.[ch];
    if (cap) caps[ch] = { max: cap.max, perMs: ms(cap.per), onCap: cap.on_cap ?? 'defer' };
  }
  return {
    timezone: s?.timezone ?? 'UTC',
    defaultLocale,
    locales: s?.locales ?? [defaultLocale],
    ...(s?.quiet_hours ? { quietHours: { startMinute: minutes(s.quiet_hours.start), endMinute: minutes(s.quiet_hours.end) } } : {}),
    sendWindows: (s?.send_windows ?? []).map((w) => ({
      days: w.days ? [...new Set(w.days.map((d) => WEEKDAY_NUMBER[d]))].sort() : ALL_DAYS,
      startMinute: minutes(w.start),
      endMinute: minutes(w.end),
    })),
    frequencyCaps: caps,
    costs: {
      currency: s?.costs?.currency ?? 'USD',
      email: s?.costs?.email ?? 0,
      sms: s?.costs?.sms ?? 0,
      webhook: s?.costs?.webhook ?? 0,
      notify: s?.costs?.notify ?? 0,
      ...(s?.costs?.campaign !== undefined ? { campaign: s.costs.campaign } : {}),
    },
    unknownContact: s?.unknown_contact ?? 'reject',
    eventLookbackMs: s?.event_lookback ? ms(s.event_lookback) : DEFAULT_LOOKBACK_MS,
  };
}

export function normalizeTrigger(t: Trigger, settings: PlanSettings): PlanTrigger {
  switch (t.type) {
    case 'event':
      return { type: 'event', event: t.event, where: filters(t.where) };
    case 'audience':
      return { type: 'audience', filter: condition(t.filter) };
    case 'schedule':
      return {
        type: 'schedule',
        ...(t.cron !== undefined ? { cron: t.cron } : {}),
        ...(t.at !== undefined ? { at: Date.parse(t.at) } : {}),
        timezone: t.timezone ?? settings.timezone,
        ...(t.audience ? { audience: condition(t.audience) } : {}),
      };
    case 'change':
      return {
        type: 'change',
        field: fieldPath(t.field),
        ...(t.from !== undefined ? { from: t.field === 'region' && typeof t.from === 'string' ? normalizeRegion(t.from) : t.from } : {}),
        ...(t.to !== undefined ? { to: t.field === 'region' && typeof t.to === 'string' ? normalizeRegion(t.to) : t.to } : {}),
      };
    case 'date':
      return {
        type: 'date',
        field: fieldPath(t.field),
        offsetMs: t.offset ? parseSignedDuration(t.offset)! : 0,
        ...(t.at !== undefined ? { at: minutes(t.at) } : {}),
        repeat: t.repeat ?? 'once',
        ...(t.audience ? { audience: condition(t.audience) } : {}),
      };
  }
}

export function normalizeStep(id: string, s: Step, settings: PlanSettings, locales: string[]): PlanStep {
  const label = s.name !== undefined ? { name: s.name } : {};
  switch (s.type) {
    case 'send_email':
      return {
        id, type: s.type, ...label, template: s.template,
        ...(s.subject !== undefined ? { subject: s.subject } : {}),
        ...(s.from !== undefined ? { from: s.from } : {}),
        ...(s.reply_to !== undefined ? { replyTo: s.reply_to } : {}),
        ...(s.topic !== undefined ? { topic: s.topic } : {}),
        category: s.category ?? 'marketing', locales, next: s.next, onFailure: s.on_failure ?? s.next,
      };
    case 'send_sms':
      return {
        id, type: s.type, ...label,
        ...(s.template !== undefined ? { template: s.template } : {}),
        ...(s.body !== undefined ? { body: s.body } : {}),
        ...(s.topic !== undefined ? { topic: s.topic } : {}),
        category: s.category ?? 'marketing', locales, next: s.next, onFailure: s.on_failure ?? s.next,
      };
    case 'webhook':
      return {
        id, type: s.type, ...label, url: s.url, method: s.method ?? 'POST', headers: s.headers ?? {},
        ...(s.body !== undefined ? { body: s.body } : {}),
        timeoutMs: s.timeout ? ms(s.timeout) : 10_000, retries: s.retries ?? 3, next: s.next, onFailure: s.on_failure ?? s.next,
      };
    case 'notify':
      return {
        id, type: s.type, ...label, channel: s.channel, to: s.to,
        ...(s.message !== undefined ? { message: s.message } : {}),
        ...(s.template !== undefined ? { template: s.template } : {}),
        locales, next: s.next, onFailure: s.on_failure ?? s.next,
      };
    case 'wait':
      return {
        id, type: s.type, ...label,
        wait: s.duration !== undefined
          ? { mode: 'duration', ms: ms(s.duration) }
          : s.until_date !== undefined
            ? { mode: 'until_date', field: fieldPath(s.until_date.field), offsetMs: s.until_date.offset ? parseSignedDuration(s.until_date.offset)! : 0 }
            : { mode: 'until_time', minute: minutes(s.until_time!.time), days: s.until_time!.days ? [...new Set(s.until_time!.days.map((d) => WEEKDAY_NUMBER[d]))].sort() : ALL_DAYS },
        next: s.next, onMissing: s.on_missing ?? s.next,
      };
    case 'wait_for_event':
      return {
        id, type: s.type, ...label, event: s.event, where: filters(s.where), timeoutMs: ms(s.timeout),
        lookbackMs: s.lookback ? ms(s.lookback) : settings.eventLookbackMs, onEvent: s.on_event, onTimeout: s.on_timeout,
      };
    case 'branch':
      return { id, type: s.type, ...label, conditions: s.conditions.map((c) => ({ when: condition(c.when), next: c.next })), else: s.else };
    case 'split':
      return { id, type: s.type, ...label, paths: s.paths.map((p) => ({ name: p.name, percent: p.percent, holdout: p.holdout ?? false, next: p.next })) };
    case 'update_score':
      return { id, type: s.type, ...label, delta: s.delta, reason: s.reason, next: s.next };
    case 'tag':
    case 'untag':
      return { id, type: s.type, ...label, tags: typeof s.tags === 'string' ? [s.tags] : s.tags, next: s.next };
    case 'set_attribute':
      // A region is stored folded (as the contacts API folds it), so rules compare the same canonical value.
      return { id, type: s.type, ...label, field: fieldPath(s.field), value: s.field === 'region' && typeof s.value === 'string' ? normalizeRegion(s.value) : s.value, next: s.next };
    case 'set_lifecycle_stage':
      return { id, type: s.type, ...label, stage: s.stage, next: s.next };
    case 'handoff_to_sales': {
      const a = s.assignment;
      const assignment: PlanAssignment =
        a.strategy === 'round_robin'
          ? { strategy: 'round_robin', team: a.team }
          : a.strategy === 'territory'
            ? { strategy: 'territory', rules: a.rules.map((r) => ({ when: condition(r.when), ...(r.team ? { team: r.team } : {}), ...(r.owner ? { owner: r.owner } : {}) })), fallbackTeam: a.fallback_team }
            : { strategy: 'owner_attribute', field: fieldPath(a.field), fallbackTeam: a.fallback_team };
      return {
        id, type: s.type, ...label, assignment,
        ...(s.task ? { task: { title: s.task.title ?? 'Follow up with {{contact.first_name}} {{contact.last_name}}', dueMs: ms(s.task.due) } } : {}),
        ...(s.sla ? { sla: { afterMs: ms(s.sla.after), escalateTo: s.sla.escalate_to ?? 'manager', ...(s.sla.channel ? { channel: s.sla.channel } : {}) } } : {}),
        next: s.next, onFailure: s.on_failure ?? s.next,
      };
    }
    case 'goal':
      return { id, type: s.type, ...label, goal: s.goal ?? id };
    case 'exit':
      return { id, type: s.type, ...label, reason: s.reason ?? id };
  }
}
