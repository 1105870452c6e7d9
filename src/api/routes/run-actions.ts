import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { findRun } from '../../db/queries';
import { ConflictError, NotFoundError } from '../../errors';
import { skipWaitUpdate } from '../../workflows/messages';
import { defineRoute } from '../route';

/** Run repairs that need the workflow's cooperation (Temporal updates), beside the list/detail/cancel routes. */
export function runActionRoutes(deps: { db: Db; temporal: Client }) {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/runs/:workflowId/skip-wait',
      tag: 'runs',
      summary: "End a run's current wait now: a `wait` step moves on, a `wait_for_event` step takes its timeout branch (recorded in the run's history with who asked)",
      auth: ['ops'],
      params: z.object({ workflowId: z.string().min(1).max(300) }),
      responses: {
        200: { description: 'The wait was skipped', schema: z.object({ workflowId: z.string(), skippedStep: z.string() }) },
        404: { description: 'No such run' },
        409: { description: 'The run is not waiting (or has ended)' },
      },
      handler: async ({ params, req }) => {
        const run = await findRun(deps.db, params.workflowId);
        if (!run) throw new NotFoundError('Run', params.workflowId);
        if (run.status !== 'running') throw new ConflictError(`Run "${params.workflowId}" has ended (${run.status}); there is no wait to skip.`);
        try {
          const r = await deps.temporal.workflow.getHandle(params.workflowId).executeUpdate(skipWaitUpdate, { args: [{ by: req.principal?.name ?? 'ops' }] });
          return { body: { workflowId: params.workflowId, skippedStep: r.step } };
        } catch (err) {
          if (err instanceof WorkflowUpdateFailedError) throw new ConflictError(`Run "${params.workflowId}" cannot skip: ${err.cause?.message ?? err.message}.`);
          throw err;
        }
      },
    }),
  ];
}
