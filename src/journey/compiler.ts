/**
 * Journey compiler: YAML/JSON source → validated, normalized {@link JourneyPlan}.
 *
 * Reports every problem it can find in one pass (a marketer fixing errors one by one through a
 * CI loop is the experience we avoid): YAML syntax, shape (zod issues rewritten as sentences that
 * name the field), step graph (unknown references, unreachable steps, loops without a wait, split
 * percentages) and templates (existence, locales, variables no contact field provides).
 * Graph checks run on the raw document, so they still work when some steps have shape errors.
 */
import type { Node as YamlNode } from 'yaml';
import { parseYamlDocument } from '../yaml-document';
import type { z } from 'zod';
import { parseDuration, parseSignedDuration } from './duration';
import {
  CONTACT_FIELDS,
  Condition as ConditionSchema,
  ExitRule as ExitRuleSchema,
  Goal as GoalSchema,
  JourneyDefinition,
  OPERATORS,
  Settings as SettingsSchema,
  Step as StepSchema,
  STEP_TYPES,
  Trigger as TriggerSchema,
  type Comparison,
  type Condition,
  type Goal,
  type PropertyFilters,
  type Settings,
  type Step,
  type Trigger,
  type Weekday,
} from './schema';
import {
  PLAN_VERSION,
  successors,
  type JourneyPlan,
  type PlanAssignment,
  type PlanCondition,
  type PlanFilter,
  type PlanSettings,
  type PlanStep,
  type PlanTest,
  type PlanTrigger,
} from './plan';
import { templateUsage, type TemplateCatalog, type TemplateKind } from './templates';
import { isKnownTemplateVariable, isPrototypeMember, KNOWN_HELPERS } from './template-context';

export interface JourneyError {
  file?: string;
  /** Dotted path into the journey (`steps.wait-click.timeout`); empty for document-level problems. */
  path: string;
  stepId?: string;
  message: string;
  /** 1-based line in the YAML source, when known. */
  line?: number;
}

export interface CompileOptions {
  /** Shown in errors; not read. */
  file?: string;
  /** When given, templates are checked for existence, locales and variables. */
  templates?: TemplateCatalog;
}

export type CompileResult =
  | { ok: true; plan: JourneyPlan; warnings: JourneyError[] }
  | { ok: false; errors: JourneyError[]; warnings: JourneyError[] };

/** `journeys/new-lead.yaml: steps.wait-click.timeout: "2 dayz" is not a duration (use 2d, 48h or P2D)` */
export function formatError(e: JourneyError): string {
  return [e.file, e.path, e.message].filter((x) => x !== undefined && x !== '').join(': ');
}

type Path = (string | number)[];
type Raw = Record<string, unknown>;

const DEFAULT_LOOKBACK_MS = 15 * 60 * 1000;
const MAX_RETAINED_EVENTS = 100;
const WEEKDAY_NUMBER: Record<Weekday, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };
const ALL_DAYS = [0, 1, 2, 3, 4, 5, 6];

const isObject = (x: unknown): x is Raw => typeof x === 'object' && x !== null && !Array.isArray(x);
const INLINE_HELPERS = KNOWN_HELPERS.filter((h) => h !== 'log').join(', ');
const show = (x: unknown): string => (typeof x === 'string' ? JSON.stringify(x) : x === undefined ? 'nothing' : JSON.stringify(x) ?? String(x));

export function formatPath(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

// --- suggestions ----------------------------------------------------------------------------------

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

function didYouMean(input: string, candidates: Iterable<string>): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(input.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(input.length / 4)) ? ` (did you mean "${best}"?)` : '';
}

