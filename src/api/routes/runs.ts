import type { Client } from '@temporalio/client';
import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { findRun } from '../../db/queries';
import { journeyRuns } from '../../db/schema';
import { NotFoundError } from '../../errors';
import { decodeCursor, encodeCursor } from '../pagination';
import { defineRoute } from '../route';

const RunStatus = z.enum(['running', 'completed', 'exited', 'goal', 'failed', 'cancelled', 'terminated']);

export const Run = z.object({
  workflowId: z.string(),
  runId: z.string().nullable(),
  journeyId: z.string(),
  version: z.number().int(),
  contactId: z.string(),
  entryKey: z.string(),
  currentStep: z.string().nullable(),
  status: z.string(),
  startedAt: z.date(),
  updatedAt: z.date(),
  endedAt: z.date().nullable(),
});

const ListQuery = z
  .object({
    contactId: z.uuid().optional(),
    journeyId: z.string().min(1).max(100).optional(),
    version: z.coerce.number().int().min(1).optional(),
    step: z.string().min(1).max(100).optional(),
    status: RunStatus.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();

export function runRoutes(deps: { db: Db; temporal: Client }) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/runs',
      tag: 'runs',
      summary: 'List runs, newest first, filtered by journey, version, step, status or contact',
      auth: ['ops'],
      query: ListQuery,
      responses: { 200: { description: 'A page of runs', schema: z.object({ items: z.array(Run), nextCursor: z.string().nullable() }) } },
      handler: async ({ query: q }) => {
        const filters: SQL[] = [];
        if (q.contactId) filters.push(eq(journeyRuns.contactId, q.contactId));
        if (q.journeyId) filters.push(eq(journeyRuns.journeyId, q.journeyId));
        if (q.version) filters.push(eq(journeyRuns.version, q.version));
        if (q.step) filters.push(eq(journeyRuns.currentStep, q.step));
        if (q.status) filters.push(eq(journeyRuns.status, q.status));
        if (q.cursor) {
          const c = decodeCursor(q.cursor);
          filters.push(lt(journeyRuns.startedAt, new Date(c.t)));
        }
        const rows = await deps.db
          .select()
          .from(journeyRuns)
          .where(and(...filters))
          .orderBy(desc(journeyRuns.startedAt))
          .limit(q.limit + 1);
        const items = rows.slice(0, q.limit);
        const last = items.at(-1);
        return { body: { items, nextCursor: rows.length > q.limit && last ? encodeCursor({ t: last.startedAt.getTime() }) : null } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/runs/:workflowId',
      tag: 'runs',
      summary: 'One run: its projection and its live Temporal status',
      auth: ['ops'],
      params: z.object({ workflowId: z.string().min(1).max(300) }),
      responses: {
        200: {
          description: 'The run',
          schema: Run.extend({ temporal: z.object({ runId: z.string(), status: z.string(), historyLength: z.number() }) }),
        },
        404: { description: 'No such run' },
      },
      handler: async ({ params }) => {
        const run = await findRun(deps.db, params.workflowId);
        if (!run) throw new NotFoundError('Run', params.workflowId);
        const d = await deps.temporal.workflow.getHandle(params.workflowId).describe();
        return { body: { ...run, temporal: { runId: d.runId, status: d.status.name, historyLength: d.historyLength } } };
      },
    }),
  ];
}
