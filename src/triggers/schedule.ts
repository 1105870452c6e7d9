import type { Client, ScheduleOptions } from '@temporalio/client';
import { deleteSchedule, upsertSchedule } from '../temporal/schedules';
import type { Db } from '../db/client';
import type { JourneyPlan } from '../journey/plan';
import { batchTaskQueue, dateSweepScheduleId, type DateSweepInput, WorkflowType } from '../contracts';
import { ensureDateIndexes } from './sweep';

/**
 * How often a journey's date triggers are swept. Occurrences are at minute precision, so a contact enters at most
 * this late; the sweep's cursor makes the interval a latency, never a gap.
 */
export const DATE_SWEEP_INTERVAL = '15 minutes';

type Row = { id: string; status: string; plan: unknown };
type Out = { created: string[]; updated: string[]; paused: string[]; deleted: string[] };

/**
 * One Schedule per journey whose latest version has date triggers, paused with the journey, deleted with its last
 * date trigger; and the indexes its sweep queries. Called from syncJourneySchedules (start, publish, status change).
 */
export async function syncDateSweepSchedules(client: Client, db: Db, rows: Row[], taskQueue: string, out: Out): Promise<void> {
  const wanted = new Set<string>();
  for (const row of rows) {
    const plan = row.plan as JourneyPlan;
    if (!plan.triggers.some((t) => t.type === 'date')) continue;
    await ensureDateIndexes(db, plan);
    const scheduleId = dateSweepScheduleId(taskQueue, row.id);
    wanted.add(scheduleId);
    const paused = row.status !== 'active';
    const note = paused ? `journey ${row.status}` : `date triggers of journey ${row.id}`;
    const input: DateSweepInput = { v: 1, journeyId: row.id };
    const action = { type: 'startWorkflow' as const, workflowType: WorkflowType.DateTriggerSweep, workflowId: scheduleId, taskQueue: batchTaskQueue(taskQueue), args: [input] };
    const options: ScheduleOptions = {
      scheduleId,
      spec: { intervals: [{ every: DATE_SWEEP_INTERVAL }] },
      action,
      // A sweep still running when the next is due: skip it; the cursor makes the next one cover both windows.
      policies: { overlap: 'SKIP', catchupWindow: '1 hour' },
      state: { paused, note },
    };
    const outcome = await upsertSchedule(client, options, (prev) => ({ ...prev, action: action as typeof prev.action, state: { ...prev.state, paused, note } }));
    out[outcome.result].push(scheduleId);
    if (paused && (outcome.result === 'created' || !outcome.wasPaused)) out.paused.push(scheduleId);
  }
  const prefix = dateSweepScheduleId(taskQueue, '');
  for await (const s of client.schedule.list()) {
    if (s.scheduleId.startsWith(prefix) && !wanted.has(s.scheduleId)) {
      if (await deleteSchedule(client, s.scheduleId)) out.deleted.push(s.scheduleId);
    }
  }
}
