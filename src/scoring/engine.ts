/**
 * The scoring engine: a pure function of (model, contact, input, history the caller looked up) → score changes.
 * No I/O and no clock: event time and "now" are inputs, so the same inputs always give the same changes and the
 * database shell (`apply.ts`) can recompute safely under a row lock.
 */
import { parseDuration } from '../journey/duration';
import { LIFECYCLE_ORDER } from '../journey/schema';
import type { BehaviourRule, Cap, Condition, FitRule, NegativeRule, ScoringModel, Threshold } from './model';
import { CONDITION_OPERATORS } from './model';
import { capWindow, type Window } from './time';
import { normalizeRegion, regionRuleValues } from '../contacts/regions';

/** The contact fields scoring reads; a `contacts` row (camelCase) fits as is. */
export type ScoringContact = {
  id: string;
  score: number;
  lifecycleStage: string;
  email?: string | null;
  phone?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  company?: string | null;
  region?: string | null;
  industry?: string | null;
  jobTitle?: string | null;
  timezone?: string | null;
  locale?: string | null;
  tags?: string[] | null;
  ownerId?: string | null;
  attributes?: Record<string, unknown> | null;
};

export type ScoringEvent = { id: string; type: string; properties: Record<string, unknown>; occurredAt: Date };

/** Where a change's points count: behaviour decays, fit is recomputed, decay is decay. */
export const RuleKind = { behaviour: 'behaviour', fit: 'fit', decay: 'decay' } as const;
export type RuleKind = (typeof RuleKind)[keyof typeof RuleKind];

export type ScoreChange = { ruleId: string; kind: RuleKind; delta: number; reason: string };

export type ThresholdCrossing = { thresholdId: string; at: number; lifecycleStage?: string; emit?: string };

export type ScoringResult = {
  changes: ScoreChange[];
  scoreBefore: number;
  score: number;
  /** Thresholds crossed upward, lowest first. */
  crossings: ThresholdCrossing[];
  /** Set when a crossing moves the contact forward. */
  lifecycle?: { from: string; to: string; thresholdId: string };
};

// LIFECYCLE_ORDER has no `other`, deliberately: scoring never reclassifies such a contact.

// ---------------------------------------------------------------------------------------------
// Rules, flattened

/** A rule scored per event: behaviour rules and event penalties. */
export type EventRule = { id: string; description?: string | undefined; event: string; where?: Record<string, Condition> | undefined; points: number; cap?: Cap | undefined };

/** A rule scored from the contact: fit rules and attribute penalties. */
export type AttributeRule = { id: string; description?: string | undefined; field: string; evaluate: (value: unknown) => number };

export function eventRules(model: ScoringModel): EventRule[] {
  const out: EventRule[] = [];
  for (const [id, r] of Object.entries(model.behaviour) as [string, BehaviourRule][]) out.push({ id, ...r });
  for (const [id, r] of Object.entries(model.negative) as [string, NegativeRule][]) {
    if (r.event !== undefined) out.push({ id, description: r.description, event: r.event, where: r.where, points: r.points, cap: r.cap });
  }
  return out;
}

type ConditionValue = string | number | boolean;

/**
 * Contacts hold folded regions (`上海市` is stored as `CN-SH`), so a region rule's values are folded the same way the
 * journey compiler folds them: `in: [CN, 华东]` covers every province they stand for (see regionRuleValues).
 */
function foldRegionCondition<C extends Partial<Condition>>(c: C): C {
  const fold = (v: ConditionValue): ConditionValue[] => (typeof v === 'string' ? regionRuleValues(v) : [v]);
  const out: C = { ...c };
  if (c.in) out.in = [...new Set(c.in.flatMap(fold))];
  if (c.eq !== undefined) {
    const values = fold(c.eq);
    if (values.length === 1 || c.in) out.eq = values[0]!;
    else {
      delete out.eq;
      out.in = values;
    }
  }
  return out;
}

/** A model's attribute rules, built once per model: folding region values is most of a fit evaluation otherwise. */
const rulesOfModel = new WeakMap<ScoringModel, AttributeRule[]>();

