import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client, type ScheduleDescription, type ScheduleOptions, type ScheduleUpdateOptions } from '@temporalio/client';
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

/**
 * Updates the Schedule, or creates it when it does not exist. Two processes syncing at once (replicas starting, a
 * publish on one API process while another starts) can both find it missing: the loser of the create updates instead.
 */
export async function upsertSchedule(
  client: Client,
  options: ScheduleOptions,
  apply: (prev: ScheduleDescription) => ScheduleUpdateOptions,
): Promise<{ result: 'created' | 'updated'; wasPaused?: boolean }> {
  const handle = client.schedule.getHandle(options.scheduleId);
  for (let attempt = 0; ; attempt++) {
    try {
      const current = await handle.describe();
      await handle.update(apply);
      return { result: 'updated', wasPaused: current.state.paused };
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    }
    try {
      await client.schedule.create(options);
      return { result: 'created' };
    } catch (err) {
      // Created by someone else since the describe: go round once more and update it.
      if (!(err instanceof ScheduleAlreadyRunning) || attempt >= 2) throw err;
    }
  }
}

/** Deletes a Schedule; false when it was already gone (another process deleted it first). */
export async function deleteSchedule(client: Client, scheduleId: string): Promise<boolean> {
  try {
    await client.schedule.getHandle(scheduleId).delete();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}