/** Known keys of each step type, for "did you mean" on misspelt fields. */
const STEP_KEYS: Record<string, string[]> = Object.fromEntries(
  StepSchema.options.map((o) => [o.shape.type.value, Object.keys(o.shape)]),
);
const VOCABULARY = new Set<string>([
  ...Object.keys(JourneyDefinition.shape),
  ...Object.values(STEP_KEYS).flat(),
  ...Object.keys(SettingsSchema.shape),
  ...OPERATORS,
  'event', 'where', 'within', 'at_least', 'field', 'tag', 'all', 'any', 'not', 'when', 'reason', 'filter', 'cron', 'at',
  'timezone', 'audience', 'from', 'to', 're_entry', 'max_concurrent', 'after', 'id', 'exit', 'max', 'per', 'on_cap',
  'days', 'start', 'end', 'strategy', 'team', 'rules', 'fallback_team', 'owner', 'due', 'title', 'escalate_to',
  'percent', 'holdout', 'offset', 'time', 'user', 'group', 'currency', 'email', 'sms',
]);

// --- zod issues → sentences --------------------------------------------------------------------

const MISSING_HINTS: Record<string, string> = {
  else: 'every branch needs an else step (where contacts go when no condition matches)',
  next: 'name the step that follows (end a path with an exit or goal step)',
  type: `use one of ${STEP_TYPES.join(', ')}`,
};

const article = (t: string) => (t === 'array' ? 'a list' : t === 'object' ? 'a mapping' : /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);

function translate(issue: z.core.$ZodIssue, base: Path, raw: unknown, out: JourneyError[]): void {
  const path = [...base, ...(issue.path as Path)];
  const push = (message: string, p: Path = path): void => {
    out.push({ path: formatPath(p), message, ...stepOf(p) });
  };
  const input = (issue as { input?: unknown }).input;
  const custom = !issue.message.startsWith('Invalid') && !issue.message.startsWith('Unrecognized');
  switch (issue.code) {
    case 'invalid_type': {
      if (input === undefined) {
        const key = String(path[path.length - 1]);
        return push(MISSING_HINTS[key] ? `is required: ${MISSING_HINTS[key]}` : 'is required');
      }
      if (custom) return push(issue.message);
      return push(`expected ${article(issue.expected)}, got ${show(input)}`);
    }
    case 'invalid_value': {
      const values = issue.values.map(String);
      return push(`${show(input)} is not one of ${values.join(', ')}${typeof input === 'string' ? didYouMean(input, values) : ''}`);
    }
    case 'unrecognized_keys': {
      for (const key of issue.keys) {
        const candidates = knownKeysAt(path, raw) ?? VOCABULARY;
        push(`unknown field${didYouMean(key, candidates)}`, [...path, key]);
      }
      return;
    }
    case 'invalid_union': {
      const disc = (issue as { discriminator?: string }).discriminator;
      if (disc !== undefined || (issue as { note?: string }).note === 'No matching discriminator') {
        const options = ((issue as { options?: unknown[] }).options ?? []).map(String);
        const key = disc ?? String(path[path.length - 1]);
        const value = disc !== undefined && isObject(input) ? input[disc] : input;
        const what = key === 'type' && path[0] === 'steps' ? 'a step type' : `a valid ${key}`;
        if (value === undefined) return push(`is required (use one of ${options.join(', ')})`);
        return push(`${show(value)} is not ${what}${typeof value === 'string' ? didYouMean(value, options) : ''} (use one of ${options.join(', ')})`);
      }
      const branches = issue.errors;
      // "expected a string or a list": every alternative rejected the value's type outright.
      if (branches.every((b) => b.length === 1 && b[0]!.code === 'invalid_type' && b[0]!.path.length === 0)) {
        const expected = [...new Set(branches.map((b) => article((b[0] as { expected: string }).expected)))];
        return push(`expected ${expected.join(' or ')}, got ${show(input)}`);
      }
      // Otherwise explain the alternative that came closest (fewest problems, no unknown keys at its root).
      const score = (b: z.core.$ZodIssue[]) => b.length + (b.some((i) => i.code === 'unrecognized_keys' && i.path.length === 0) ? 100 : 0) + (b.some((i) => i.code === 'invalid_type' && i.path.length === 0) ? 1000 : 0);
      const best = [...branches].sort((a, b) => score(a) - score(b))[0] ?? [];
      for (const i of best) translate(i, path, raw, out);
      return;
    }
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'array') return push(min === 1 ? 'needs at least one item' : `needs at least ${min} items`);
      if (issue.origin === 'string') return push('must not be empty');
      return push(issue.inclusive === false ? `must be greater than ${min}` : `must be at least ${min}`);
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'array') return push(`allows at most ${max} items`);
      return push(`must be at most ${max}`);
    }
    case 'invalid_key': {
      const inner = issue.issues[0];
      return push(inner && !inner.message.startsWith('Invalid') ? inner.message : `${show(input)} is not a valid key`);
    }
    default:
      return push(issue.message);
  }
}

