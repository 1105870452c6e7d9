/**
 * The journey language: what marketers write in `journeys/*.yaml` (and the API accepts as JSON).
 *
 * One zod schema per concept; each schema and its inferred type share a name. Schemas only
 * validate shape: normalization (durations → ms, defaults, explicit ids) happens in the compiler,
 * so that `z.toJSONSchema` can describe the source format exactly (transforms are not exportable).
 *
 * Objects are strict: a misspelt key (`nxt:`) is an error, not a silently ignored field.
 */
import { z } from 'zod';
import { INT32_MAX, int32 } from '../bounds';
import { checkCron } from './cron';
import { DURATION_HINT, DURATION_PATTERN, MAX_DURATION_HINT, MAX_DURATION_MS, SIGNED_DURATION_PATTERN, parseDuration, parseSignedDuration } from './duration';

// ---------------------------------------------------------------------------------------------
// Scalars

/** Quotes what the author wrote; never throws, even on objects whose toString was overwritten by data. */
const show = (input: unknown): string => {
  if (typeof input === 'string') return JSON.stringify(input);
  if (input === null || typeof input !== 'object') return String(input);
  try {
    return JSON.stringify(input) ?? 'a value';
  } catch {
    return 'a value';
  }
};

/** Error callback for string formats: "missing" reads better than "expected string, received undefined". */
const formatError = (what: string) => (iss: { input?: unknown }) =>
  iss.input === undefined ? 'is required' : `${show(iss.input)} ${what}`;

export const Duration = z
  .string({ error: formatError(`is not a duration (${DURATION_HINT})`) })
  .regex(new RegExp(DURATION_PATTERN), { error: formatError(`is not a duration (${DURATION_HINT})`) })
  .refine((s) => parseDuration(s) !== undefined, { error: formatError(`is not a duration (${DURATION_HINT})`) })
  .refine((s) => (parseDuration(s) ?? 0) <= MAX_DURATION_MS, { error: formatError(MAX_DURATION_HINT) })
  .meta({ description: 'Duration such as 30s, 15m, 2h, 2d, 1w, 1d12h or ISO-8601 P2D / PT48H' });
export type Duration = z.infer<typeof Duration>;

export const SignedDuration = z
  .string({ error: formatError(`is not an offset (use -3d, +12h or 0s)`) })
  .regex(new RegExp(SIGNED_DURATION_PATTERN), { error: formatError(`is not an offset (use -3d, +12h or 0s)`) })
  .refine((s) => parseSignedDuration(s) !== undefined, { error: formatError(`is not an offset (use -3d, +12h or 0s)`) })
  .refine((s) => Math.abs(parseSignedDuration(s) ?? 0) <= MAX_DURATION_MS, { error: formatError(MAX_DURATION_HINT) })
  .meta({ description: 'Signed duration such as -3d (before) or +12h (after)' });
export type SignedDuration = z.infer<typeof SignedDuration>;

export const Slug = z
  .string({ error: formatError('is not a valid id') })
  .regex(/^[a-z0-9][a-z0-9-]*$/, { error: formatError('is not a valid id (use lowercase letters, digits and -)') });
export type Slug = z.infer<typeof Slug>;

export const StepId = z
  .string({ error: formatError('is not a step id') })
  .regex(/^[a-z][a-z0-9_-]*$/, {
    error: formatError('is not a valid step id (use lowercase letters, digits, - and _, starting with a letter)'),
  });
export type StepId = z.infer<typeof StepId>;

export const TimeOfDay = z
  .string({ error: formatError('is not a time of day (use 24-hour HH:MM such as 08:30)') })
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: formatError('is not a time of day (use 24-hour HH:MM such as 08:30)') });
export type TimeOfDay = z.infer<typeof TimeOfDay>;

const validTimeZones = new Map<string, boolean>();
export function isValidTimeZone(tz: string): boolean {
  let ok = validTimeZones.get(tz);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      ok = true;
    } catch {
      ok = false;
    }
    validTimeZones.set(tz, ok);
  }
  return ok;
}

