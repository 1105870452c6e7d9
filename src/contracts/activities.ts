/**
 * The activities every worker registers, as workflows call them through `proxyActivities<Activities>()`. One object
 * parameter each; every side effect carries an idempotency key. `createActivities(deps)` (src/activities) satisfies
 * this interface, so workflow code depends on the contract, never on the implementation.
 */
import type { JourneyPlan } from '../journey/plan';
import type { ChatChannel, Contact, NotifyTarget } from '../journey/schema';
import type { BulkAction, BulkPageResult, DateSweepResult, DecayProgress, LaunchCounts, LaunchFilter, LaunchStatus, RunFilter } from './progress';

export type { ChatChannel } from '../journey/schema';

/** Why a message was not sent, recorded instead of a send. */
export const SKIPPED = ['suppressed', 'no_consent', 'no_address'] as const;
export type Skipped = (typeof SKIPPED)[number];

/** Who and why, for every contact action: the key makes the change happen once. */
export type ContactActionInput = {
  idempotencyKey: string;
  contactId: string;
  actor: string;
  /** The run making the change (journey steps pass it): its `contact.updated` names it, so it is not signalled back. */
  workflowId?: string;
};
export type ContactActionResult = { applied: boolean; duplicate: boolean };

/** The run projection (journey_runs) as the workflow reports it after each step. */
export type RunProjection = {
  workflowId: string;
  runId: string;
  journeyId: string;
  version: number;
  contactId: string;
  entryKey: string;
  currentStep: string | null;
  status: string;
  /** Set when the run has just entered `currentStep`: the n-th step entry of this run, journaled once. */
  stepSeq?: number;
};

/** One step entry of a run's step journal (journey_run_steps): the n-th step the run entered. */
export type StepEntry = { seq: number; stepId: string };

/**
 * The run projection with the step entries made since the last one was written, in order (possibly none): the run
 * writes them together before its next await instead of one write per step. `currentStep` is the last entry's step.
 */
export type RunSteps = Omit<RunProjection, 'stepSeq'> & { steps: StepEntry[] };

/** A run's arm at a split step (run_arms), as the workflow reports it. */
export type RunArm = {
  workflowId: string;
  /** The first run of the chain, as in the run projection. */
  runId: string;
  journeyId: string;
  version: number;
  contactId: string;
  splitId: string;
  arm: string;
  holdout: boolean;
  /** The run's journal entry (journey_run_steps.seq) into the split: its later entries came after the assignment. */
  stepSeq: number;
};

/** Where a send comes from: the same for every retry and across continue-as-new. */
type SendRef = {
  /** `<workflowId>:<stepId>[:<n>]`. */
  idempotencyKey: string;
  contactId: string;
  journeyId: string;
  workflowId: string;
  stepId: string;
};

export type SendEmailInput = SendRef & {
  journeyName?: string;
  template: string;
  /** Inline Handlebars overriding the template's subject. */
  subject?: string;
  from?: string;
  locale?: string;
  category: 'marketing' | 'transactional';
  /** Subscription topic of a marketing message (MAIL_TOPICS): a contact who opted out of it on email is skipped. */
  topic?: string;
  /** Properties of the event that started the run, for templates. */
  trigger?: Record<string, unknown>;
};

export type SendEmailResult =
  | { status: 'sent'; messageId: string; duplicate: boolean }
  | { status: 'bounced'; error: string; duplicate: boolean }
  | { status: Skipped; duplicate: boolean };

export type SendSmsInput = SendRef & {
  /** A template under journeys/templates/_sms, or an inline body (Handlebars, rendered with the same context). */
  template?: string;
  body?: string;
  category: 'marketing' | 'transactional';
  /** Subscription topic of a marketing message (MAIL_TOPICS): a contact who opted out of it on SMS is skipped. */
  topic?: string;
  trigger?: Record<string, unknown>;
};

export type SendSmsResult =
  | { status: 'sent'; providerMessageId: string; duplicate: boolean }
  | { status: 'failed'; error: string; duplicate: boolean }
  | { status: Skipped; duplicate: boolean };

export type CallWebhookInput = SendRef & {
  url: string;
  /** One of the journey language's WEBHOOK_METHODS. */
  method: string;
  headers: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
  /** Properties of the event that started the run, for `{{event.…}}`. */
  trigger?: Record<string, unknown>;
};

export type CallWebhookResult = { status: 'delivered' | 'failed'; httpStatus?: number; error?: string };

export type NotifyInput = SendRef & {
  channel: ChatChannel;
  to: NotifyTarget;
  template?: string;
  message?: string;
  locale?: string;
  /** Properties of the event that started the run, for `{{event.…}}`. */
  trigger?: Record<string, unknown>;
};

export type NotifyResult = { status: 'sent' | 'stored' | 'failed'; error?: string; duplicate: boolean };

/** How a hand-off's CRM webhook went: `none` when no CRM webhook is configured. */
export type CrmDeliveryStatus = 'delivered' | 'failed' | 'skipped' | 'none';