function stepOf(path: Path): { stepId?: string } {
  return path[0] === 'steps' && typeof path[1] === 'string' ? { stepId: path[1] } : {};
}

/** Keys valid at a path, when we can tell (the step's own type). */
function knownKeysAt(path: Path, raw: unknown): string[] | undefined {
  if (path.length === 2 && path[0] === 'steps' && isObject(raw) && isObject(raw.steps)) {
    const step = raw.steps[String(path[1])];
    if (isObject(step) && typeof step.type === 'string') return STEP_KEYS[step.type];
  }
  if (path.length === 0) return Object.keys(JourneyDefinition.shape);
  if (path.length === 1 && path[0] === 'settings') return Object.keys(SettingsSchema.shape);
  return undefined;
}

// --- source parsing -----------------------------------------------------------------------------

interface Parsed {
  raw: unknown;
  lineOf: (path: Path) => number | undefined;
}

function parseSource(source: string | object, errors: JourneyError[]): Parsed | undefined {
  if (typeof source !== 'string') return { raw: source, lineOf: () => undefined };
  const { doc, lineCounter, problems } = parseYamlDocument(source, { uniqueKeys: true });
  if (problems.length > 0) {
    // A document that does not parse reports its syntax errors only; one that parses, its custom tags and directives.
    const syntax = problems.filter((p) => p.kind === 'syntax');
    for (const { kind, line, col, message } of syntax.length > 0 ? syntax : problems) {
      const what = message.replace(/ at line \d+, column \d+:?$/, '');
      errors.push({
        path: '',
        line,
        message: kind === 'syntax' ? `YAML syntax error at line ${line}, column ${col}: ${what}` : `YAML at line ${line}, column ${col}: ${what} (journeys are plain YAML: no custom tags or directives)`,
      });
    }
    return undefined;
  }
  const lineOf = (path: Path): number | undefined => {
    for (let n = path.length; n > 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as YamlNode | undefined;
      if (node && typeof node === 'object' && 'range' in node && node.range) return lineCounter.linePos(node.range[0]).line;
      // unknown keys and missing fields: point at the parent
    }
    return undefined;
  };
  try {
    return { raw: doc.toJS({ maxAliasCount: 100 }) as unknown, lineOf };
  } catch (err) {
    // Alias problems (`*name` without an `&name` anchor, alias bombs) only surface when converting.
    errors.push({ path: '', message: `YAML error: ${err instanceof Error ? err.message : String(err)}` });
    return undefined;
  }
}

/** A list of steps (`- id: welcome`) becomes a map so every later message names the step id. */
function stepsAsMap(raw: Raw, errors: JourneyError[]): { indexOf: Map<string, number> } {
  const indexOf = new Map<string, number>();
  if (!Array.isArray(raw.steps)) return { indexOf };
  const map: Raw = {};
  raw.steps.forEach((item: unknown, i) => {
    if (!isObject(item)) {
      errors.push({ path: `steps[${i}]`, message: `expected a step (a mapping with id and type), got ${show(item)}` });
      return;
    }
    const { id, ...rest } = item;
    if (typeof id !== 'string' || id === '') {
      errors.push({ path: `steps[${i}].id`, message: 'is required: in a list of steps every step needs an id' });
      return;
    }
    if (id in map) {
      errors.push({ path: `steps[${i}].id`, stepId: id, message: `${show(id)} is used by more than one step` });
      return;
    }
    map[id] = rest;
    indexOf.set(id, i);
  });
  raw.steps = map;
  return { indexOf };
}