export const TimeZone = z
  .string({ error: formatError('is not a time zone') })
  .refine(isValidTimeZone, { error: formatError('is not an IANA time zone (such as Asia/Shanghai or Europe/Berlin)') });
export type TimeZone = z.infer<typeof TimeZone>;

export const Weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);
export type Weekday = z.infer<typeof Weekday>;

export const LifecycleStage = z.enum(['subscriber', 'lead', 'mql', 'sql', 'opportunity', 'customer', 'evangelist', 'other']);
export type LifecycleStage = z.infer<typeof LifecycleStage>;
/** The lifecycle stages in funnel order, earliest first (`other` has no place): forward-only moves and MQL thresholds compare by it. */
export const LIFECYCLE_ORDER = ['subscriber', 'lead', 'mql', 'sql', 'opportunity', 'customer', 'evangelist'] as const;

/** Channels that reach the contact and are therefore subject to caps, quiet hours and send windows. */
export const MessageChannel = z.enum(['email', 'sms']);
export type MessageChannel = z.infer<typeof MessageChannel>;

export const ChatChannel = z.enum(['wecom', 'dingtalk', 'feishu', 'slack']);
export type ChatChannel = z.infer<typeof ChatChannel>;

export const Scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
export type Scalar = z.infer<typeof Scalar>;

const isIsoDate = (s: string) => /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(s) && !Number.isNaN(Date.parse(s));

/** An absolute ISO date/time, or an offset from "now" such as `-30d` (30 days ago). */
export const DateRef = z
  .string({ error: formatError('is not a date (use an ISO date such as 2025-01-31 or an offset from now such as -30d)') })
  .refine((s) => isIsoDate(s) || parseSignedDuration(s) !== undefined, {
    error: formatError('is not a date (use an ISO date such as 2025-01-31 or an offset from now such as -30d)'),
  });
export type DateRef = z.infer<typeof DateRef>;

// ---------------------------------------------------------------------------------------------
// Conditions

export const OPERATORS = ['eq', 'neq', 'in', 'contains', 'gt', 'gte', 'lt', 'lte', 'exists', 'before', 'after'] as const;
export type Operator = (typeof OPERATORS)[number];

const operatorShape = {
  eq: Scalar.optional(),
  neq: Scalar.optional(),
  in: z.array(Scalar).optional(),
  contains: Scalar.optional(),
  gt: z.union([z.number(), z.string()]).optional(),
  gte: z.union([z.number(), z.string()]).optional(),
  lt: z.union([z.number(), z.string()]).optional(),
  lte: z.union([z.number(), z.string()]).optional(),
  exists: z.boolean().optional(),
  before: DateRef.optional(),
  after: DateRef.optional(),
};
const hasOperator = (o: Record<string, unknown>) => OPERATORS.some((k) => o[k] !== undefined);
const NEEDS_OPERATOR = `needs an operator (one of ${OPERATORS.join(', ')})`;

/** Operators on one value; several operators must all hold (`{ gte: 10, lt: 50 }`). */
export const Comparison = z.strictObject(operatorShape).refine(hasOperator, { error: NEEDS_OPERATOR });
export type Comparison = z.infer<typeof Comparison>;

/** Event property filters: `{ link_tag: product-a }` (equality) or `{ amount: { gte: 100 } }`. Dotted keys reach nested properties. */
export const PropertyFilters = z.record(z.string(), z.union([Scalar, Comparison]));
export type PropertyFilters = z.infer<typeof PropertyFilters>;

/** A contact field compared with operators: `{ field: industry, eq: manufacturing }`. */
export const FieldCondition = z
  .strictObject({ field: z.string().min(1), ...operatorShape })
  .refine(hasOperator, { error: NEEDS_OPERATOR });
export type FieldCondition = z.infer<typeof FieldCondition>;

