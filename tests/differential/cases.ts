/**
 * What the differential suite feeds a journey: a contact, the trigger's properties and a timeline of events, all
 * generated with fast-check from the facts the compiled plan states (the fields its rules read and the values they
 * compare with, the events it waits for or exits on and their filters). Nothing here knows a particular journey,
 * so a new sample or a generated journey gets cases that reach its branches without a hand-written profile.
 */
import fc from 'fast-check';
import type { JourneyPlan, PlanCondition, PlanFilter, PlanTest } from '../../src/journey/plan';
import { LifecycleStage, type Scalar } from '../../src/journey/schema';

/** One real zone per UTC offset, so some zone is usually inside a daytime send window whatever the hour. */
export const ZONES = [
  'Etc/GMT+12', 'Pacific/Pago_Pago', 'Pacific/Honolulu', 'America/Anchorage', 'America/Los_Angeles', 'America/Denver',
  'America/Chicago', 'America/New_York', 'America/Halifax', 'America/Sao_Paulo', 'America/Noronha', 'Atlantic/Cape_Verde',
  'UTC', 'Africa/Lagos', 'Africa/Johannesburg', 'Europe/Moscow', 'Asia/Dubai', 'Asia/Karachi', 'Asia/Dhaka', 'Asia/Bangkok',
  'Asia/Shanghai', 'Asia/Tokyo', 'Australia/Brisbane', 'Pacific/Noumea', 'Pacific/Tarawa', 'Pacific/Tongatapu', 'Pacific/Kiritimati',
];

/** The contact fields a case may set (API names), besides tags and attributes. */
const CONTACT_FIELDS: Record<string, string> = {
  first_name: 'firstName', last_name: 'lastName', company: 'company', job_title: 'jobTitle', industry: 'industry',
  region: 'region', locale: 'locale', lifecycle_stage: 'lifecycleStage',
};

type Values = Map<string, Set<Scalar>>;
const add = (m: Values, key: string, v: Scalar) => {
  if (!m.has(key)) m.set(key, new Set());
  m.get(key)!.add(v);
};

/** Values that satisfy, and values that just miss, a test: a branch is only explored if both sides are generated. */
function candidates(t: PlanTest): Scalar[] {
  switch (t.op) {
    case 'eq':
    case 'neq':
      return [t.value];
    case 'in':
      return t.value;
    case 'contains':
      return typeof t.value === 'string' ? [`Senior ${t.value} APAC`, t.value] : [t.value];
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return typeof t.value === 'number' ? [t.value - 1, t.value, t.value + 1] : [t.value];
    case 'exists':
      return ['x'];
    case 'before':
    case 'after':
      return [];
  }
}

export interface PlanFacts {
  /** Contact field path (dotted) → values rules compare it with. */
  fields: Values;
  tags: Set<string>;
  /** Trigger property path → values (from `event.*` conditions); `required` from the trigger's own filter. */
  triggerProps: Values;
  triggerRequired: Values;
  /** Event type → property path → values, for every event type a run reacts to. */
  events: Map<string, Values>;
}

export function planFacts(plan: JourneyPlan): PlanFacts {
  const facts: PlanFacts = { fields: new Map(), tags: new Set(), triggerProps: new Map(), triggerRequired: new Map(), events: new Map() };
  const filters = (type: string, fs: PlanFilter[]) => {
    if (!facts.events.has(type)) facts.events.set(type, new Map());
    for (const f of fs) for (const t of f.tests) for (const v of candidates(t)) add(facts.events.get(type)!, f.path.join('.'), v);
  };
  const cond = (c: PlanCondition): void => {
    switch (c.op) {
      case 'all':
      case 'any':
        c.of.forEach(cond);
        return;
      case 'not':
        cond(c.of);
        return;
      case 'tag':
        facts.tags.add(c.tag);
        return;
      case 'event':
        filters(c.event, c.where);
        return;
      case 'field': {
        const [head, ...rest] = c.field;
        for (const t of c.tests) {
          for (const v of candidates(t)) {
            if (head === 'event') add(facts.triggerProps, rest.join('.'), v);
            else if (head === 'attributes' || (head !== undefined && head in CONTACT_FIELDS)) add(facts.fields, c.field.join('.'), v);
          }
        }
      }
    }
  };
  for (const t of plan.triggers) if (t.type === 'event') for (const f of t.where) for (const x of f.tests) for (const v of candidates(x)) add(facts.triggerRequired, f.path.join('.'), v);
  // A keyed journey (entry.key: event.properties.<path>): the run's trigger carries its key (OWN_KEY); other events
  // carry it, another run's key, or none (the run must hear only its own and the keyless ones).
  const key = keyPath(plan);
  if (key) add(facts.triggerRequired, key, OWN_KEY);
  for (const r of plan.exitRules) {
    if (r.kind === 'event') filters(r.event, r.where);
    else cond(r.when);
  }
  for (const g of plan.goals) {
    if (g.event) filters(g.event, g.where);
    if (g.when) cond(g.when);
  }
  for (const s of Object.values(plan.steps)) {
    if (s.type === 'branch') s.conditions.forEach((c) => cond(c.when));
    if (s.type === 'wait_for_event') filters(s.event, s.where);
    if (s.type === 'handoff_to_sales' && s.assignment.strategy === 'territory') s.assignment.rules.forEach((r) => cond(r.when));
  }
  if (key) for (const type of new Set([...plan.eventTypes, ...facts.events.keys()])) filters(type, [{ path: key.split('.'), tests: [{ op: 'in', value: [OWN_KEY, OTHER_KEY] }] }]);
  return facts;
}