export function attributeRules(model: ScoringModel): AttributeRule[] {
  let rules = rulesOfModel.get(model);
  if (!rules) rulesOfModel.set(model, (rules = buildAttributeRules(model)));
  return rules;
}

function buildAttributeRules(model: ScoringModel): AttributeRule[] {
  const out: AttributeRule[] = [];
  for (const [id, raw] of Object.entries(model.fit) as [string, FitRule][]) {
    const r = raw.field === 'region' ? { ...foldRegionCondition(raw), ...(raw.bands ? { bands: raw.bands.map(foldRegionCondition) } : {}) } : raw;
    const evaluate = r.bands
      ? (v: unknown) => r.bands!.find((b) => matches(v, b))?.points ?? 0
      : (v: unknown) => (matches(v, r) ? (r.points ?? 0) : 0);
    out.push({ id, description: r.description, field: r.field, evaluate });
  }
  for (const [id, raw] of Object.entries(model.negative) as [string, NegativeRule][]) {
    const r = raw.field === 'region' ? foldRegionCondition(raw) : raw;
    if (r.field !== undefined) out.push({ id, description: r.description, field: r.field, evaluate: (v) => (matches(v, r) ? r.points : 0) });
  }
  return out;
}

/** Event rules whose type and property conditions match; `window` is the cap period the caller must total. */
export function matchingEventRules(model: ScoringModel, event: ScoringEvent): (EventRule & { window?: Window })[] {
  return eventRules(model)
    .filter((r) => r.event === event.type && Object.entries(r.where ?? {}).every(([p, c]) => matches(readPath(event.properties, p), c)))
    .map((r) => (r.cap ? { ...r, window: capWindow(r.cap.per, event.occurredAt, model.timezone) } : r));
}

// ---------------------------------------------------------------------------------------------
// Conditions

function readPath(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const key of path.split('.')) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** A contact field by model name (`job_title`, `email_domain`, `attributes.company_size`). */
export function contactField(contact: ScoringContact, field: string): unknown {
  if (field.startsWith('attributes.')) return readPath(contact.attributes ?? {}, field.slice('attributes.'.length));
  switch (field) {
    case 'email_domain': {
      const at = contact.email?.lastIndexOf('@') ?? -1;
      return at >= 0 ? contact.email!.slice(at + 1) : undefined;
    }
    case 'email': return contact.email;
    case 'phone': return contact.phone;
    case 'first_name': return contact.firstName;
    case 'last_name': return contact.lastName;
    case 'company': return contact.company;
    case 'region': return contact.region ? normalizeRegion(contact.region) : contact.region;
    case 'industry': return contact.industry;
    case 'job_title': return contact.jobTitle;
    case 'timezone': return contact.timezone;
    case 'locale': return contact.locale;
    case 'tags': return contact.tags ?? [];
    case 'lifecycle_stage': return contact.lifecycleStage;
    case 'owner_id': return contact.ownerId;
    default: return undefined;
  }
}

const norm = (s: string) => s.trim().toLowerCase();

/** Numbers arrive as strings from CRMs ("1200"); compare them as numbers. */
function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

function equals(value: unknown, expected: string | number | boolean): boolean {
  if (typeof expected === 'number') return asNumber(value) === expected;
  if (typeof expected === 'boolean') return value === expected || (typeof value === 'string' && norm(value) === String(expected));
  if (typeof value === 'string') return norm(value) === norm(expected);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value) === norm(expected);
  return false;
}

const WORDY = /^[a-z0-9][a-z0-9 .&/+-]*$/i;
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Whole-word match for Latin needles ("VP" in "VP Sales", not in "MVP"); plain substring otherwise, because CJK text
 * has no spaces between words ("总监" in "财务总监").
 */
function containsText(haystack: string, needle: string): boolean {
  const n = norm(needle);
  if (n === '') return false;
  if (!WORDY.test(n)) return norm(haystack).includes(n);
  return new RegExp(`(^|[^\\p{L}\\p{N}])${escapeRe(n)}($|[^\\p{L}\\p{N}])`, 'iu').test(haystack);
}

function contains(value: unknown, needle: string | number | boolean): boolean {
  if (Array.isArray(value)) return value.some((v) => equals(v, needle));
  if (typeof value === 'string') return containsText(value, String(needle));
  return false;
}

