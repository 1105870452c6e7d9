/**
 * The lead-scoring model: what marketers write in `journeys/scoring.yaml`.
 *
 * Sections are maps keyed by rule id (like journey steps), so an error names the rule it is in:
 * `journeys/scoring.yaml: behaviour.page-view.cap.per: "1 dayz" is not a duration`.
 * Rule ids are stored in `score_events.rule`, which is why they must be unique across sections and why renaming a
 * rule starts its history (caps, fit totals) afresh.
 *
 * Objects are strict: a misspelt key is an error, not a silently ignored field.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ValidationError } from '../errors';
import { parseYamlDocument } from '../yaml-document';
import { DURATION_HINT, DURATION_MS, parseDuration } from '../journey/duration';
import { LifecycleStage, isValidTimeZone } from '../journey/schema';

const show = (input: unknown): string => (typeof input === 'string' ? JSON.stringify(input) : JSON.stringify(input) ?? String(input));
const formatError = (what: string) => (iss: { input?: unknown }) =>
  iss.input === undefined ? 'is required' : `${show(iss.input)} ${what}`;

const RULE_ID = /^[a-z0-9][a-z0-9-]*$/;

/** Whole points: `score_events.delta` and `contacts.score` are integers. */
const Points = z
  .number({ error: formatError('is not a number of points') })
  .int({ error: formatError('is not a whole number of points') })
  .refine((n) => n !== 0, { error: 'must not be 0' });

const PositiveInt = (what: string) =>
  z
    .number({ error: formatError(`is not ${what}`) })
    .int({ error: formatError(`is not ${what}`) })
    .positive({ error: formatError(`is not ${what}`) });

const Duration = z
  .string({ error: formatError(`is not a duration (${DURATION_HINT})`) })
  .refine((s) => parseDuration(s) !== undefined, { error: formatError(`is not a duration (${DURATION_HINT})`) });

/**
 * A cap period: a whole number of days, or `lifetime`. Periods are calendar-aligned in the model's time zone
 * (`1d` = the local calendar day, `7d` = the local Monday–Sunday week) rather than rolling, so "at most +20 a day"
 * means what a marketer reading a daily report expects.
 */
export const CapPeriod = z.string({ error: formatError('is not a cap period (use 1d, 7d, 30d or lifetime)') }).check((ctx) => {
  // One check rather than a refine chain, so a bad value gets one sentence, not three.
  const s = ctx.value;
  if (s === 'lifetime') return;
  const ms = parseDuration(s);
  const message =
    ms === undefined
      ? `is not a duration (${DURATION_HINT}, or lifetime)`
      : ms === 0 || ms % DURATION_MS.DAY !== 0
        ? 'is not a whole number of days (caps count calendar days: use 1d, 7d or 30d)'
        : undefined;
  if (message) ctx.issues.push({ code: 'custom', input: s, message: `${show(s)} ${message}` });
});
export type CapPeriod = z.infer<typeof CapPeriod>;

export const Cap = z.strictObject({
  /** Most points (in absolute value, so it also bounds negative rules) this rule may award per period. */
  max_points: PositiveInt('a positive whole number of points'),
  per: CapPeriod,
});
export type Cap = z.infer<typeof Cap>;

const Scalar = z.union([z.string(), z.number(), z.boolean()], {
  error: formatError('is not a string, number or boolean'),
});

/**
 * Tests on one value; all given operators must hold. String comparisons ignore case and surrounding space.
 * `contains`/`contains_any` on a string: a needle of ASCII letters and digits must match whole words (so `VP` matches
 * "VP Sales" but not "MVP"); any other needle, such as 总监, matches anywhere because CJK text has no word spaces.
 * On an array value, `contains` means "has an element equal to".
 */
const conditionShape = {
  eq: Scalar.optional(),
  in: z.array(Scalar).min(1, { error: 'must list at least one value' }).optional(),
  contains: Scalar.optional(),
  contains_any: z.array(Scalar).min(1, { error: 'must list at least one value' }).optional(),
  /** true: present and not empty; false: absent, null or "". */
  exists: z.boolean({ error: formatError('is not true or false') }).optional(),
  gte: z.number({ error: formatError('is not a number') }).optional(),
  gt: z.number({ error: formatError('is not a number') }).optional(),
  lte: z.number({ error: formatError('is not a number') }).optional(),
  lt: z.number({ error: formatError('is not a number') }).optional(),
};
export const CONDITION_OPERATORS = Object.keys(conditionShape) as (keyof typeof conditionShape)[];

export const Condition = z.strictObject(conditionShape).refine((c) => CONDITION_OPERATORS.some((k) => c[k] !== undefined), {
  error: `needs at least one of ${CONDITION_OPERATORS.join(', ')}`,
});
export type Condition = z.infer<typeof Condition>;

const EventType = z
  .string({ error: formatError('is not an event type') })
  .regex(/^[a-z0-9_]+(\.[a-z0-9_-]+)*$/i, { error: formatError('is not an event type (such as page.viewed)') });

