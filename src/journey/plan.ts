/**
 * The compiled, normalized journey plan: what is stored in Postgres, hashed into a version and
 * passed into Temporal workflows. Plain JSON data (no Dates, no functions, no undefined-only keys):
 * durations are milliseconds, times of day are minutes after midnight, weekdays are 0 (Sunday) … 6,
 * every step carries its id and explicit next ids, and all defaults are filled in.
 *
 * Types only, so that workflow code can import it freely.
 */
import type { ChatChannel, LifecycleStage, MessageChannel, NotifyTarget, Scalar, StepType } from './schema';

export const PLAN_VERSION = 1 as const;

export interface JourneyPlan {
  v: typeof PLAN_VERSION;
  id: string;
  name: string;
  description?: string;
  triggers: PlanTrigger[];
  entry: PlanEntry;
  exitRules: PlanExitRule[];
  goals: PlanGoal[];
  settings: PlanSettings;
  start: string;
  /** Keyed by step id, in source order. */
  steps: Record<string, PlanStep>;
  /**
   * Event types a run reacts to (wait_for_event, exit/goal rules, event conditions). The router may
   * drop every other event instead of signalling the run.
   */
  eventTypes: string[];
  /** Events a run keeps for wait_for_event lookback and "event seen within" conditions. */
  retention: { ms: number; maxEvents: number };
  /**
   * Dotted contact paths the run's rules read (exit/goal `when:`, branch, territory, until_date, owner_attribute;
   * `tags` for tag conditions). A running run is signalled with a contact change only when it touches one of these.
   * Absent when none (and in plans compiled before it: the router then computes it from the plan).
   */
  contactFields?: string[];
}

// --- conditions -------------------------------------------------------------------------------

/** A comparison on one value. Dates: `abs` is an epoch ms, `rel` an offset from "now". */
export type PlanTest =
  | { op: 'eq' | 'neq' | 'contains'; value: Scalar }
  | { op: 'in'; value: Scalar[] }
  | { op: 'gt' | 'gte' | 'lt' | 'lte'; value: number | string }
  | { op: 'exists'; value: boolean }
  | { op: 'before' | 'after'; value: { abs: number } | { rel: number } };

/** A property (dotted path split into segments) with tests that must all hold. */
export interface PlanFilter {
  path: string[];
  tests: PlanTest[];
}

export type PlanCondition =
  | { op: 'all'; of: PlanCondition[] }
  | { op: 'any'; of: PlanCondition[] }
  | { op: 'not'; of: PlanCondition }
  | { op: 'field'; field: string[]; tests: PlanTest[] }
  | { op: 'tag'; tag: string }
  | { op: 'event'; event: string; where: PlanFilter[]; withinMs: number; atLeast: number };

// --- journey-level rules ------------------------------------------------------------------------

export type PlanTrigger =
  | { type: 'event'; event: string; where: PlanFilter[] }
  | { type: 'audience'; filter: PlanCondition }
  | { type: 'schedule'; cron?: string; at?: number; timezone: string; audience?: PlanCondition }
  | { type: 'change'; field: string[]; from?: Scalar; to?: Scalar }
  /** A date field's occurrences (src/triggers/occurrence.ts); `at` in minutes after local midnight. */
  | { type: 'date'; field: string[]; offsetMs: number; at?: number; repeat: 'once' | 'yearly'; audience?: PlanCondition };

export interface PlanEntry {
  reEntry: 'once' | 'always' | 'after_exit' | 'after';
  /** Only for reEntry 'after'. */
  reEntryAfterMs?: number;
  maxConcurrent: number;
  /** entry.key without `event.`: the path into the trigger event whose value keys the run (`['properties', 'opportunity_id']`). */
  key?: string[];
  /** Entry caps; days and hours are counted in `timezone` (the journey's). */
  cap?: { total?: number; perDay?: number; perHour?: number; timezone: string };
}

export type PlanExitRule =
  | { kind: 'event'; event: string; where: PlanFilter[]; reason: string }
  | { kind: 'condition'; when: PlanCondition; reason: string };

export interface PlanGoal {
  id: string;
  name: string;
  event?: string;
  where: PlanFilter[];
  when?: PlanCondition;
  /** Conversion window from entry; absent = unlimited. */
  withinMs?: number;
  exit: boolean;
}

export interface PlanSendWindow {
  /** 0 = Sunday … 6 = Saturday. */
  days: number[];
  startMinute: number;
  endMinute: number;
}

export interface PlanFrequencyCap {
  max: number;
  perMs: number;
  onCap: 'defer' | 'skip';
}

export interface PlanSettings {
  timezone: string;
  defaultLocale: string;
  locales: string[];
  quietHours?: { startMinute: number; endMinute: number };
  sendWindows: PlanSendWindow[];
  frequencyCaps: Partial<Record<MessageChannel, PlanFrequencyCap>>;
  /** `campaign`: a fixed cost counted once in ROI; absent when the journey sets none (keeps older plans' hashes). */
  costs: { currency: string; email: number; sms: number; webhook: number; notify: number; campaign?: number };
  unknownContact: 'create' | 'reject';
  eventLookbackMs: number;
}

