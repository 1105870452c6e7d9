import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';
import { batchTaskQueue, SCORE_DECAY_SCHEDULE_ID, WorkflowType } from '../contracts';

/**
 * Creates the daily decay Schedule (03:00 in the scoring model's time zone) unless it exists; a Schedule survives
 * worker restarts, so this runs once per deployment, not once per start.
 */
export async function ensureScoreDecaySchedule(
  client: Client,
  opts: { taskQueue: string; timezone: string; scheduleId?: string },
): Promise<'created' | 'exists'> {
  try {
    await client.schedule.create({
      scheduleId: opts.scheduleId ?? SCORE_DECAY_SCHEDULE_ID,
      spec: { calendars: [{ hour: 3, minute: 0 }], timezone: opts.timezone },
      action: { type: 'startWorkflow', workflowType: WorkflowType.ScoreDecay, taskQueue: batchTaskQueue(opts.taskQueue), args: [] },
      policies: { overlap: 'SKIP', catchupWindow: '1 day' },
    });
    return 'created';
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) return 'exists';
    throw err;
  }
}
