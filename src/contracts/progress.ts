/**
 * What batch workflows count, as their activities report a page and their queries report the whole: one declaration
 * for each set of counters.
 */
import type { PlanCondition } from '../journey/plan';

/** What a launch enrols: contacts matching `audience` (everyone when absent) who may be messaged on `consent`. */
export type LaunchFilter = {
  audience?: PlanCondition;
  consent?: 'email' | 'sms' | null;
  /** Only the contacts this contact import wrote (its enrolment launch). */
  importId?: string;
};

/** An audience launch's counters: per page (launchPage) and in total (LaunchProgress). */
export type LaunchCounts = { scanned: number; matched: number; enrolled: number; skipped: number; skipReasons: Record<string, number> };

export type LaunchStatus = 'running' | 'completed' | 'cancelled' | 'failed';

/** Progress of an audience launch, as its query and its final result report it. */
export type LaunchProgress = LaunchCounts & {
  launchId: string;
  journeyId: string;
  version: number;
  status: LaunchStatus;
  pages: number;
};

/** What selects runs, in a list and in a bulk action. */
export type RunFilter = {
  journeyId?: string;
  version?: number;
  step?: string;
  status?: string;
  contactId?: string;
  /** Only runs that look stuck (see src/runs/inspect.ts); implies `status: running`. */
  stuck?: boolean;
  /** A pending activity on at least this attempt makes a run stuck. @default 3 */
  minAttempts?: number;
  /** Time a run may spend in a step beyond what the step itself allows. @default 600 (10 minutes) */
  graceSeconds?: number;
};

export type BulkAction = 'cancel' | 'terminate' | 'skip-wait' | 'retry-now' | 'migrate';

/** A run a bulk action could not act on, and why. */
export type BulkRunNote = { workflowId: string; message: string };

/** A bulk action's counters: per page (bulkRunPage) and in total (BulkProgress). */
export type BulkCounts = {
  /** Runs read from the projection. */
  scanned: number;
  /** Of those, runs the filter selects (all of them unless `stuck`). */
  matched: number;
  succeeded: number;
  /** Runs that had already ended in Temporal, or that the repair did not apply to. */
  skipped: number;
  failed: number;
  /** The first errors, for the operator to look at. */
  errors: BulkRunNote[];
};

export type BulkProgress = BulkCounts & {
  bulkId: string;
  action: BulkAction;
  dryRun: boolean;
  status: 'running' | 'completed' | 'cancelled' | 'failed';
  /** Running runs the filter could select when the action began (the denominator of progress). */
  total: number;
  /** Why the first skipped runs were skipped (the repair did not apply to them). Absent in bulk actions begun before it existed. */
  notes?: BulkRunNote[];
  pages: number;
  error?: string;
};

export type BulkPageResult = BulkCounts & {
  /** Why runs were skipped (the first few): the repair did not apply to them. */
  notes: BulkRunNote[];
  nextCursor: string | null;
};

/** One pass of the daily score decay. */
export type DecayProgress = { batches: number; scanned: number; decayed: number; skipped: number; pointsRemoved: number };

/** Per date trigger: what the sweep found and did. `skipped` counts contacts by reason (no personal data). */
export type DateSweepTriggerResult = { field: string; candidates: number; started: number; alreadyEntered: number; skipped: Record<string, number> };
export type DateSweepResult = { journeyId: string; version: number | null; from: number; until: number; triggers: DateSweepTriggerResult[] };