// --- graph checks (on raw data) --------------------------------------------------------------------

const REF_KEYS = ['next', 'on_failure', 'on_missing', 'on_event', 'on_timeout', 'else'] as const;

function rawRefs(step: Raw): { path: Path; target: string }[] {
  const refs: { path: Path; target: string }[] = [];
  for (const k of REF_KEYS) if (typeof step[k] === 'string') refs.push({ path: [k], target: step[k] });
  for (const list of ['conditions', 'paths'] as const) {
    const items = step[list];
    if (Array.isArray(items)) {
      items.forEach((c: unknown, i) => {
        if (isObject(c) && typeof c.next === 'string') refs.push({ path: [list, i, 'next'], target: c.next });
      });
    }
  }
  return refs;
}

const isWait = (step: unknown) => isObject(step) && (step.type === 'wait' || step.type === 'wait_for_event');

function checkGraph(raw: Raw, errors: JourneyError[]): void {
  if (!isObject(raw.steps)) return;
  const steps = raw.steps;
  const ids = Object.keys(steps);
  if (ids.length === 0) {
    errors.push({ path: 'steps', message: 'needs at least one step' });
    return;
  }
  let broken = false;
  const edges = new Map<string, string[]>();
  for (const id of ids) {
    const step = steps[id];
    if (!isObject(step)) continue;
    const out: string[] = [];
    for (const ref of rawRefs(step)) {
      if (Object.hasOwn(steps, ref.target)) out.push(ref.target);
      else {
        broken = true;
        errors.push({ path: formatPath(['steps', id, ...ref.path]), stepId: id, message: `${show(ref.target)} is not a step in this journey${didYouMean(ref.target, ids)}` });
      }
    }
    if (!(typeof step.type === 'string' && ['exit', 'goal'].includes(step.type)) && out.length === 0) broken = true;
    edges.set(id, out);
  }
  const start = typeof raw.start === 'string' ? raw.start : ids[0]!;
  if (!Object.hasOwn(steps, start)) {
    errors.push({ path: 'start', message: `${show(start)} is not a step in this journey${didYouMean(start, ids)}` });
    return;
  }
  // A missing or wrong reference makes its targets look unreachable; reporting those too would bury the cause.
  if (!broken) {
    const seen = new Set([start]);
    const queue = [start];
    while (queue.length > 0) {
      for (const n of edges.get(queue.shift()!) ?? []) {
        if (seen.has(n)) continue;
        seen.add(n);
        queue.push(n);
      }
    }
    for (const id of ids) {
      if (!seen.has(id)) errors.push({ path: `steps.${id}`, stepId: id, message: `is unreachable: no path from the start step (${start}) leads here` });
    }
  }
  for (const cycle of loopsWithoutWait(ids, edges, (id) => isWait(steps[id]))) {
    errors.push({
      path: `steps.${cycle[0]}`,
      stepId: cycle[0],
      message: `${[...cycle, cycle[0]].join(' → ')} is a loop without a wait; a contact would cycle forever (add a wait or wait_for_event step to the loop)`,
    });
  }
}

/** Strongly connected components (Tarjan) of the graph without wait steps: each non-trivial one is a spin loop. */
function loopsWithoutWait(ids: string[], edges: Map<string, string[]>, isWaitStep: (id: string) => boolean): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const loops: string[][] = [];
  let counter = 0;
  const out = (id: string) => (isWaitStep(id) ? [] : (edges.get(id) ?? []).filter((n) => !isWaitStep(n)));
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of out(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || out(v).includes(v)) loops.push(ids.filter((id) => comp.includes(id)));
    }
  };
  for (const id of ids) if (!index.has(id)) visit(id);
  return loops;
}