/** Scores an event of one type, optionally only when its properties match. */
export const BehaviourRule = z.strictObject({
  description: z.string().min(1).optional(),
  event: EventType,
  /** Property path (dots for nesting, e.g. `utm.source`) → condition; all must hold. */
  where: z.record(z.string().min(1), Condition).optional(),
  points: Points,
  cap: Cap.optional(),
});
export type BehaviourRule = z.infer<typeof BehaviourRule>;

/** Contact fields a fit rule can read. `email_domain` is derived from `email`; custom fields are `attributes.<name>`. */
export const CONTACT_FIELDS = [
  'email',
  'email_domain',
  'phone',
  'first_name',
  'last_name',
  'company',
  'region',
  'industry',
  'job_title',
  'timezone',
  'locale',
  'tags',
  'lifecycle_stage',
  'owner_id',
] as const;
export type ContactField = (typeof CONTACT_FIELDS)[number];

const ContactFieldPath = z
  .string({ error: formatError('is not a contact field') })
  .refine((s) => (CONTACT_FIELDS as readonly string[]).includes(s) || /^attributes\.[^.\s]+(\.[^.\s]+)*$/.test(s), {
    error: formatError(`is not a contact field (use ${CONTACT_FIELDS.join(', ')} or attributes.<name>)`),
  });

export const FitBand = z.strictObject({ ...conditionShape, points: Points });
export type FitBand = z.infer<typeof FitBand>;

/**
 * Scores who the contact is. Either `points` with a condition on `field`, or `bands`: the first band whose condition
 * holds gives the points (for ranges such as company size), none → 0.
 */
export const FitRule = z.strictObject({
  description: z.string().min(1).optional(),
  field: ContactFieldPath,
  points: Points.optional(),
  bands: z.array(FitBand).min(1, { error: 'must list at least one band' }).optional(),
  ...conditionShape,
});
export type FitRule = z.infer<typeof FitRule>;

/** A penalty, either for an event (like a behaviour rule) or for a contact attribute (like a fit rule). */
export const NegativeRule = z.strictObject({
  description: z.string().min(1).optional(),
  event: EventType.optional(),
  where: z.record(z.string().min(1), Condition).optional(),
  field: ContactFieldPath.optional(),
  points: z
    .number({ error: formatError('is not a number of points') })
    .int({ error: formatError('is not a whole number of points') })
    .negative({ error: formatError('must be negative in the negative section') }),
  cap: Cap.optional(),
  ...conditionShape,
});
export type NegativeRule = z.infer<typeof NegativeRule>;

export const Decay = z.strictObject({
  /** No behavioural score event for this long makes a contact idle. */
  after_idle: Duration.refine((s) => (parseDuration(s) ?? 0) >= DURATION_MS.DAY, {
    error: formatError('must be at least 1d'),
    // Only judge the length of something that is a duration at all.
    when: (p) => typeof p.value === 'string' && parseDuration(p.value) !== undefined,
  }),
  /** Share of the (positive) behavioural score removed each idle period, rounded up to a whole point. */
  percent: z
    .number({ error: formatError('is not a percentage') })
    .int({ error: formatError('is not a whole percentage') })
    .min(1, { error: formatError('is not between 1 and 100') })
    .max(100, { error: formatError('is not between 1 and 100') }),
});
export type Decay = z.infer<typeof Decay>;

export const Threshold = z.strictObject({
  description: z.string().min(1).optional(),
  at: z.number({ error: formatError('is not a score') }).int({ error: formatError('is not a whole score') }),
  /** Moves the contact forward to this stage on an upward crossing; never backwards. */
  lifecycle_stage: z
    .enum(LifecycleStage.options, { error: formatError(`is not a lifecycle stage (use ${LifecycleStage.options.join(', ')})`) })
    .optional(),
  /** Event type emitted once per upward crossing. */
  emit: EventType.optional(),
});
export type Threshold = z.infer<typeof Threshold>;

export const ScoringModel = z
  .strictObject({
    version: z.literal(1, { error: formatError('is not a supported version (use 1)') }),
    /**
     * Calendar for cap periods and decay days.
     * @default "UTC"
     */
    timezone: z
      .string({ error: formatError('is not a time zone') })
      .refine(isValidTimeZone, { error: formatError('is not an IANA time zone (such as Asia/Shanghai)') })
      .default('UTC'),
    behaviour: z.record(z.string(), BehaviourRule).default({}),
    fit: z.record(z.string(), FitRule).default({}),
    negative: z.record(z.string(), NegativeRule).default({}),
    decay: Decay.optional(),
    thresholds: z.record(z.string(), Threshold).default({}),
  })
  // Runs even when some rule failed its own shape, so the file's problems are all reported in one go.
  .superRefine((m, ctx) => crossCheck(m, (path, message) => ctx.addIssue({ code: 'custom', path, message })), {
    when: () => true,
  });
export type ScoringModel = z.infer<typeof ScoringModel>;
/** What may be written in the file (before defaults). */
export type ScoringModelSource = z.input<typeof ScoringModel>;