/** The contact carries a tag. */
export const TagCondition = z.strictObject({ tag: z.string().min(1) });
export type TagCondition = z.infer<typeof TagCondition>;

/** An event of this type was seen in the last `within` (counting events delivered to the run). */
export const EventCondition = z.strictObject({
  event: z.string().min(1),
  where: PropertyFilters.optional(),
  within: Duration,
  /** @default 1 */
  at_least: int32({ min: 1 }).optional(),
});
export type EventCondition = z.infer<typeof EventCondition>;

export type Condition =
  | FieldCondition
  | TagCondition
  | EventCondition
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition };

export const AllCondition = z.strictObject({
  get all() {
    return z.array(Condition).min(1);
  },
});
export const AnyCondition = z.strictObject({
  get any() {
    return z.array(Condition).min(1);
  },
});
export const NotCondition = z.strictObject({
  get not() {
    return Condition;
  },
});
export const Condition: z.ZodType<Condition> = z
  .union([FieldCondition, TagCondition, EventCondition, AllCondition, AnyCondition, NotCondition])
  .meta({ id: 'Condition', description: 'Contact condition: field comparison, tag, recent event, or all/any/not' });

// ---------------------------------------------------------------------------------------------
// Triggers, entry, exit, goals

export const EventTrigger = z.strictObject({
  type: z.literal('event'),
  event: z.string().min(1),
  where: PropertyFilters.optional(),
});
export type EventTrigger = z.infer<typeof EventTrigger>;

/** Contacts enter when they start matching the filter (evaluated by the API on contact changes). */
export const AudienceTrigger = z.strictObject({
  type: z.literal('audience'),
  filter: Condition,
});
export type AudienceTrigger = z.infer<typeof AudienceTrigger>;

/** A cron expression as Temporal Schedules read it (see ./cron.ts for the accepted subset). */
export const Cron = z
  .string({ error: formatError('is not a cron expression') })
  .superRefine((s, ctx) => {
    const c = checkCron(s);
    if (!c.ok) ctx.addIssue({ code: 'custom', message: `${show(s)} is not a cron expression: ${c.problem}`, input: s });
  })
  .meta({ description: 'Five fields (minute hour day-of-month month day-of-week) with names, ranges, steps and lists, or @yearly, @monthly, @weekly, @daily, @hourly' });

/** Enters the audience (or everyone, if no audience) on a cron schedule or once at a given time. */
export const ScheduleTrigger = z
  .strictObject({
    type: z.literal('schedule'),
    cron: Cron.optional(),
    /** ISO date-time for a one-off launch. */
    at: z.string().refine(isIsoDate, { error: formatError('is not an ISO date-time') }).optional(),
    /** @default settings.timezone */
    timezone: TimeZone.optional(),
    audience: Condition.optional(),
  })
  .refine((t) => (t.cron === undefined) !== (t.at === undefined), { error: 'a schedule needs either cron or at (not both)' });
export type ScheduleTrigger = z.infer<typeof ScheduleTrigger>;

/** A contact field (lifecycle stage, attribute) changes, optionally from/to given values. */
export const ChangeTrigger = z.strictObject({
  type: z.literal('change'),
  field: z.string().min(1),
  from: Scalar.optional(),
  to: Scalar.optional(),
});
export type ChangeTrigger = z.infer<typeof ChangeTrigger>;

/**
 * Enters each contact when a date field comes round: `offset` before (-7d) or after (+2h) the field's date, at local
 * time `at` in the contact's zone, once per date or every year (`repeat: yearly`: birthdays, signup anniversaries).
 * Exactly one run per contact and occurrence; a field holding no ISO date skips the contact, counted.
 */
