/**
 * The compiler's passes in order — parse, shape, graph, semantic checks, then normalization into a plan — behind
 * its three entry points: a journey, a journey that must compile, and a stand-alone condition.
 */
import type { z } from 'zod';
import {
  Condition as ConditionSchema,
  ExitRule as ExitRuleSchema,
  Goal as GoalSchema,
  isValidTimeZone,
  JourneyDefinition,
  Settings as SettingsSchema,
  Step as StepSchema,
  Trigger as TriggerSchema,
  type Condition,
  type Goal,
} from '../schema';
import { PLAN_VERSION, successors, type JourneyPlan, type PlanCondition, type PlanStep } from '../plan';
import type { TemplateCatalog } from '../../templates/catalog';
import type { OutboundAllowList } from '../../net/addresses';
import { firstUnstorable } from '../../bounds';
import { dedupe, formatError, formatPath, show, type JourneyError, type Path } from './diagnostics';
import { checkGraph } from './graph';
import { contactFieldsOf } from './contact-fields';
import { checkDateTrigger } from './date-trigger';
import { checkEventTypes } from './event-types';
import { condition, conditionEvents, filters, MAX_RETAINED_EVENTS, ms, normalizeSettings, normalizeStep, normalizeTrigger } from './normalize';
import { isObject, parseSource, stepsAsMap } from './parse';
import { Checker } from './semantics';
import { didYouMean } from './suggestions';
import { DEFAULT_TOPICS, type Topics } from '../../contacts/topics';
import { translate } from './zod-issues';
import { scalePlanTime } from './time-scale';

export interface CompileOptions {
  /** Shown in errors; not read. */
  file?: string;
  /** When given, templates are checked for existence, locales and variables. */
  templates?: TemplateCatalog;
  /**
   * The deployment's OUTBOUND_ALLOW: a webhook whose literal host is private, loopback or metadata is an error unless
   * this lists it. @default nothing listed
   */
  outboundAllow?: OutboundAllowList;
  /** The deployment's subscription topics (MAIL_TOPICS), which a send step's `topic` must name. @default DEFAULT_TOPICS */
  topics?: Topics;
  /**
   * Test-only (the differential suite): divide every duration in the plan by this factor, so days of journey time
   * run in seconds through the real workflow. See time-scale.ts for what is scaled. Never set by the API, CLI or
   * worker. @default 1 (nothing scaled)
   */
  timeScale?: number;
  /**
   * Event types known to arrive besides the system's own (src/journey/events.ts): those seen in the events table
   * (CRM and website events), or those sibling journeys use. When given, a journey that triggers on, waits on, exits
   * on or has a goal on a type in neither list gets a warning with a did-you-mean. @default no check
   */
  knownEventTypes?: readonly string[];
  /**
   * `all`: warn on every type in neither list (the API, which knows what arrived); `typos`: only on a type a small edit
   * away from a known one (the CLI, which cannot know what the CRM sends). @default all
   */
  eventTypeWarnings?: 'all' | 'typos';
}

export type CompileResult =
  | { ok: true; plan: JourneyPlan; warnings: JourneyError[] }
  | { ok: false; errors: JourneyError[]; warnings: JourneyError[] };

/**
 * Compile a journey from YAML/JSON text or an already-parsed object. Never throws on bad input:
 * every problem comes back as a {@link JourneyError}.
 */
