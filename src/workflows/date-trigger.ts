import { proxyActivities } from '@temporalio/workflow';
import type { Activities, DateSweepInput, DateSweepResult } from '../contracts';

const sweeps = proxyActivities<Activities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 10 },
});

/**
 * One firing of a journey's date-trigger Schedule: enters the contacts whose occurrences fell since the last sweep.
 * The window ends at the workflow's start (the firing time), fixed before the activity runs so a retry sweeps the
 * same window.
 */
export async function dateTriggerSweepWorkflow(input: DateSweepInput): Promise<DateSweepResult> {
  const until = input.until ?? Date.now();
  return sweeps.sweepDateTriggers({ journeyId: input.journeyId, until, ...(input.from !== undefined ? { from: input.from } : {}) });
}