// --- semantic checks (on data that passed the schema) --------------------------------------------------

const WRITABLE_EXCLUDED: Record<string, string> = {
  id: 'the contact id cannot be changed',
  score: 'use an update_score step',
  tags: 'use tag / untag steps',
  lifecycle_stage: 'use a set_lifecycle_stage step',
  attributes: 'name one attribute, e.g. attributes.plan',
};

function fieldProblem(field: string, opts: { entryDate?: boolean; writable?: boolean } = {}): string | undefined {
  if (opts.entryDate && field === 'journey.entered_at') return undefined;
  if (/^attributes\.[^.]+(\.[^.]+)*$/.test(field)) return undefined;
  // Properties of the event that started the run (read-only).
  if (!opts.writable && /^event\.[^.]+(\.[^.]+)*$/.test(field)) return undefined;
  if ((CONTACT_FIELDS as string[]).includes(field)) {
    if (opts.writable && WRITABLE_EXCLUDED[field]) return `${show(field)} cannot be set here: ${WRITABLE_EXCLUDED[field]}`;
    return undefined;
  }
  const candidates = [...CONTACT_FIELDS, ...(opts.entryDate ? ['journey.entered_at'] : [])];
  return `${show(field)} is not a contact field${didYouMean(field, candidates)} (use one of ${candidates.join(', ')}, attributes.${field} for a custom attribute, or event.<property> for the triggering event)`;
}

class Checker {
  readonly errors: JourneyError[] = [];
  readonly warnings: JourneyError[] = [];
  constructor(
    private readonly catalog: TemplateCatalog | undefined,
    private readonly locales: string[],
  ) {}

  error(path: Path, message: string) {
    this.errors.push({ path: formatPath(path), message, ...stepOf(path) });
  }
  warn(path: Path, message: string) {
    this.warnings.push({ path: formatPath(path), message, ...stepOf(path) });
  }

  condition(c: Condition, path: Path): void {
    if ('all' in c) c.all.forEach((x, i) => this.condition(x, [...path, 'all', i]));
    else if ('any' in c) c.any.forEach((x, i) => this.condition(x, [...path, 'any', i]));
    else if ('not' in c) this.condition(c.not, [...path, 'not']);
    else if ('field' in c) {
      const p = fieldProblem(c.field);
      if (p) this.error([...path, 'field'], p);
    }
  }

  field(field: string, path: Path, opts: { entryDate?: boolean; writable?: boolean } = {}) {
    const p = fieldProblem(field, opts);
    if (p) this.error(path, p);
  }