// --- steps ------------------------------------------------------------------------------------

interface StepBase<T extends StepType> {
  id: string;
  type: T;
  name?: string;
}

export interface PlanSendEmail extends StepBase<'send_email'> {
  template: string;
  subject?: string;
  from?: string;
  replyTo?: string;
  category: 'marketing' | 'transactional';
  /** Subscription topic (marketing only). */
  topic?: string;
  /** Locales the template provides (empty when compiled without a catalog). */
  locales: string[];
  next: string;
  onFailure: string;
}

export interface PlanSendSms extends StepBase<'send_sms'> {
  template?: string;
  body?: string;
  category: 'marketing' | 'transactional';
  /** Subscription topic (marketing only). */
  topic?: string;
  locales: string[];
  next: string;
  onFailure: string;
}

export interface PlanWebhook extends StepBase<'webhook'> {
  url: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  headers: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
  retries: number;
  next: string;
  onFailure: string;
}

export interface PlanNotify extends StepBase<'notify'> {
  channel: ChatChannel;
  to: NotifyTarget;
  message?: string;
  template?: string;
  locales: string[];
  next: string;
  onFailure: string;
}

export type PlanWaitUntil =
  | { mode: 'duration'; ms: number }
  | { mode: 'until_date'; field: string[]; offsetMs: number }
  | { mode: 'until_time'; minute: number; days: number[] };

export interface PlanWait extends StepBase<'wait'> {
  wait: PlanWaitUntil;
  next: string;
  onMissing: string;
}

export interface PlanWaitForEvent extends StepBase<'wait_for_event'> {
  event: string;
  where: PlanFilter[];
  timeoutMs: number;
  lookbackMs: number;
  onEvent: string;
  onTimeout: string;
}

export interface PlanBranch extends StepBase<'branch'> {
  conditions: { when: PlanCondition; next: string }[];
  else: string;
}

export interface PlanSplit extends StepBase<'split'> {
  /** Percentages sum to 100. */
  paths: { name: string; percent: number; holdout: boolean; next: string }[];
}

export interface PlanUpdateScore extends StepBase<'update_score'> {
  delta: number;
  reason: string;
  next: string;
}

export interface PlanTag extends StepBase<'tag'> {
  tags: string[];
  next: string;
}

export interface PlanUntag extends StepBase<'untag'> {
  tags: string[];
  next: string;
}

export interface PlanSetAttribute extends StepBase<'set_attribute'> {
  field: string[];
  value: Scalar;
  next: string;
}

export interface PlanSetLifecycleStage extends StepBase<'set_lifecycle_stage'> {
  stage: LifecycleStage;
  next: string;
}

export type PlanAssignment =
  | { strategy: 'round_robin'; team: string }
  | { strategy: 'territory'; rules: { when: PlanCondition; team?: string; owner?: string }[]; fallbackTeam: string }
  | { strategy: 'owner_attribute'; field: string[]; fallbackTeam: string };

export interface PlanHandoff extends StepBase<'handoff_to_sales'> {
  assignment: PlanAssignment;
  task?: { title: string; dueMs: number };
  sla?: { afterMs: number; escalateTo: 'manager'; channel?: ChatChannel };
  next: string;
  onFailure: string;
}

export interface PlanGoalStep extends StepBase<'goal'> {
  goal: string;
}

export interface PlanExit extends StepBase<'exit'> {
  reason: string;
}

export type PlanStep =
  | PlanSendEmail
  | PlanSendSms
  | PlanWebhook
  | PlanNotify
  | PlanWait
  | PlanWaitForEvent
  | PlanBranch
  | PlanSplit
  | PlanUpdateScore
  | PlanTag
  | PlanUntag
  | PlanSetAttribute
  | PlanSetLifecycleStage
  | PlanHandoff
  | PlanGoalStep
  | PlanExit;

export function assertNever(x: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(x)}`);
}

/** Step ids a step can go to next, in a fixed order (used by graph checks, diffs and UIs). */
export function successors(step: PlanStep): string[] {
  switch (step.type) {
    case 'send_email':
    case 'send_sms':
    case 'webhook':
    case 'notify':
    case 'handoff_to_sales':
      return step.onFailure === step.next ? [step.next] : [step.next, step.onFailure];
    case 'wait':
      return step.onMissing === step.next ? [step.next] : [step.next, step.onMissing];
    case 'wait_for_event':
      return [step.onEvent, step.onTimeout];
    case 'branch':
      return [...step.conditions.map((c) => c.next), step.else];
    case 'split':
      return step.paths.map((p) => p.next);
    case 'update_score':
    case 'tag':
    case 'untag':
    case 'set_attribute':
    case 'set_lifecycle_stage':
      return [step.next];
    case 'goal':
    case 'exit':
      return [];
    default:
      return assertNever(step, 'step');
  }
}