export function compileJourney(source: string | object, opts: CompileOptions = {}): CompileResult {
  const errors: JourneyError[] = [];
  const finish = (warnings: JourneyError[]): CompileResult => {
    const withFile = (e: JourneyError): JourneyError => ({ ...(opts.file !== undefined ? { file: opts.file } : {}), ...e });
    return { ok: false, errors: errors.map(withFile), warnings: warnings.map(withFile) };
  };
  const parsed = parseSource(source, errors);
  if (!parsed) return finish([]);
  // Work on a copy: list-form steps are rewritten into a map below.
  const raw: unknown = typeof source === 'string' ? parsed.raw : structuredClone(parsed.raw);
  if (!isObject(raw)) {
    errors.push({ path: '', message: `a journey must be a mapping with id, name, triggers and steps (got ${show(raw)})` });
    return finish([]);
  }
  // A string Postgres cannot store (a lone surrogate from a `"\ud800"` escape, NUL) would fail the publish in SQL.
  const unstorable = firstUnstorable(raw);
  if (unstorable) {
    errors.push({ path: formatPath(unstorable.keys), message: unstorable.message, ...parsed.positionOf(unstorable.keys) });
    return finish([]);
  }
  const { indexOf } = stepsAsMap(raw, errors);
  const yamlPath = (path: Path): Path =>
    path[0] === 'steps' && typeof path[1] === 'string' && indexOf.has(path[1]) ? ['steps', indexOf.get(path[1])!, ...path.slice(2)] : path;

  const result = JourneyDefinition.safeParse(raw, { reportInput: true });
  if (!result.success) for (const issue of result.error.issues) translate(issue, [], raw, errors);
  checkGraph(raw, errors);

  // Semantic checks run on every part that is individually valid, so they add to shape errors.
  const settingsParse = SettingsSchema.optional().safeParse(raw.settings);
  const settings = normalizeSettings(settingsParse.success ? settingsParse.data : undefined);
  const checker = new Checker(opts.templates, settings.locales, opts.outboundAllow);
  const each = <T>(schema: z.ZodType<T>, value: unknown, fn: (v: T) => void) => {
    const r = schema.safeParse(value);
    if (r.success) fn(r.data);
  };
  const dateFields = new Set<string>();
  if (Array.isArray(raw.triggers)) {
    raw.triggers.forEach((t, i) =>
      each(TriggerSchema, t, (t) => {
        if (t.type === 'audience') {
          checker.condition(t.filter, ['triggers', i, 'filter']);
          refuseEventConditions(checker, t.filter, ['triggers', i, 'filter']);
        }
        if (t.type === 'schedule' && t.audience) checker.condition(t.audience, ['triggers', i, 'audience']);
        if (t.type === 'change') {
          if (/^(event|journey)\./.test(t.field)) checker.error(['triggers', i, 'field'], `${show(t.field)} is not a contact field: a change trigger watches the contact (e.g. industry, lifecycle_stage, tags, attributes.plan)`);
          else checker.field(t.field, ['triggers', i, 'field']);
        }
        if (t.type === 'date') checkDateTrigger(checker, t, ['triggers', i], dateFields);
      }),
    );
  }
  if (isObject(raw.entry) && typeof raw.entry.key === 'string' && Array.isArray(raw.triggers)) {
    // A key is read from the triggering event: launches (schedule, audience) and contact changes have none to read.
    raw.triggers.forEach((t, i) => {
      if (isObject(t) && t.type !== undefined && t.type !== 'event') checker.error(['entry', 'key'], `needs event triggers: triggers[${i}] is a ${String(t.type)} trigger, whose entries carry no event properties`);
    });
    if (raw.entry.re_entry === 'always') checker.error(['entry', 'key'], 'cannot be combined with re_entry: always (every trigger already starts its own run); use once, after_exit or after');
  }
  if (Array.isArray(raw.exit)) {
    raw.exit.forEach((r, i) => each(ExitRuleSchema, r, (r) => 'when' in r && checker.condition(r.when, ['exit', i, 'when'])));
  }
  const goalIds = new Set<string>();
  if (Array.isArray(raw.goals)) {
    raw.goals.forEach((g, i) =>
      each(GoalSchema, g, (g: Goal) => {
        if (goalIds.has(g.id)) checker.error(['goals', i, 'id'], `${show(g.id)} is used by more than one goal`);
        goalIds.add(g.id);
        if (g.when) checker.condition(g.when, ['goals', i, 'when']);
      }),
    );
  }
  const stepLocales = new Map<string, string[]>();
  let marketingSms = false;
  const rawSteps = isObject(raw.steps) ? raw.steps : {};
  for (const [id, rawStep] of Object.entries(rawSteps)) {
    const r = StepSchema.safeParse(rawStep);
    if (!r.success) {
      // Still check the conditions of a branch that is invalid elsewhere (e.g. missing else).
      if (isObject(rawStep) && Array.isArray(rawStep.conditions)) {
        rawStep.conditions.forEach((c: unknown, i) => {
          if (isObject(c)) each(ConditionSchema, c.when, (w) => checker.condition(w, ['steps', id, 'conditions', i, 'when']));
        });
      }
      continue;
    }
    const s = r.data;
    const at = (...p: Path): Path => ['steps', id, ...p];
    switch (s.type) {
      case 'send_email':
        stepLocales.set(id, checker.template('email', s.template, at('template')));
        if (s.subject) checker.inline(s.subject, at('subject'));
        checkTopic(checker, s, opts.topics ?? DEFAULT_TOPICS, at('topic'));
        break;
      case 'send_sms':
        checkTopic(checker, s, opts.topics ?? DEFAULT_TOPICS, at('topic'));
        if (s.template) stepLocales.set(id, checker.template('sms', s.template, at('template')));
        if (s.body) checker.inline(s.body, at('body'));
        if ((s.category ?? 'marketing') === 'marketing') marketingSms = true;
        break;
      case 'notify':
        if (s.template) stepLocales.set(id, checker.template('chat', s.template, at('template')));
        if (s.message) checker.inline(s.message, at('message'));
        break;
      case 'webhook': {
        checker.inline(s.url, at('url'));
        checker.outboundUrl(s.url, at('url'));
        const walk = (v: unknown, p: Path): void => {
          if (typeof v === 'string') checker.inline(v, p);
          else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
          else if (isObject(v)) for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
        };
        walk(s.body, at('body'));
        break;
      }
      case 'wait':
        if (s.until_date) checker.field(s.until_date.field, at('until_date', 'field'), { entryDate: true });
        break;
      case 'branch':
        s.conditions.forEach((c, i) => checker.condition(c.when, at('conditions', i, 'when')));
        break;
      case 'split': {
        const total = s.paths.reduce((a, p) => a + p.percent, 0);
        if (Math.abs(total - 100) > 1e-9) checker.error(at('paths'), `percentages add up to ${+total.toFixed(4)}, not 100`);
        break;
      }
      case 'set_attribute':
      {
        const known = checker.errors.length;
        checker.field(s.field, at('field'), { writable: true });
        // Built-in fields are text columns (country lives in attributes but is read as text too).
        if (checker.errors.length > known) break;
        if (!s.field.startsWith('attributes.') && s.value !== null && typeof s.value !== 'string') checker.error(at('value'), `${show(s.value)} cannot be stored in ${s.field}: it takes text (or null)`);
        else if (s.field === 'timezone' && typeof s.value === 'string' && !isValidTimeZone(s.value)) checker.error(at('value'), `${show(s.value)} is not an IANA time zone (such as Asia/Shanghai or Europe/Berlin)`);
        break;
      }
      case 'handoff_to_sales':
        if (s.assignment.strategy === 'territory') s.assignment.rules.forEach((r, i) => checker.condition(r.when, at('assignment', 'rules', i, 'when')));
        if (s.assignment.strategy === 'owner_attribute') checker.field(s.assignment.field, at('assignment', 'field'));
        if (s.task?.title) checker.inline(s.task.title, at('task', 'title'));
        break;
      case 'goal':
        if (s.goal !== undefined && goalIds.size > 0 && !goalIds.has(s.goal)) {
          checker.warn(at('goal'), `${show(s.goal)} is not one of the journey's goals (${[...goalIds].join(', ')}); it is recorded under this name`);
        }
        break;
      case 'wait_for_event':
      case 'update_score':
      case 'tag':
      case 'untag':
      case 'set_lifecycle_stage':
      case 'exit':
        break;
    }
  }
  if (marketingSms && !settings.quietHours) {
    checker.warn(['settings', 'quiet_hours'], 'marketing SMS without quiet hours can wake contacts at night (set quiet_hours, e.g. 21:00–08:00)');
  }
  errors.push(...checker.errors);

  const located = (e: JourneyError): JourneyError => {
    if (typeof source !== 'string' || e.line !== undefined) return e;
    const path = e.path.split(/\.|\[(\d+)\]/).filter((x) => x !== undefined && x !== '').map((x) => (/^\d+$/.test(x) ? Number(x) : x));
    return { ...e, ...parsed.positionOf(yamlPath(path)) };
  };
  if (errors.length > 0 || !result.success) {
    errors.splice(0, errors.length, ...dedupe(errors).map(located));
    return finish(checker.warnings.map(located));
  }

  const def = result.data;
  if (opts.knownEventTypes) checkEventTypes(def, opts.knownEventTypes, checker, opts.eventTypeWarnings);
  const planSteps: Record<string, PlanStep> = {};
  for (const [id, s] of Object.entries(def.steps)) planSteps[id] = normalizeStep(id, s, settings, stepLocales.get(id) ?? []);
  const exitRules = (def.exit ?? []).map((r) =>
    'event' in r
      ? { kind: 'event' as const, event: r.event, where: filters(r.where), reason: r.reason ?? `event:${r.event}` }
      : { kind: 'condition' as const, when: condition(r.when), reason: r.reason ?? 'condition' },
  );
  const goals = (def.goals ?? []).map((g) => ({
    id: g.id,
    name: g.name ?? g.id,
    ...(g.event !== undefined ? { event: g.event } : {}),
    where: filters(g.where),
    ...(g.when ? { when: condition(g.when) } : {}),
    ...(g.within ? { withinMs: ms(g.within) } : {}),
    exit: g.exit ?? true,
  }));

  const eventTypes = new Set<string>();
  const windows: number[] = [settings.eventLookbackMs];
  for (const r of exitRules) if (r.kind === 'event') eventTypes.add(r.event); else conditionEvents(r.when, eventTypes, windows);
  for (const g of goals) {
    if (g.event) eventTypes.add(g.event);
    if (g.when) conditionEvents(g.when, eventTypes, windows);
  }
  for (const s of Object.values(planSteps)) {
    if (s.type === 'wait_for_event') {
      eventTypes.add(s.event);
      windows.push(s.lookbackMs);
    } else if (s.type === 'branch') s.conditions.forEach((c) => conditionEvents(c.when, eventTypes, windows));
    else if (s.type === 'handoff_to_sales' && s.assignment.strategy === 'territory') s.assignment.rules.forEach((r) => conditionEvents(r.when, eventTypes, windows));
  }

  const plan: JourneyPlan = {
    v: PLAN_VERSION,
    id: def.id,
    name: def.name,
    ...(def.description !== undefined ? { description: def.description } : {}),
    triggers: def.triggers.map((t) => normalizeTrigger(t, settings)),
    entry: {
      reEntry: typeof def.entry?.re_entry === 'object' ? 'after' : (def.entry?.re_entry ?? 'once'),
      ...(typeof def.entry?.re_entry === 'object' ? { reEntryAfterMs: ms(def.entry.re_entry.after) } : {}),
      maxConcurrent: def.entry?.max_concurrent ?? 1,
      ...(def.entry?.key !== undefined ? { key: def.entry.key.split('.').slice(1) } : {}),
      ...(def.entry?.cap
        ? {
            cap: {
              ...(def.entry.cap.total !== undefined ? { total: def.entry.cap.total } : {}),
              ...(def.entry.cap.per_day !== undefined ? { perDay: def.entry.cap.per_day } : {}),
              ...(def.entry.cap.per_hour !== undefined ? { perHour: def.entry.cap.per_hour } : {}),
              timezone: settings.timezone,
            },
          }
        : {}),
    },
    exitRules,
    goals,
    settings,
    start: def.start ?? Object.keys(def.steps)[0]!,
    steps: planSteps,
    eventTypes: [...eventTypes].sort(),
    retention: { ms: Math.max(...windows), maxEvents: MAX_RETAINED_EVENTS },
  };
  const contactFields = contactFieldsOf(plan);
  if (contactFields.length > 0) plan.contactFields = contactFields;
  // Guard the invariant the interpreter relies on; checkGraph already reported any violation.
  for (const s of Object.values(plan.steps)) for (const n of successors(s)) if (!plan.steps[n]) throw new Error(`internal: ${s.id} → ${n}`);
  return { ok: true, plan: opts.timeScale !== undefined && opts.timeScale !== 1 ? scalePlanTime(plan, opts.timeScale) : plan, warnings: checker.warnings.map((w) => (opts.file !== undefined ? { file: opts.file, ...located(w) } : located(w))) };
}

