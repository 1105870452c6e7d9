import { MONTHS, type Client, type ScheduleDescription, type ScheduleOptions, type ScheduleSpec, type ScheduleUpdateOptions } from '@temporalio/client';
import { deleteSchedule, upsertSchedule } from '../temporal/schedules';
import { and, eq, isNotNull } from 'drizzle-orm';
import { SCHEDULE_SYNC_LOCK, type DatabaseHandle, type Db } from '../db/client';
import { journeys, journeyVersions } from '../db/schema';
import type { JourneyPlan, PlanTrigger } from '../journey/plan';
import { syncDateSweepSchedules } from '../triggers/schedule';
import { type AudienceLaunchInput, batchTaskQueue, scheduledLaunchWorkflowId, WorkflowType } from '../contracts';

/**
 * Every journey Schedule's id starts with this and the task queue, so a sync can find (and remove) the ones no journey
 * wants now without touching another deployment's on the same namespace.
 */
export const JOURNEY_SCHEDULE_PREFIX = 'journey-schedule:';

export const journeyScheduleId = (taskQueue: string, journeyId: string, index: number) => `${JOURNEY_SCHEDULE_PREFIX}${taskQueue}:${journeyId}:${index}`;

type ScheduleTrigger = Extract<PlanTrigger, { type: 'schedule' }>;

/** A cron trigger repeats in its time zone; an `at` trigger fires once (a calendar on that exact UTC second). */
export function scheduleSpec(t: ScheduleTrigger): ScheduleSpec {
  if (t.cron !== undefined) return { cronExpressions: [t.cron], timezone: t.timezone };
  const d = new Date(t.at!);
  return {
    calendars: [
      {
        year: d.getUTCFullYear(),
        month: MONTHS[d.getUTCMonth()]!,
        dayOfMonth: d.getUTCDate(),
        hour: d.getUTCHours(),
        minute: d.getUTCMinutes(),
        second: d.getUTCSeconds(),
      },
    ],
    timezone: 'UTC',
  };
}

export type ScheduleSyncResult = { created: string[]; updated: string[]; paused: string[]; deleted: string[] };

/**
 * Makes Temporal's Schedules match the schedule triggers of each journey's latest version: one Schedule per trigger,
 * each firing an audience launch of the latest version (so a republished journey needs no new Schedule); paused and
 * archived journeys' Schedules are paused; Schedules of triggers that no longer exist are deleted. Idempotent: run it
 * at start and after every publish or status change.
 */
export async function syncJourneySchedules(client: Client, db: Db, opts: { taskQueue: string; ratePerSecond?: number }): Promise<ScheduleSyncResult> {
  const out: ScheduleSyncResult = { created: [], updated: [], paused: [], deleted: [] };
  const rows = await db
    .select({ id: journeys.id, status: journeys.status, plan: journeyVersions.plan })
    .from(journeys)
    .innerJoin(journeyVersions, and(eq(journeyVersions.journeyId, journeys.id), eq(journeyVersions.version, journeys.latestVersion)))
    .where(isNotNull(journeys.latestVersion));
  const wanted = new Set<string>();
  for (const row of rows) {
    const plan = row.plan as unknown as JourneyPlan;
    const triggers = plan.triggers.filter((t): t is ScheduleTrigger => t.type === 'schedule');
    for (const [i, t] of triggers.entries()) {
      const scheduleId = journeyScheduleId(opts.taskQueue, row.id, i);
      wanted.add(scheduleId);
      const paused = row.status !== 'active';
      const input: AudienceLaunchInput = {
        v: 1,
        journeyId: row.id,
        filter: { ...(t.audience ? { audience: t.audience } : {}), consent: null },
        ...(opts.ratePerSecond ? { ratePerSecond: opts.ratePerSecond } : {}),
        createdBy: `schedule:${scheduleId}`,
      };
      const options: ScheduleOptions = {
        scheduleId,
        spec: scheduleSpec(t),
        // Temporal appends the scheduled time to this id, so each firing is its own launch.
        action: { type: 'startWorkflow', workflowType: WorkflowType.AudienceLaunch, workflowId: scheduledLaunchWorkflowId(opts.taskQueue, row.id, i), taskQueue: batchTaskQueue(opts.taskQueue), args: [input] },
        policies: { overlap: 'SKIP', catchupWindow: '1 hour' },
        state: { paused, note: paused ? `journey ${row.status}` : `journey ${row.id}`, ...(t.at !== undefined ? { remainingActions: 1 } : {}) },
      };
      const apply = (prev: ScheduleDescription): ScheduleUpdateOptions => ({
        ...prev,
        spec: options.spec,
        action: options.action as typeof prev.action,
        policies: { ...prev.policies, overlap: 'SKIP', catchupWindow: 3_600_000 },
        state: { ...prev.state, paused, note: options.state!.note! },
      });
      // One update carries spec, action and pause state: separate pause/unpause calls could be applied out of order.
      const outcome = await upsertSchedule(client, options, apply);
      out[outcome.result].push(scheduleId);
      if (paused && (outcome.result === 'created' || !outcome.wasPaused)) out.paused.push(scheduleId);
    }
  }
  await syncDateSweepSchedules(client, db, rows, opts.taskQueue, out);
  for await (const s of client.schedule.list()) {
    if (s.scheduleId.startsWith(`${JOURNEY_SCHEDULE_PREFIX}${opts.taskQueue}:`) && !wanted.has(s.scheduleId)) {
      if (await deleteSchedule(client, s.scheduleId)) out.deleted.push(s.scheduleId);
    }
  }
  return out;
}

/**
 * syncJourneySchedules under the database's schedule-sync lock: replicas (workers at start, API processes after a
 * publish) take turns, so one never deletes a Schedule that another has just created for a journey it has not read.
 */
export function syncJourneySchedulesExclusive(client: Client, database: Pick<DatabaseHandle, 'db' | 'exclusive'>, opts: { taskQueue: string; ratePerSecond?: number }): Promise<ScheduleSyncResult> {
  return database.exclusive(SCHEDULE_SYNC_LOCK, () => syncJourneySchedules(client, database.db, opts));
}
