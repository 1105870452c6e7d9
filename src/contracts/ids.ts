/**
 * Workflow types and ids: what a client names when it starts, signals or finds a workflow. Ids are deterministic where a
 * duplicate start must find the run it would have started instead of starting another.
 */

/** The registered workflow function names (src/workflows/index.ts exports functions of exactly these names). */
export const WorkflowType = {
  Journey: 'journeyWorkflow',
  AudienceLaunch: 'audienceLaunchWorkflow',
  BulkRunAction: 'bulkRunActionWorkflow',
  HandoffSla: 'handoffSlaWorkflow',
  ScoreDecay: 'scoreDecayWorkflow',
  DateTriggerSweep: 'dateTriggerSweepWorkflow',
  ContactImport: 'contactImportWorkflow',
} as const;
export type WorkflowType = (typeof WorkflowType)[keyof typeof WorkflowType];

/**
 * One run per journey and contact, plus the entry key where several may run: the triggering event's id under
 * `re_entry: always`, the key's value under `entry.key` (one run per contact per key).
 */
export function journeyWorkflowId(journeyId: string, contactId: string, entryKey?: string): string {
  return entryKey ? `journey:${journeyId}:${contactId}:${entryKey}` : `journey:${journeyId}:${contactId}`;
}

/** One SLA timer per hand-off, so a retried activity finds the timer it already started. */
export const handoffSlaWorkflowId = (handoffId: string): string => `handoff-sla:${handoffId}`;

/** The workflow id a journey's schedule trigger gives its launches (Temporal appends each firing's time). */
export const scheduledLaunchWorkflowId = (taskQueue: string, journeyId: string, index: number): string => `launch:${taskQueue}:${journeyId}:s${index}`;

/** The Schedule that starts the daily score decay. */
export const SCORE_DECAY_SCHEDULE_ID = 'itinera-score-decay';

/** The Schedule that sweeps a journey's date triggers, and the id its firings get (Temporal appends each firing's time). */
export const dateSweepScheduleId = (taskQueue: string, journeyId: string): string => `date-sweep:${taskQueue}:${journeyId}`;

/**
 * The entry key of a date trigger's run: one run per contact and occurrence (`date:attributes.renewal_date:2027-03-01`),
 * so a repeated sweep finds the run it started and next year's anniversary gets its own.
 */
export const dateEntryKey = (field: string, occurrenceDate: string): string => `date:${field}:${occurrenceDate}`;

/** The audience launch that enrols an import's contacts into a journey (one per import). */
export const importLaunchId = (importId: string): string => `launch_${importId}`;