/** The key of the compared run, and another run's key (keyed journeys). */
export const OWN_KEY = 'key-own';
const OTHER_KEY = 'key-other';

/** The trigger-property path of `entry.key` (`opportunity_id` for `event.properties.opportunity_id`). */
function keyPath(plan: JourneyPlan): string | undefined {
  return plan.entry.key ? plan.entry.key.slice(1).join('.') : undefined;
}

export interface TimelineItem {
  /**
   * When, as a fraction of how long the run lasts without events (up to 1.2: events can keep a run going); the
   * harness turns it into a time and moves it off timers (harness.ts).
   */
  at: number;
  type: string;
  properties: Record<string, unknown>;
}

export interface Case {
  /** Contact fields by their journey names (`industry`, `attributes.plan`); null = left empty. */
  fields: Record<string, Scalar | null>;
  tags: string[];
  /** `allowed`: a zone where the journey's sends are allowed now (picked at run time); otherwise that zone. */
  zone: string;
  locale: string;
  trigger: Record<string, unknown>;
  events: TimelineItem[];
}

const setPath = (obj: Record<string, unknown>, path: string, v: unknown) => {
  const keys = path.split('.');
  let cur = obj;
  for (const k of keys.slice(0, -1)) cur = (cur[k] = typeof cur[k] === 'object' && cur[k] !== null ? cur[k] : {}) as Record<string, unknown>;
  cur[keys[keys.length - 1]!] = v;
};

/** Properties: each path either one of the compared values, a value that matches nothing, or absent. */
function propsArb(values: Values, required?: Values): fc.Arbitrary<Record<string, unknown>> {
  const entries = [...values.entries()].map(([path, vs]) =>
    fc.option(fc.constantFrom<Scalar>(...vs, 'other-value'), { nil: undefined }).map((v) => [path, v] as const),
  );
  const req = [...(required?.entries() ?? [])].map(([path, vs]) => fc.constantFrom<Scalar>(...vs).map((v) => [path, v] as const));
  return fc.tuple(fc.tuple(...entries), fc.tuple(...req)).map(([opt, must]) => {
    const out: Record<string, unknown> = {};
    for (const [p, v] of [...opt, ...must]) if (v !== undefined) setPath(out, p, v);
    return out;
  });
}

/** A noise event nothing listens to: the run must ignore it on both sides. */
export const NOISE_EVENT = 'noise.happened';

export function caseArb(plan: JourneyPlan, opts: { maxEvents: number }): fc.Arbitrary<Case> {
  const facts = planFacts(plan);
  const stages = new Set(LifecycleStage.options as string[]);
  const fieldEntries = [...facts.fields.entries()].map(([path, vs]) => {
    // Lifecycle stages are an enum in the API: only real stages, plus an unrelated one.
    const pool: Scalar[] = path === 'lifecycle_stage' ? [...[...vs].filter((v) => stages.has(String(v))), 'lead'] : [...vs, 'unrelated'];
    // Half the contacts leave the field empty, so a rule that ends the run at once (already a customer) does not
    // hide the rest of the journey from most cases.
    return fc.option(fc.constantFrom<Scalar>(...pool), { nil: null, freq: 2 }).map((v) => [path, v] as const);
  });
  // The run's own trigger types stay out of the timeline for journeys that admit parallel runs (a second entry is
  // another run, which the simulator does not model).
  const triggerTypes = new Set(plan.triggers.flatMap((t) => (t.type === 'event' ? [t.event] : [])));
  const key = keyPath(plan);
  const types = [...new Set([...plan.eventTypes, ...facts.events.keys()])].filter((t) => plan.entry.reEntry !== 'always' || !triggerTypes.has(t));
  const eventArb = fc.oneof(
    { weight: 6, arbitrary: types.length ? fc.constantFrom(...types) : fc.constant(NOISE_EVENT) },
    { weight: 1, arbitrary: fc.constant(NOISE_EVENT) },
  ).chain((type) =>
    fc.record({
      at: fc.integer({ min: 1, max: 60 }).map((x) => x / 50),
      type: fc.constant(type),
      // An event of a type that starts runs carries the run's key: with another key it would start another run (not
      // compared here), without one it is refused (missing_key).
      properties: propsArb(facts.events.get(type) ?? new Map(), key && triggerTypes.has(type) ? new Map([[key, new Set<Scalar>([OWN_KEY])]]) : undefined),
    }),
  );
  return fc.record({
    fields: fc.tuple(...fieldEntries).map((kv) => Object.fromEntries(kv)),
    tags: fc.subarray([...new Set([...facts.tags, 'vip'])]),
    zone: fc.oneof({ weight: 4, arbitrary: fc.constant('allowed') }, { weight: 1, arbitrary: fc.constantFrom(...ZONES) }),
    locale: fc.constantFrom('en', 'zh-CN', 'de'),
    trigger: propsArb(facts.triggerProps, facts.triggerRequired),
    events: fc.array(eventArb, { maxLength: opts.maxEvents }).map((es) => es.sort((a, b) => a.at - b.at)),
  });
}