export const DateTrigger = z.strictObject({
  type: z.literal('date'),
  /** `created_at` or `attributes.<name>` holding an ISO date (2027-03-01) or date-time. */
  field: z.string().min(1),
  /** Signed: -7d is a week before the date. With `at`, whole days only. @default 0d */
  offset: SignedDuration.optional(),
  /** Local time in the contact's zone (settings.timezone when the contact has none). @default the field's own time (midnight for a date) */
  at: TimeOfDay.optional(),
  /** yearly: every anniversary of the date (29 February falls on 28 February in other years). @default once */
  repeat: z.enum(['once', 'yearly']).optional(),
  /** Only contacts matching this enter (field and tag conditions). */
  audience: Condition.optional(),
});
export type DateTrigger = z.infer<typeof DateTrigger>;

export const Trigger = z.discriminatedUnion('type', [EventTrigger, AudienceTrigger, ScheduleTrigger, ChangeTrigger, DateTrigger]);
export type Trigger = z.infer<typeof Trigger>;

export const Entry = z.strictObject({
  /**
   * once: a contact enters at most once; always: every trigger starts a run; after_exit: again once the
   * previous run ended; `{ after: 30d }`: again once 30 days passed since the previous entry.
   * @default once
   */
  re_entry: z.union([z.enum(['once', 'always', 'after_exit']), z.strictObject({ after: Duration })]).optional(),
  /** Concurrent runs per contact (only meaningful with re_entry: always). @default 1 */
  max_concurrent: int32({ min: 1 }).optional(),
  /**
   * One run per contact per key: a path into the triggering event (`event.properties.opportunity_id`). re_entry applies
   * per key, and a run only receives the events whose value at that path is its key. An event without the key reaches
   * no run when its type is one the journey triggers on (and enters nobody: reason `missing_key`); of any other type
   * (an unsubscribe, a contact change) it reaches all of the contact's runs.
   */
  key: z
    .string({ error: formatError('is not a key path') })
    .regex(/^event\.properties(\.[A-Za-z0-9_-]+)+$/, {
      error: formatError('is not a path into the triggering event (use event.properties.<name>, such as event.properties.opportunity_id)'),
    })
    .optional(),
  /**
   * Entries allowed in total, per day and per hour (the journey's time zone), counted when a run starts; an entry over a
   * cap is refused with reason entry_cap_total, entry_cap_day or entry_cap_hour.
   */
  cap: z
    .strictObject({ total: int32({ min: 1 }).optional(), per_day: int32({ min: 1 }).optional(), per_hour: int32({ min: 1 }).optional() })
    .refine((c) => c.total !== undefined || c.per_day !== undefined || c.per_hour !== undefined, { error: 'needs total, per_day or per_hour' })
    .optional(),
});
export type Entry = z.infer<typeof Entry>;

export const ExitRule = z.union([
  z.strictObject({ event: z.string().min(1), where: PropertyFilters.optional(), reason: z.string().optional() }),
  z.strictObject({ when: Condition, reason: z.string().optional() }),
]);
export type ExitRule = z.infer<typeof ExitRule>;

export const Goal = z
  .strictObject({
    id: Slug,
    name: z.string().optional(),
    event: z.string().min(1).optional(),
    where: PropertyFilters.optional(),
    when: Condition.optional(),
    /** Conversion window measured from entry; later conversions do not count. @default unlimited */
    within: Duration.optional(),
    /** End the run when the goal is reached. @default true */
    exit: z.boolean().optional(),
  })
  .refine((g) => (g.event === undefined) !== (g.when === undefined), { error: 'a goal needs either event or when (not both)' });
export type Goal = z.infer<typeof Goal>;

// ---------------------------------------------------------------------------------------------
// Settings

export const QuietHours = z.strictObject({ start: TimeOfDay, end: TimeOfDay });
export type QuietHours = z.infer<typeof QuietHours>;

export const SendWindow = z.strictObject({
  /** @default every day */
  days: z.array(Weekday).min(1).optional(),
  start: TimeOfDay,
  end: TimeOfDay,
});
export type SendWindow = z.infer<typeof SendWindow>;