const present = (v: unknown) => v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0);

/** All operators given in `c` must hold for `value`. */
export function matches(value: unknown, c: Partial<Condition>): boolean {
  for (const op of CONDITION_OPERATORS) {
    const arg = c[op];
    if (arg === undefined) continue;
    let ok: boolean;
    switch (op) {
      case 'exists': ok = present(value) === arg; break;
      case 'eq': ok = equals(value, arg as string | number | boolean); break;
      case 'in': ok = (arg as (string | number | boolean)[]).some((x) => equals(value, x)); break;
      case 'contains': ok = contains(value, arg as string | number | boolean); break;
      case 'contains_any': ok = (arg as (string | number | boolean)[]).some((x) => contains(value, x)); break;
      case 'gte': { const n = asNumber(value); ok = n !== undefined && n >= (arg as number); break; }
      case 'gt': { const n = asNumber(value); ok = n !== undefined && n > (arg as number); break; }
      case 'lte': { const n = asNumber(value); ok = n !== undefined && n <= (arg as number); break; }
      case 'lt': { const n = asNumber(value); ok = n !== undefined && n < (arg as number); break; }
      default: {
        const never: never = op;
        throw new Error(`Unhandled condition operator ${String(never)}`);
      }
    }
    if (!ok) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Scoring

const signed = (n: number) => (n > 0 ? `+${n}` : String(n));

/**
 * What a rule may still award given what it already awarded this period. Caps bound the absolute total, so they work
 * the same way for penalties: `-10` with a lifetime cap of 10 applies once.
 */
export function cappedPoints(points: number, cap: Cap | undefined, used: number): number {
  if (!cap) return points;
  const room = Math.max(0, cap.max_points - Math.abs(used));
  const award = Math.min(Math.abs(points), room);
  // Avoid -0 for a penalty at its cap: it would leak into JSON and equality checks.
  return award === 0 ? 0 : Math.sign(points) * award;
}

/**
 * Scores one event. `capUsage[ruleId]` is the sum of points that rule already awarded in the cap period containing the
 * event (see {@link matchingEventRules} for the window); rules without caps ignore it.
 */
export function scoreEvent(
  model: ScoringModel,
  contact: ScoringContact,
  event: ScoringEvent,
  capUsage: Readonly<Record<string, number>> = {},
): ScoringResult {
  const changes: ScoreChange[] = [];
  for (const rule of matchingEventRules(model, event)) {
    const used = capUsage[rule.id] ?? 0;
    const delta = cappedPoints(rule.points, rule.cap, used);
    // A rule at its cap records nothing: zero rows would inflate the explanation's counts.
    if (delta === 0) continue;
    const what = rule.description ?? rule.id;
    const capNote =
      delta !== rule.points && rule.cap
        ? ` (capped from ${signed(rule.points)}: ${rule.cap.max_points} per ${rule.cap.per}, ${Math.abs(used)} already awarded)`
        : '';
    changes.push({ ruleId: rule.id, kind: 'behaviour', delta, reason: `${what}: ${event.type} ${signed(delta)}${capNote}` });
  }
  return finish(model, contact, changes);
}

/** Current fit points per attribute rule (0 when it does not match). */
export function fitPoints(model: ScoringModel, contact: ScoringContact): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of attributeRules(model)) out[r.id] = r.evaluate(contactField(contact, r.field));
  return out;
}

/**
 * Re-evaluates fit. `lastFit[ruleId]` is the net fit points that rule has applied so far; the change is the difference
 * to the current evaluation, so evaluating twice changes nothing and a rule removed from the model gives its points back.
 */
export function scoreFit(model: ScoringModel, contact: ScoringContact, lastFit: Readonly<Record<string, number>> = {}): ScoringResult {
  const rules = new Map(attributeRules(model).map((r) => [r.id, r]));
  const target = fitPoints(model, contact);
  const ids = [...rules.keys(), ...Object.keys(lastFit).filter((id) => !rules.has(id)).sort()];
  const changes: ScoreChange[] = [];
  for (const id of ids) {
    const now = target[id] ?? 0;
    const before = lastFit[id] ?? 0;
    const delta = now - before;
    if (delta === 0) continue;
    const rule = rules.get(id);
    const reason = !rule
      ? `${id}: rule no longer in the model, ${signed(delta)}`
      : `${rule.description ?? id}: ${rule.field} now worth ${now} (was ${before}), ${signed(delta)}`;
    changes.push({ ruleId: id, kind: 'fit', delta, reason });
  }
  return finish(model, contact, changes);
}

