import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { int32 } from '../../bounds';
import type { Db } from '../../db/client';
import { findRun } from '../../db/queries';
import { ConflictError, NotFoundError } from '../../errors';
import { migrateRun, moveRun, RepairRefused, retryRunNow, skipRunWait } from '../../runs/repair';
import { defineRoute } from '../route';

/** Run repairs that need the workflow's cooperation (Temporal updates), beside the list/detail/cancel routes. */
export function runActionRoutes(deps: { db: Db; temporal: Client }) {
  const params = z.object({ workflowId: z.string().min(1).max(300) });
  /** The run from the projection: 404 when unknown, 409 once it has ended (`what` says what cannot happen then). */
  const runningRun = async (workflowId: string, what: string) => {
    const run = await findRun(deps.db, workflowId);
    if (!run) throw new NotFoundError('Run', workflowId);
    if (run.status !== 'running') throw new ConflictError(`Run "${workflowId}" has ended (${run.status}); ${what}.`);
    return run;
  };
  /** A repair that does not apply to the run (not waiting, nothing failing, step missing…) is a 409 that says why. */
  const repair = async <R>(send: () => Promise<R>): Promise<R> => {
    try {
      return await send();
    } catch (err) {
      if (err instanceof RepairRefused) throw new ConflictError(err.message);
      throw err;
    }
  };
  return [
    defineRoute({
      method: 'post',
      path: '/v1/runs/:workflowId/skip-wait',
      tag: 'runs',
      summary: "End a run's current wait now: a `wait` step moves on, a `wait_for_event` step takes its timeout branch (recorded in the run's history with who asked)",
      auth: ['ops'],
      // Repeated, it would skip the run's next wait too.
      idempotency: { mode: 'replay' },
      params,
      responses: {
        200: { description: 'The wait was skipped', schema: z.object({ workflowId: z.string(), skippedStep: z.string() }) },
        404: { description: 'No such run' },
        409: { description: 'The run is not waiting (or has ended)' },
      },
      handler: async ({ params, req }) => {
        await runningRun(params.workflowId, 'there is no wait to skip');
        const r = await repair(() => skipRunWait(deps.temporal, params.workflowId, req.principal?.name ?? 'ops'));
        return { body: { workflowId: params.workflowId, skippedStep: r.step } };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/runs/:workflowId/retry-now',
      tag: 'runs',
      summary: "Retry the run's failing activities now instead of after their back-off (attempts restart at 1); use once the cause is fixed",
      auth: ['ops'],
      params,
      responses: {
        200: { description: 'The activities were rescheduled', schema: z.object({ workflowId: z.string(), activities: z.array(z.object({ activityId: z.string(), type: z.string(), attempt: z.number().int() })) }) },
        404: { description: 'No such run' },
        409: { description: 'The run has no activity waiting to retry' },
      },
      handler: async ({ params, req }) => {
        await runningRun(params.workflowId, 'there is nothing to retry');
        const activities = await repair(() => retryRunNow(deps.temporal, params.workflowId, req.principal?.name ?? 'ops'));
        return { body: { workflowId: params.workflowId, activities } };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/runs/:workflowId/move',
      tag: 'runs',
      summary: 'Move a waiting run to another step of its version (a repair: its current wait is abandoned; recorded in the history with who asked)',
      auth: ['ops'],
      // Repeated, it would restart the step's wait.
      idempotency: { mode: 'replay' },
      params,
      body: z.strictObject({ stepId: z.string().min(1).max(100) }),
      responses: {
        200: { description: 'The run moved', schema: z.object({ workflowId: z.string(), from: z.string(), to: z.string() }) },
        404: { description: 'No such run' },
        409: { description: 'The run has ended, is in the middle of a step, or has no such step' },
      },
      handler: async ({ params, body, req }) => {
        await runningRun(params.workflowId, 'it cannot move');
        const r = await repair(() => moveRun(deps.temporal, params.workflowId, body.stepId, req.principal?.name ?? 'ops'));
        return { body: { workflowId: params.workflowId, ...r } };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/runs/:workflowId/migrate',
      tag: 'runs',
      summary:
        "Move a run to a newer version of its journey (default: the latest): it continues as new on that version with its state — the current wait ends as scheduled, the steps after it are the new version's",
      auth: ['ops'],
      params,
      body: z.strictObject({ version: int32({ min: 1 }).optional() }),
      responses: {
        200: { description: 'The run migrated', schema: z.object({ workflowId: z.string(), from: z.number().int(), to: z.number().int() }) },
        404: { description: 'No such run' },
        409: { description: 'The run has ended, is already on that version, is mid-activity, or its current step is not in the target version' },
      },
      handler: async ({ params, body, req }) => {
        const run = await runningRun(params.workflowId, 'it cannot migrate');
        const r = await repair(() => migrateRun(deps.db, deps.temporal, run, body.version, req.principal?.name ?? 'ops'));
        return { body: { workflowId: params.workflowId, ...r } };
      },
    }),
  ];
}