export const FrequencyCap = z.strictObject({
  max: int32({ min: 1 }),
  per: Duration,
  /** defer: wait until the cap allows it; skip: go on without sending. @default defer */
  on_cap: z.enum(['defer', 'skip']).optional(),
});
export type FrequencyCap = z.infer<typeof FrequencyCap>;

export const Costs = z.strictObject({
  /** @default USD */
  currency: z.string().min(1).optional(),
  email: z.number().min(0).optional(),
  sms: z.number().min(0).optional(),
  webhook: z.number().min(0).optional(),
  notify: z.number().min(0).optional(),
  /** Fixed cost of the campaign itself (content, design, media), counted once in the journey's ROI. */
  campaign: z.number().min(0).optional(),
});
export type Costs = z.infer<typeof Costs>;

export const Settings = z.strictObject({
  /** Fallback when the contact has no (valid) timezone. @default UTC */
  timezone: TimeZone.optional(),
  /** @default en */
  default_locale: z.string().min(2).optional(),
  /** Locales every template used by the journey must provide. @default [default_locale] */
  locales: z.array(z.string().min(2)).min(1).optional(),
  /** Marketing messages are not sent between start and end (local time; may span midnight). */
  quiet_hours: QuietHours.optional(),
  /** If given, marketing messages are only sent inside one of these windows (local time). */
  send_windows: z.array(SendWindow).min(1).optional(),
  frequency_caps: z.strictObject({ email: FrequencyCap.optional(), sms: FrequencyCap.optional() }).optional(),
  costs: Costs.optional(),
  /** What the API does with a trigger event for a contact it does not know. @default reject */
  unknown_contact: z.enum(['create', 'reject']).optional(),
  /** How far back wait_for_event looks for events that arrived before the run reached it. @default 15m */
  event_lookback: Duration.optional(),
});
export type Settings = z.infer<typeof Settings>;

// ---------------------------------------------------------------------------------------------
// Steps

const base = {
  /** Label shown in the UI. */
  name: z.string().optional(),
  description: z.string().optional(),
};
const next = { next: StepId };
const onFailure = {
  /** Step to go to when the action fails permanently. @default next */
  on_failure: StepId.optional(),
};

export const SendEmailStep = z.strictObject({
  type: z.literal('send_email'),
  ...base,
  template: z.string().min(1),
  /** Handlebars subject overriding the template's subject.hbs. */
  subject: z.string().min(1).optional(),
  from: z.string().min(1).optional(),
  reply_to: z.string().min(1).optional(),
  /** Transactional mail ignores quiet hours, send windows and frequency caps. @default marketing */
  category: z.enum(['marketing', 'transactional']).optional(),
  /**
   * The subscription topic (MAIL_TOPICS) a marketing message is about: a contact who opted out of it on this channel
   * is skipped (no_consent). Marketing only.
   */
  topic: z.string().min(1).max(40).optional(),
  ...next,
  ...onFailure,
});
export type SendEmailStep = z.infer<typeof SendEmailStep>;

export const SendSmsStep = z
  .strictObject({
    type: z.literal('send_sms'),
    ...base,
    template: z.string().min(1).optional(),
    /** Inline handlebars body, instead of a template. */
    body: z.string().min(1).optional(),
    /** @default marketing */
    category: z.enum(['marketing', 'transactional']).optional(),
    /** The subscription topic (MAIL_TOPICS), as on send_email. Marketing only. */
    topic: z.string().min(1).max(40).optional(),
    ...next,
    ...onFailure,
  })
  .refine((s) => (s.template === undefined) !== (s.body === undefined), { error: 'an SMS needs either template or body (not both)' });
export type SendSmsStep = z.infer<typeof SendSmsStep>;

export const WEBHOOK_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type WebhookMethod = (typeof WEBHOOK_METHODS)[number];