/**
 * An audience trigger is judged when a contact change arrives (did this change make the contact match?), against the
 * contact alone: "an event seen within N" would need the contact's events and would start matching on an event, not a
 * change, so it is refused here rather than accepted and judged on nothing. Launch filters (schedule audiences, the
 * launch API) keep event conditions.
 */
function refuseEventConditions(checker: Checker, c: Condition, path: Path): void {
  if ('all' in c) c.all.forEach((x, i) => refuseEventConditions(checker, x, [...path, 'all', i]));
  else if ('any' in c) c.any.forEach((x, i) => refuseEventConditions(checker, x, [...path, 'any', i]));
  else if ('not' in c) refuseEventConditions(checker, c.not, [...path, 'not']);
  else if ('event' in c) {
    checker.error([...path, 'event'], `an audience trigger enters contacts when a contact change makes them match, so it can only test contact fields and tags; for "${c.event} within ${c.within}" use an event trigger (type: event, event: ${c.event}) or a schedule trigger with this audience`);
  }
}

/** Compile or throw with every error formatted (for tests, seeds and scripts). */
/** A send step's topic must be a configured one, and only marketing messages have one. */
function checkTopic(checker: Checker, s: { topic?: string | undefined; category?: string | undefined }, topics: Topics, path: Path): void {
  if (s.topic === undefined) return;
  if ((s.category ?? 'marketing') !== 'marketing') {
    checker.error(path, 'only marketing messages have a topic: transactional messages ignore topic preferences');
    return;
  }
  const ids = topics.map((t) => t.id);
  if (!ids.includes(s.topic)) checker.error(path, `${show(s.topic)} is not a configured topic (MAIL_TOPICS: ${ids.join(', ')})${didYouMean(s.topic, ids)}`);
}

export function compileOrThrow(source: string | object, opts: CompileOptions = {}): JourneyPlan {
  const r = compileJourney(source, opts);
  if (!r.ok) throw new Error(r.errors.map(formatError).join('\n'));
  return r.plan;
}

/**
 * Compiles a stand-alone condition in the journey language (an audience filter sent to the launch API), with the
 * same messages as inside a journey; `base` prefixes every error path (e.g. `filter`).
 */
export function compileCondition(raw: unknown, base: Path = []): { ok: true; condition: PlanCondition } | { ok: false; errors: JourneyError[] } {
  const errors: JourneyError[] = [];
  const parsed = ConditionSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) translate(issue, base, raw, errors);
    return { ok: false, errors: dedupe(errors) };
  }
  const checker = new Checker(undefined, []);
  checker.condition(parsed.data, base);
  if (checker.errors.length > 0) return { ok: false, errors: dedupe(checker.errors) };
  return { ok: true, condition: condition(parsed.data) };
}