  /** An inline handlebars string (subject, SMS body, chat message, webhook body). */
  inline(source: string, path: Path) {
    let usage;
    try {
      usage = templateUsage(source);
    } catch (err) {
      this.error(path, `is not a valid template: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
      return;
    }
    for (const v of usage.variables) if (!isKnownTemplateVariable(v) && !v.split(/[./]/).some(isPrototypeMember)) this.error(path, unknownVariable(v));
    // Inline strings render in an environment with only the built-in helpers and no partials: anything else would fail
    // every send, and a prototype member is an attempt to reach code, not data.
    for (const h of usage.helpers) this.error(path, `uses helper ${show(h)}, which does not exist (helpers: ${INLINE_HELPERS})`);
    for (const p of usage.partials) this.error(path, `uses partial ${show(p)}; inline templates cannot include partials`);
    if (usage.paths.includes('log')) this.error(path, 'uses the log helper, which would write contact data to the worker log');
    for (const p of usage.paths) {
      const member = p.split('.').find(isPrototypeMember);
      if (member !== undefined) this.error(path, `uses ${show(member)}, which is not a field (prototype access is refused)`);
    }
  }

  template(kind: TemplateKind, name: string, path: Path): string[] {
    if (!this.catalog) return [];
    const variants = this.catalog.templates[kind][name];
    const where = kind === 'email' ? `journeys/templates/${name}/` : `journeys/templates/_${kind}/${name}/`;
    if (!variants) {
      this.error(path, `${kind} template ${show(name)} does not exist${didYouMean(name, Object.keys(this.catalog.templates[kind]))} (expected ${where}<locale>/)`);
      return [];
    }
    for (const p of this.catalog.problems) {
      if (p.file.includes(`/${name}/`)) this.error(path, `template file ${p.file} does not parse: ${p.message}`);
    }
    for (const locale of this.locales) {
      if (!variants[locale]) this.error(path, `${kind} template ${show(name)} has no ${locale} version (add ${where}${locale}/)`);
    }
    for (const [locale, v] of Object.entries(variants)) {
      const file = `${where}${locale}`;
      if (kind === 'email') {
        if (!v.parts.includes('subject')) this.error(path, `${file} has no subject.hbs`);
        if (!v.parts.includes('html') && !v.parts.includes('text')) this.error(path, `${file} needs html.hbs or text.hbs`);
      } else if (!v.parts.includes('text')) this.error(path, `${file} has no text.hbs`);
      const vars = new Set(v.variables);
      if (v.layout !== undefined) {
        const layout = this.catalog.layouts[v.layout];
        if (!layout) this.error(path, `${file}/html.hbs uses layout ${show(v.layout)}, which is not in journeys/templates/_layouts/`);
        else layout.forEach((x) => vars.add(x));
      }
      for (const partial of v.partials) {
        const pv = this.catalog.partials[partial];
        if (!pv) this.error(path, `${file} uses partial ${show(partial)}, which is not in journeys/templates/_partials/`);
        else pv.forEach((x) => vars.add(x));
      }
      for (const x of [...vars].sort()) if (!isKnownTemplateVariable(x)) this.error(path, `${file}: ${unknownVariable(x)}`);
    }
    return Object.keys(variants).sort();
  }
}

function unknownVariable(v: string): string {
  return `uses {{${v}}}, which no contact field provides (use contact.<field>, contact.attributes.<name>, event.<property>, owner.name, journey.name or links.unsubscribe)`;
}

// --- normalization ---------------------------------------------------------------------------------

const fieldPath = (field: string) => field.split('.');
const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
const ms = (d: string) => parseDuration(d)!;

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

function filters(where: PropertyFilters | undefined): PlanFilter[] {
  return Object.entries(where ?? {}).map(([key, value]) => ({
    path: fieldPath(key),
    tests: isObject(value) ? tests(value as Comparison) : [{ op: 'eq', value }],
  }));
}

function condition(c: Condition): PlanCondition {
  if ('all' in c) return { op: 'all', of: c.all.map(condition) };
  if ('any' in c) return { op: 'any', of: c.any.map(condition) };
  if ('not' in c) return { op: 'not', of: condition(c.not) };
  if ('tag' in c) return { op: 'tag', tag: c.tag };
  if ('event' in c) return { op: 'event', event: c.event, where: filters(c.where), withinMs: ms(c.within), atLeast: c.at_least ?? 1 };
  const { field, ...ops } = c;
  return { op: 'field', field: fieldPath(field), tests: tests(ops) };
}

function conditionEvents(c: PlanCondition, into: Set<string>, windows: number[]): void {
  if (c.op === 'all' || c.op === 'any') c.of.forEach((x) => conditionEvents(x, into, windows));
  else if (c.op === 'not') conditionEvents(c.of, into, windows);
  else if (c.op === 'event') {
    into.add(c.event);
    windows.push(c.withinMs);
  }
}

function normalizeSettings(s: Settings | undefined): PlanSettings {
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

function normalizeTrigger(t: Trigger, settings: PlanSettings): PlanTrigger {
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
      return { type: 'change', field: fieldPath(t.field), ...(t.from !== undefined ? { from: t.from } : {}), ...(t.to !== undefined ? { to: t.to } : {}) };
  }
}

function normalizeStep(id: string, s: Step, settings: PlanSettings, locales: string[]): PlanStep {
  const label = s.name !== undefined ? { name: s.name } : {};
  switch (s.type) {
    case 'send_email':
      return {
        id, type: s.type, ...label, template: s.template,
        ...(s.subject !== undefined ? { subject: s.subject } : {}),
        ...(s.from !== undefined ? { from: s.from } : {}),
        ...(s.reply_to !== undefined ? { replyTo: s.reply_to } : {}),
        category: s.category ?? 'marketing', locales, next: s.next, onFailure: s.on_failure ?? s.next,
      };
    case 'send_sms':
      return {
        id, type: s.type, ...label,
        ...(s.template !== undefined ? { template: s.template } : {}),
        ...(s.body !== undefined ? { body: s.body } : {}),
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
      return { id, type: s.type, ...label, field: fieldPath(s.field), value: s.value, next: s.next };
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

// --- entry point ------------------------------------------------------------------------------------

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
  const { indexOf } = stepsAsMap(raw, errors);
  const yamlPath = (path: Path): Path =>
    path[0] === 'steps' && typeof path[1] === 'string' && indexOf.has(path[1]) ? ['steps', indexOf.get(path[1])!, ...path.slice(2)] : path;

  const result = JourneyDefinition.safeParse(raw, { reportInput: true });
  if (!result.success) for (const issue of result.error.issues) translate(issue, [], raw, errors);
  checkGraph(raw, errors);

  // Semantic checks run on every part that is individually valid, so they add to shape errors.
  const settingsParse = SettingsSchema.optional().safeParse(raw.settings);
  const settings = normalizeSettings(settingsParse.success ? settingsParse.data : undefined);
  const checker = new Checker(opts.templates, settings.locales);
  const each = <T>(schema: z.ZodType<T>, value: unknown, fn: (v: T) => void) => {
    const r = schema.safeParse(value);
    if (r.success) fn(r.data);
  };
  if (Array.isArray(raw.triggers)) {
    raw.triggers.forEach((t, i) =>
      each(TriggerSchema, t, (t) => {
        if (t.type === 'audience') checker.condition(t.filter, ['triggers', i, 'filter']);
        if (t.type === 'schedule' && t.audience) checker.condition(t.audience, ['triggers', i, 'audience']);
        if (t.type === 'change') checker.field(t.field, ['triggers', i, 'field']);
      }),
    );
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
        break;
      case 'send_sms':
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
        checker.field(s.field, at('field'), { writable: true });
        break;
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
    if (typeof source !== 'string' || e.line !== undefined || e.path === '') return e;
    const path = e.path.split(/\.|\[(\d+)\]/).filter((x) => x !== undefined && x !== '').map((x) => (/^\d+$/.test(x) ? Number(x) : x));
    const line = parsed.lineOf(yamlPath(path));
    return line !== undefined ? { ...e, line } : e;
  };
  if (errors.length > 0 || !result.success) {
    errors.splice(0, errors.length, ...dedupe(errors).map(located));
    return finish(checker.warnings.map(located));
  }

  const def = result.data;
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
    },
    exitRules,
    goals,
    settings,
    start: def.start ?? Object.keys(def.steps)[0]!,
    steps: planSteps,
    eventTypes: [...eventTypes].sort(),
    retention: { ms: Math.max(...windows), maxEvents: MAX_RETAINED_EVENTS },
  };
  // Guard the invariant the interpreter relies on; checkGraph already reported any violation.
  for (const s of Object.values(plan.steps)) for (const n of successors(s)) if (!plan.steps[n]) throw new Error(`internal: ${s.id} → ${n}`);
  return { ok: true, plan, warnings: checker.warnings.map((w) => (opts.file !== undefined ? { file: opts.file, ...located(w) } : located(w))) };
}

function dedupe(errors: JourneyError[]): JourneyError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = `${e.path}\u0000${e.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Compile or throw with every error formatted (for tests, seeds and scripts). */
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