export type DecayInput = {
  /** Net behavioural points (event rules plus earlier decay). */
  behaviour: number;
  /** Last behavioural score event or decay; `undefined` when there was none. */
  lastActivityAt: Date | undefined;
  now: Date;
};

/**
 * Decay removes `percent` of a positive behavioural score, **rounded up** to a whole point, once the contact has been
 * idle for `after_idle`. Rounding up makes small scores fade to zero instead of sticking (4 × 10% = 0.4 → 1) and never
 * overshoots, since the amount is at most the behavioural score. A decay counts as activity for idleness, so a contact
 * who stays idle decays once per idle period.
 */
export function scoreDecay(model: ScoringModel, contact: ScoringContact, input: DecayInput): ScoringResult {
  const changes: ScoreChange[] = [];
  const decay = model.decay;
  if (decay && input.behaviour > 0 && input.lastActivityAt && isIdle(model, input.lastActivityAt, input.now)) {
    const amount = decayAmount(input.behaviour, decay.percent);
    changes.push({
      ruleId: 'decay',
      kind: 'decay',
      delta: -amount,
      reason: `decay: ${decay.percent}% of behavioural score ${input.behaviour} after ${decay.after_idle} idle, -${amount}`,
    });
  }
  return finish(model, contact, changes);
}

/** `ceil(behaviour × percent / 100)` in integer arithmetic (no floating-point surprises at exact multiples). */
export function decayAmount(behaviour: number, percent: number): number {
  return Math.floor((behaviour * percent + 99) / 100);
}

export function isIdle(model: ScoringModel, lastActivityAt: Date, now: Date): boolean {
  if (!model.decay) return false;
  return now.getTime() - lastActivityAt.getTime() >= (parseDuration(model.decay.after_idle) ?? Infinity);
}

/** Thresholds crossed upward going from `before` to `after` (reached now, not before), lowest first. */
export function thresholdCrossings(model: ScoringModel, before: number, after: number): ThresholdCrossing[] {
  return sortedThresholds(model)
    .filter(([, t]) => before < t.at && after >= t.at)
    .map(([id, t]) => ({
      thresholdId: id,
      at: t.at,
      ...(t.lifecycle_stage ? { lifecycleStage: t.lifecycle_stage } : {}),
      ...(t.emit ? { emit: t.emit } : {}),
    }));
}

export function sortedThresholds(model: ScoringModel): [string, Threshold][] {
  return (Object.entries(model.thresholds) as [string, Threshold][]).sort((a, b) => a[1].at - b[1].at);
}

/** The furthest stage the crossings move `current` to, or undefined: only forward, and never from `other`/unknown. */
export function lifecycleAfter(current: string, crossings: ThresholdCrossing[]): { to: string; thresholdId: string } | undefined {
  const rank = (s: string) => (LIFECYCLE_ORDER as readonly string[]).indexOf(s);
  let best: { to: string; thresholdId: string } | undefined;
  let bestRank = rank(current);
  if (bestRank < 0) return undefined;
  for (const c of crossings) {
    if (!c.lifecycleStage) continue;
    const r = rank(c.lifecycleStage);
    if (r > bestRank) {
      best = { to: c.lifecycleStage, thresholdId: c.thresholdId };
      bestRank = r;
    }
  }
  return best;
}

function finish(model: ScoringModel, contact: ScoringContact, changes: ScoreChange[]): ScoringResult {
  const score = changes.reduce((s, c) => s + c.delta, contact.score);
  const crossings = thresholdCrossings(model, contact.score, score);
  const move = lifecycleAfter(contact.lifecycleStage, crossings);
  return {
    changes,
    scoreBefore: contact.score,
    score,
    crossings,
    ...(move ? { lifecycle: { from: contact.lifecycleStage, to: move.to, thresholdId: move.thresholdId } } : {}),
  };
}