export type HandoffToSalesInput = {
  idempotencyKey: string;
  contactId: string;
  journeyId: string;
  workflowId: string;
  stepId?: string;
  team?: string;
  owner?: string;
  dueAt?: number;
  /** The sales task's title as written in the journey (an inline template, rendered here for the contact). */
  taskTitle?: string;
  /** Escalate to the rep's manager when the hand-off is still pending then (see handoffSlaWorkflow). */
  sla?: { escalateAt: number; escalateTo: 'manager'; channel?: ChatChannel };
};

export type HandoffToSalesResult = { ownerId: string | null; duplicate: boolean; handoffId?: string; crm?: CrmDeliveryStatus };

export type ImportChunkResult = { done: boolean; rowsDone: number; totalRows: number; status: string };

export type LaunchPageResult = LaunchCounts & { nextCursor: string | null };

export interface Activities {
  // Runs
  loadPlan(input: { journeyId: string; version: number }): Promise<JourneyPlan>;
  loadContact(input: { contactId: string }): Promise<Contact>;
  /** loadPlan and loadContact in one call: what a run's first execution reads before its first step. */
  loadRunStart(input: { journeyId: string; version: number; contactId: string }): Promise<{ plan: JourneyPlan; contact: Contact }>;
  recordRun(run: RunProjection): Promise<void>;
  /** The projection and the journal entries made since the last write, in one transaction. */
  recordRunSteps(run: RunSteps): Promise<void>;
  /** Send times of this contact's messages on a channel since `since`, across all journeys (frequency caps). */
  countMessages(input: { contactId: string; channel: string; since: number }): Promise<number[]>;

  // Sends (heartbeating)
  sendEmail(input: SendEmailInput): Promise<SendEmailResult>;
  sendSms(input: SendSmsInput): Promise<SendSmsResult>;
  notify(input: NotifyInput): Promise<NotifyResult>;
  callWebhook(input: CallWebhookInput): Promise<CallWebhookResult>;

  // Contact actions
  tagContact(input: ContactActionInput & { tags: string[] }): Promise<ContactActionResult>;
  untagContact(input: ContactActionInput & { tags: string[] }): Promise<ContactActionResult>;
  /** `field`: the step's contact path (`attributes.plan`, `industry`); `name`: the attribute name, for runs scheduled before `field` existed. */
  setContactAttribute(input: ContactActionInput & { name: string; field?: string; value: unknown }): Promise<ContactActionResult>;
  setLifecycleStage(input: ContactActionInput & { stage: string; forwardOnly?: boolean }): Promise<ContactActionResult & { stage: string }>;
  updateScore(input: ContactActionInput & { delta: number; reason: string }): Promise<ContactActionResult & { score?: number }>;
  recordConversion(input: { idempotencyKey: string; journeyId: string; version: number; contactId: string; goal: string; value?: number }): Promise<{ recorded: boolean }>;
  /** The arm a run got at a split step; once per run and split (a retry or a loop back records nothing more). */
  recordArm(input: RunArm): Promise<{ recorded: boolean }>;

  // Sales
  handoffToSales(input: HandoffToSalesInput): Promise<HandoffToSalesResult>;
  escalateHandoff(input: { handoffId: string; journeyId: string; workflowId: string; channel: ChatChannel }): Promise<{ escalated: boolean; reason: string }>;

  // Audience launches
  /** One sweep of a journey's date triggers over (from, until]; advances the journey's cursor (src/triggers/sweep.ts). */
  sweepDateTriggers(input: { journeyId: string; until: number; from?: number }): Promise<DateSweepResult>;
  prepareLaunch(input: { launchId: string; journeyId: string; version?: number; filter?: LaunchFilter; ratePerSecond: number; createdBy?: string }): Promise<{ version: number; status: string }>;
  launchPage(input: { launchId: string; journeyId: string; version: number; after: string | null; pageSize: number }): Promise<LaunchPageResult>;
  recordLaunchProgress(input: LaunchCounts & { launchId: string; status: LaunchStatus; error?: string }): Promise<void>;

  // Bulk run actions
  countBulkCandidates(input: { filter: RunFilter; before: number }): Promise<number>;
  bulkRunPage(input: {
    action: BulkAction;
    filter: RunFilter;
    reason?: string;
    /** For `migrate`: the target version (default: each journey's latest). */
    version?: number;
    requestedBy?: string;
    dryRun: boolean;
    before: number;
    after: string | null;
    pageSize: number;
  }): Promise<BulkPageResult>;

  // Contact imports (src/imports)
  /** Plans, writes (unless a dry run) and counts the import's next chunk; heartbeats per row. */
  importChunk(input: { importId: string }): Promise<ImportChunkResult>;
  /** Ends an import before its last chunk; a completed import stays completed. */
  endImport(input: { importId: string; status: 'cancelled' | 'failed'; error?: string }): Promise<void>;

  // Maintenance
  applyScoreDecay(): Promise<DecayProgress>;
  /** Deletes the Idempotency-Key rows past their 24 h. */
  sweepIdempotencyKeys(): Promise<{ deleted: number }>;
}