/** GET and DELETE webhooks carry no body (the compiler refuses one; the activity sends none). */
export function webhookSendsBody(method: string | undefined): boolean {
  return method !== 'GET' && method !== 'DELETE';
}

export const WebhookStep = z.strictObject({
  type: z.literal('webhook'),
  ...base,
  url: z.string().regex(/^https?:\/\//, { error: formatError('is not an http(s) URL') }),
  /** @default POST. GET and DELETE send no body (the signature covers the empty one). */
  method: z.enum(WEBHOOK_METHODS).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  /** JSON body; string values are handlebars templates. Not with GET or DELETE. */
  body: z.unknown().optional(),
  /** @default 10s */
  timeout: Duration.optional(),
  /** @default 3 */
  retries: z.number().int().min(0).max(10).optional(),
  ...next,
  ...onFailure,
}).refine((s) => s.body === undefined || webhookSendsBody(s.method), {
  path: ['body'],
  error: 'a GET or DELETE webhook sends no body: remove body, or use POST, PUT or PATCH',
});
export type WebhookStep = z.infer<typeof WebhookStep>;

/** owner: the contact's sales owner; manager: that owner's manager; or a named user/group. */
export const NotifyTarget = z.union([
  z.enum(['owner', 'manager']),
  z.strictObject({ user: z.string().min(1) }),
  z.strictObject({ group: z.string().min(1) }),
]);
export type NotifyTarget = z.infer<typeof NotifyTarget>;

export const NotifyStep = z
  .strictObject({
    type: z.literal('notify'),
    ...base,
    channel: ChatChannel,
    to: NotifyTarget,
    /** Inline handlebars message, instead of a template. */
    message: z.string().min(1).optional(),
    template: z.string().min(1).optional(),
    ...next,
    ...onFailure,
  })
  .refine((s) => (s.message === undefined) !== (s.template === undefined), { error: 'a notification needs either message or template (not both)' });
export type NotifyStep = z.infer<typeof NotifyStep>;

export const WaitStep = z
  .strictObject({
    type: z.literal('wait'),
    ...base,
    duration: Duration.optional(),
    /** Until a date field (or journey.entered_at) plus an offset. */
    until_date: z.strictObject({ field: z.string().min(1), offset: SignedDuration.optional() }).optional(),
    /** Until the next local time of day (contact's timezone), optionally only on some weekdays. */
    until_time: z.strictObject({ time: TimeOfDay, days: z.array(Weekday).min(1).optional() }).optional(),
    ...next,
    /** For until_date: where to go when the field is empty or not a date. @default next */
    on_missing: StepId.optional(),
  })
  .refine((s) => [s.duration, s.until_date, s.until_time].filter((x) => x !== undefined).length === 1, {
    error: 'a wait needs exactly one of duration, until_date or until_time',
  });
export type WaitStep = z.infer<typeof WaitStep>;

export const WaitForEventStep = z.strictObject({
  type: z.literal('wait_for_event'),
  ...base,
  event: z.string().min(1),
  where: PropertyFilters.optional(),
  timeout: Duration,
  /** Events that occurred up to this long before the run reached the step also count. @default settings.event_lookback */
  lookback: Duration.optional(),
  on_event: StepId,
  on_timeout: StepId,
});
export type WaitForEventStep = z.infer<typeof WaitForEventStep>;

export const BranchCase = z.strictObject({ when: Condition, next: StepId });
export type BranchCase = z.infer<typeof BranchCase>;

export const BranchStep = z.strictObject({
  type: z.literal('branch'),
  ...base,
  /** Checked in order; the first match wins. */
  conditions: z.array(BranchCase).min(1),
  else: StepId.meta({ description: 'Where contacts go when no condition matches' }),
});
export type BranchStep = z.infer<typeof BranchStep>;

export const SplitPath = z.strictObject({
  name: z.string().min(1),
  percent: z.number().gt(0).max(100),
  /**
   * A control group that gets no messages: from this arm on, the run skips every send_email and send_sms step (logged
   * `held_out` and counted, taking the step's `next` as if sent) but otherwise goes on along `next`: waits, goals and
   * conversion windows count as for any run, and internal steps (notify, webhook, handoff_to_sales, tags, score,
   * attributes) still happen. Held out for the rest of the run. Stats compare every other arm with it.
   */
  holdout: z.boolean().optional(),
  next: StepId,
});
export type SplitPath = z.infer<typeof SplitPath>;

export const SplitStep = z.strictObject({
  type: z.literal('split'),
  ...base,
  paths: z.array(SplitPath).min(2),
});
export type SplitStep = z.infer<typeof SplitStep>;

export const UpdateScoreStep = z.strictObject({
  type: z.literal('update_score'),
  ...base,
  // A contact's score is a 32-bit column: a delta beyond it could never be stored.
  delta: int32({ min: -INT32_MAX }).refine((n) => n !== 0, { error: 'delta must not be 0' }),
  reason: z.string().min(1),
  ...next,
});
export type UpdateScoreStep = z.infer<typeof UpdateScoreStep>;

const Tags = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

export const TagStep = z.strictObject({ type: z.literal('tag'), ...base, tags: Tags, ...next });
export type TagStep = z.infer<typeof TagStep>;

export const UntagStep = z.strictObject({ type: z.literal('untag'), ...base, tags: Tags, ...next });
export type UntagStep = z.infer<typeof UntagStep>;

export const SetAttributeStep = z.strictObject({
  type: z.literal('set_attribute'),
  ...base,
  field: z.string().min(1),
  value: Scalar,
  ...next,
});
export type SetAttributeStep = z.infer<typeof SetAttributeStep>;

export const SetLifecycleStageStep = z.strictObject({
  type: z.literal('set_lifecycle_stage'),
  ...base,
  stage: LifecycleStage,
  ...next,
});
export type SetLifecycleStageStep = z.infer<typeof SetLifecycleStageStep>;

export const TerritoryRule = z
  .strictObject({ when: Condition, team: z.string().min(1).optional(), owner: z.string().min(1).optional() })
  .refine((r) => (r.team === undefined) !== (r.owner === undefined), { error: 'a territory rule needs either team or owner' });
export type TerritoryRule = z.infer<typeof TerritoryRule>;

export const Assignment = z.discriminatedUnion('strategy', [
  /** Rotate through the members of a team. */
  z.strictObject({ strategy: z.literal('round_robin'), team: z.string().min(1) }),
  /** First matching rule picks a team (round robin inside it) or an owner. */
  z.strictObject({ strategy: z.literal('territory'), rules: z.array(TerritoryRule).min(1), fallback_team: z.string().min(1) }),
  /** The owner is named by a contact field (e.g. attributes.account_owner). */
  z.strictObject({ strategy: z.literal('owner_attribute'), field: z.string().min(1), fallback_team: z.string().min(1) }),
]);
export type Assignment = z.infer<typeof Assignment>;

export const HandoffStep = z.strictObject({
  type: z.literal('handoff_to_sales'),
  ...base,
  assignment: Assignment,
  task: z
    .strictObject({
      /** @default "Follow up with {{contact.first_name}} {{contact.last_name}}" */
      title: z.string().min(1).optional(),
      due: Duration,
    })
    .optional(),
  /** Carried to the sales-task system, which escalates if the task is still open after `after`. */
  sla: z
    .strictObject({
      after: Duration,
      /** @default manager */
      escalate_to: z.enum(['manager']).optional(),
      channel: ChatChannel.optional(),
    })
    .optional(),
  ...next,
  ...onFailure,
});
export type HandoffStep = z.infer<typeof HandoffStep>;

export const GoalStep = z.strictObject({
  type: z.literal('goal'),
  ...base,
  /** Goal id recorded as the conversion. @default the step id */
  goal: z.string().min(1).optional(),
});
export type GoalStep = z.infer<typeof GoalStep>;

export const ExitStep = z.strictObject({
  type: z.literal('exit'),
  ...base,
  reason: z.string().min(1).optional(),
});
export type ExitStep = z.infer<typeof ExitStep>;

const stepVariants = [
  SendEmailStep,
  SendSmsStep,
  WebhookStep,
  NotifyStep,
  WaitStep,
  WaitForEventStep,
  BranchStep,
  SplitStep,
  UpdateScoreStep,
  TagStep,
  UntagStep,
  SetAttributeStep,
  SetLifecycleStageStep,
  HandoffStep,
  GoalStep,
  ExitStep,
] as const;

export const Step = z.discriminatedUnion('type', stepVariants).meta({ id: 'Step' });
export type Step = z.infer<typeof Step>;
export type StepType = Step['type'];
export const STEP_TYPES = stepVariants.map((s) => s.shape.type.value) as StepType[];

/** List form of steps: each item carries its id (`- id: welcome`). */
export const StepListItem = z
  .discriminatedUnion(
    'type',
    stepVariants.map((v) => v.safeExtend({ id: StepId })) as unknown as [
      z.ZodObject<{ type: z.ZodLiteral<StepType>; id: typeof StepId }>,
      ...z.ZodObject<{ type: z.ZodLiteral<StepType>; id: typeof StepId }>[],
    ],
  )
  .meta({ id: 'StepListItem' });
export type StepListItem = Step & { id: StepId };

export const StepMap = z.record(StepId, Step);
export type StepMap = z.infer<typeof StepMap>;

// ---------------------------------------------------------------------------------------------
// Journey

const journeyShape = {
  /** Editors' JSON Schema reference; ignored. */
  $schema: z.string().optional(),
  id: Slug,
  name: z.string().min(1),
  description: z.string().optional(),
  triggers: z.array(Trigger).min(1),
  entry: Entry.optional(),
  exit: z.array(ExitRule).optional(),
  goals: z.array(Goal).optional(),
  settings: Settings.optional(),
  /** @default the first step */
  start: StepId.optional(),
};

/** A journey with steps as a map keyed by step id: the form the compiler validates. */
export const JourneyDefinition = z.strictObject({ ...journeyShape, steps: StepMap });
export type JourneyDefinition = z.infer<typeof JourneyDefinition>;

/**
 * What may be written in a file: steps as a map, or as a list whose items carry `id`
 * (the compiler turns a list into a map before validating, so errors point at step ids).
 */
export const JourneySource = z
  .strictObject({ ...journeyShape, steps: z.union([StepMap, z.array(StepListItem).min(1)]) })
  .meta({ title: 'itinera journey', description: 'A marketing-automation journey (YAML or JSON)' });
export type JourneySource = z.infer<typeof JourneySource>;

// ---------------------------------------------------------------------------------------------
// Contact snapshot (input to the simulator and the interpreter)

export const Contact = z.strictObject({
  id: z.string().min(1),
  email: z.string().nullish(),
  phone: z.string().nullish(),
  first_name: z.string().nullish(),
  last_name: z.string().nullish(),
  company: z.string().nullish(),
  job_title: z.string().nullish(),
  industry: z.string().nullish(),
  region: z.string().nullish(),
  country: z.string().nullish(),
  /** IANA zone; falls back to the journey's settings.timezone. */
  timezone: z.string().nullish(),
  locale: z.string().nullish(),
  lifecycle_stage: LifecycleStage.nullish(),
  score: z.number().default(0),
  tags: z.array(z.string()).default([]),
  owner_id: z.string().nullish(),
  created_at: z.string().nullish(),
  /** Custom fields, referenced as attributes.<name>. */
  attributes: z.record(z.string(), z.unknown()).default({}),
});
export type Contact = z.infer<typeof Contact>;
export const CONTACT_FIELDS = Object.keys(Contact.shape) as (keyof Contact)[];
