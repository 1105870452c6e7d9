/**
 * Every workflow's input and result. Inputs are versioned objects (`v: 1`) so they can evolve without breaking runs in
 * flight; a field added later is optional so recorded histories replay unchanged.
 */
import type { RunState } from '../journey/interpreter';
import type { ChatChannel } from './activities';
import type { JourneyEventSignal, RunStateView } from './messages';
import type { BulkAction, BulkProgress, LaunchCounts, LaunchFilter, RunFilter } from './progress';

/** journeyWorkflow: one contact's path through one journey version. */
export type JourneyWorkflowInput = {
  v: 1;
  journeyId: string;
  version: number;
  contactId: string;
  trigger?: JourneyEventSignal;
  entryKey?: string;
  /**
   * History length after which the run continues as new (at its next wait). Optional so inputs recorded before it
   * existed replay unchanged; tests lower it to reach continue-as-new in seconds. Carried across continue-as-new.
   * @default 4000
   */
  historyBudget?: number;
  /** Set only by continue-as-new: the interpreter state and events not yet fed to it. */
  carried?: { state: RunState; inbox: JourneyEventSignal[]; currentStep: string | null; startedAt: number; stepSeq?: number; migratedFrom?: number };
};

export type JourneyWorkflowResult = { status: RunStateView['status']; reason: string };

/** audienceLaunchWorkflow: enrols every contact a filter selects into one journey version. */
export type AudienceLaunchInput = {
  v: 1;
  journeyId: string;
  /** Absent for scheduled launches: the latest version when the launch begins. */
  version?: number;
  /** @default the workflow id (a Schedule gives each firing its own) */
  launchId?: string;
  /** @default the journey's own audience (audience or schedule trigger), everyone if it has none */
  filter?: LaunchFilter;
  /** Contacts started per second at most. @default 100 */
  ratePerSecond?: number;
  /** @default 500 */
  pageSize?: number;
  createdBy?: string;
  /** Set only by continue-as-new. */
  carried?: { cursor: string | null; counts: LaunchCounts; pages: number; version: number };
};

/** bulkRunActionWorkflow: cancels, terminates or repairs every running run a filter selects. */
export type BulkRunActionInput = {
  v: 1;
  action: BulkAction;
  filter: RunFilter;
  /** Recorded with each termination. */
  reason?: string;
  /** For `migrate`: the target version (default: each journey's latest). */
  version?: number;
  /** Count what would be acted on, act on nothing. */
  dryRun?: boolean;
  /** Epoch ms: only runs that started by then are acted on. */
  before: number;
  /** @default 100 */
  pageSize?: number;
  requestedBy?: string;
  /** Set only by continue-as-new. */
  carried?: { cursor: string | null; progress: BulkProgress };
};

/** handoffSlaWorkflow: one hand-off's SLA timer. */
export type HandoffSlaInput = {
  v: 1;
  handoffId: string;
  /** Epoch ms: escalate if the hand-off is still pending then. */
  escalateAt: number;
  /** @default wecom */
  channel?: ChatChannel;
  journeyId: string;
  /** The journey run that made the hand-off. */
  workflowId: string;
};

export type HandoffSlaResult = { escalated: boolean; reason: string };

/** scoreDecayWorkflow: the daily decay (no input). */
export type ScoreDecayResult = {
  scanned: number;
  decayed: number;
  pointsRemoved: number;
  /** Expired Idempotency-Key rows deleted; absent from runs started before this step existed. */
  idempotencyKeysDeleted?: number;
};

/** dateTriggerSweepWorkflow: enters the contacts whose date-trigger occurrences fell since the journey's last sweep. */
export type DateSweepInput = {
  v: 1;
  journeyId: string;
  /** Epoch ms the sweep reaches. @default the workflow's start time (a Schedule's firing time) */
  until?: number;
  /** Epoch ms to sweep from instead of the stored cursor (a re-sweep: runs already started are found, not repeated). */
  from?: number;
};

/** contactImportWorkflow: one contact import (src/imports), chunk by chunk from its stored checkpoint. */
export type ContactImportInput = {
  v: 1;
  /** The import's id, also the workflow id. */
  importId: string;
  /** Once every chunk is written, enrol the contacts the import wrote into this journey version (an audience launch). */
  enrol?: { journeyId: string; version: number; ratePerSecond?: number; createdBy?: string };
};