export type ModelIssue = { path: string; message: string };

/** Every problem in a model file, one sentence each, all at once. */
export class ScoringModelError extends ValidationError {
  constructor(
    readonly file: string,
    issues: ModelIssue[],
  ) {
    super(
      issues.map((i) => `${file}: ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n'),
      issues,
    );
    this.name = 'ScoringModelError';
  }
}

type Report = (path: (string | number)[], message: string) => void;
type Loose = Record<string, unknown>;
const isObject = (v: unknown): v is Loose => typeof v === 'object' && v !== null && !Array.isArray(v);
const hasCondition = (r: Loose) => CONDITION_OPERATORS.some((k) => r[k] !== undefined);

/**
 * Rules that span fields or sections. Written against the loosely typed value because it also runs when other parts of
 * the file are malformed.
 */
function crossCheck(m: unknown, report: Report): void {
  if (!isObject(m)) return;
  const seen = new Map<string, string>();
  for (const section of ['behaviour', 'fit', 'negative', 'thresholds'] as const) {
    const rules = m[section];
    if (!isObject(rules)) continue;
    for (const id of Object.keys(rules)) {
      if (!RULE_ID.test(id)) report([section, id], `"${id}" is not a valid id (use lowercase letters, digits and -)`);
      if (section === 'thresholds') continue;
      if (id === 'decay') report([section, id], '"decay" is reserved for the decay rule');
      const other = seen.get(id);
      if (other) report([section, id], `rule id "${id}" is also used in ${other}; ids must be unique because score history is kept per id`);
      else seen.set(id, section);
    }
  }
  const fit = isObject(m.fit) ? m.fit : {};
  for (const [id, r] of Object.entries(fit)) {
    if (!isObject(r)) continue;
    if (r.bands !== undefined) {
      if (r.points !== undefined || hasCondition(r)) report(['fit', id], 'has bands, so points and conditions belong inside each band');
      if (Array.isArray(r.bands)) {
        r.bands.forEach((b, i) => {
          if (isObject(b) && !hasCondition(b)) report(['fit', id, 'bands', i], 'needs a condition');
        });
      }
    } else {
      if (r.points === undefined) report(['fit', id, 'points'], 'is required (or give bands)');
      if (!hasCondition(r)) report(['fit', id], `needs a condition on its field (${CONDITION_OPERATORS.join(', ')})`);
    }
  }
  const negative = isObject(m.negative) ? m.negative : {};
  for (const [id, r] of Object.entries(negative)) {
    if (!isObject(r)) continue;
    if ((r.event === undefined) === (r.field === undefined)) {
      report(['negative', id], 'needs exactly one of event (a penalty per event) or field (a penalty for an attribute)');
    } else if (r.field !== undefined) {
      if (!hasCondition(r)) report(['negative', id], 'needs a condition on its field');
      if (r.where !== undefined || r.cap !== undefined) {
        report(['negative', id], 'is an attribute penalty, so where and cap do not apply (they are for event penalties)');
      }
    } else if (hasCondition(r)) {
      report(['negative', id], 'is an event penalty: put property conditions under where');
    }
  }
  const thresholds = isObject(m.thresholds) ? m.thresholds : {};
  const ats = new Map<unknown, string>();
  for (const [id, t] of Object.entries(thresholds)) {
    if (!isObject(t)) continue;
    const other = ats.get(t.at);
    if (other && typeof t.at === 'number') report(['thresholds', id, 'at'], `${t.at} is also the score of threshold ${other}`);
    else ats.set(t.at, id);
    if (t.lifecycle_stage === undefined && t.emit === undefined) report(['thresholds', id], 'needs lifecycle_stage, emit or both');
  }
}

function issueMessage(iss: z.core.$ZodIssue): string {
  switch (iss.code) {
    case 'unrecognized_keys':
      return `unknown ${iss.keys.length === 1 ? 'key' : 'keys'} ${iss.keys.map((k) => `"${k}"`).join(', ')}`;
    case 'invalid_value':
      if (iss.values.length > 1 && !iss.message.includes('"')) return `is not one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}`;
      return iss.message;
    default:
      return iss.message;
  }
}

/** Parses and validates model text (YAML or JSON); throws {@link ScoringModelError} naming `file` and every bad path. */
export function parseScoringModel(text: string, file: string): ScoringModel {
  const { doc, problems } = parseYamlDocument(text);
  if (problems.length > 0) {
    throw new ScoringModelError(file, problems.map((p) => ({ path: '', message: `line ${p.line}, column ${p.col}: ${p.message}` })));
  }
  const parsed = ScoringModel.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    throw new ScoringModelError(
      file,
      parsed.error.issues.map((iss) => ({ path: iss.path.map(String).join('.'), message: issueMessage(iss) })),
    );
  }
  return parsed.data;
}

export async function loadScoringModel(path: string): Promise<ScoringModel> {
  return parseScoringModel(await readFile(path, 'utf8'), path);
}

/** Milliseconds of a validated duration. */
export function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new Error(`"${text}" is not a duration`);
  return ms;
}
