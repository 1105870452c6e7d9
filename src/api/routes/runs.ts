import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { and, desc, eq, inArray, or, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import { batchTaskQueue, type BulkProgress, bulkProgressQuery, type BulkRunActionInput, type RunFilter, WorkflowType } from '../../contracts';
import type { Db } from '../../db/client';
import { findRun } from '../../db/queries';
import { journeyRuns, journeys, journeyVersions } from '../../db/schema';
import { int32, queryInt32 } from '../../bounds';
import { ConflictError, NotFoundError, ValidationError } from '../../errors';
import { inspectRetryingRuns, overdueSql, pendingActivityViews, runFilterSql, STUCK_DEFAULTS, type PendingActivityView } from '../../runs/inspect';
import { replayJourneyRuns } from '../../runs/replay';
import { cancelRun, terminateRun } from '../../runs/repair';
import { runTimeline, TIMELINE_KINDS } from '../../runs/timeline';
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

const PendingActivity = z.object({
  activityId: z.string(),
  activityType: z.string(),
  attempt: z.number().int(),
  maximumAttempts: z.number().int().meta({ description: '0 means unlimited' }),
  state: z.string(),
  lastFailure: z.string().nullable(),
  scheduledAt: z.date().nullable(),
  lastStartedAt: z.date().nullable(),
  nextAttemptAt: z.date().nullable(),
});

const Stuck = z.object({
  reasons: z.array(z.enum(['activity_retrying', 'overdue'])),
  pendingActivity: PendingActivity.nullable(),
});

const TRUE_FALSE = z.enum(['true', 'false']);

/** The filters of a list and of a bulk action (the bulk body takes them as JSON, so numbers are numbers there). */
const filterFields = {
  contactId: z.uuid().optional(),
  journeyId: z.string().min(1).max(100).optional(),
  version: queryInt32({ min: 1 }).optional(),
  step: z.string().min(1).max(100).optional(),
  status: RunStatus.optional(),
  minAttempts: queryInt32({ min: 1, max: 1000 }).optional().meta({ description: `With stuck: a pending activity on at least this attempt makes a run stuck (default ${STUCK_DEFAULTS.minAttempts})` }),
  graceSeconds: queryInt32({ min: 0, max: 30 * 86400 })
    .optional()
    .meta({ description: `With stuck: time a run may spend in a step beyond what the step allows (default ${STUCK_DEFAULTS.graceSeconds})` }),
};

const ListQuery = z
  .object({
    ...filterFields,
    stuck: TRUE_FALSE.optional().meta({
      description:
        'Only runs that look stuck: a pending activity on attempt ≥ minAttempts, or longer in the current step than the step allows (a wait its duration, an event wait its timeout, a send its quiet hours) plus graceSeconds',
    }),
    workflowIdPrefix: z
      .string()
      .min(1)
      .max(300)
      .optional()
      .meta({ description: 'Only runs whose workflow id starts with this (the CLI resolves a unique prefix with it)' }),
    inspectLimit: queryInt32({ min: 1, max: 1000 }).default(200).meta({ description: 'With stuck: running runs described in Temporal at most' }),
    limit: queryInt32({ min: 1, max: 500 }).default(50),
    cursor: z.string().max(400).optional(),
  })
  .strict();

const RunFilterBody = z.strictObject({
  ...filterFields,
  version: int32({ min: 1 }).optional(),
  minAttempts: int32({ min: 1, max: 1000 }).optional(),
  graceSeconds: int32({ min: 0, max: 30 * 86400 }).optional(),
  stuck: z.boolean().optional(),
});

const WorkflowIdParams = z.object({ workflowId: z.string().min(1).max(300) });

const TimelineEntry = z.object({
  at: z.date(),
  runId: z.string(),
  kind: z.enum(TIMELINE_KINDS),
  step: z.string().optional(),
  activityType: z.string().optional(),
  attempt: z.number().int().optional(),
  error: z.string().optional(),
  timerId: z.string().optional(),
  fireAt: z.date().optional(),
  signal: z.string().optional(),
  eventType: z.string().optional(),
  eventId: z.string().optional(),
  reason: z.string().optional(),
  update: z.string().optional().meta({ description: 'With kind update: the repair (skipWait, moveToStep, migrateVersion)' }),
  by: z.string().optional().meta({ description: 'Who asked for a repair or a cancellation' }),
});

const RunDetail = Run.extend({
  timeZone: z.string().nullable().meta({ description: "The journey version's settings.timezone, the zone its waits and windows are in (the console shows the run's times in it)" }),
  temporal: z.object({ runId: z.string(), status: z.string(), historyLength: z.number() }),
  pendingActivities: z.array(PendingActivity),
  timeline: z.array(TimelineEntry),
  timelineTruncated: z.boolean().meta({ description: 'Older entries (or runs before several continue-as-new) were left out' }),
});

const BulkActionName = z.enum(['cancel', 'terminate', 'skip-wait', 'retry-now', 'migrate']);

const Bulk = z.object({
  bulkId: z.string(),
  action: BulkActionName,
  dryRun: z.boolean(),
  status: z.enum(['running', 'completed', 'cancelled', 'failed']),
  total: z.number().int(),
  scanned: z.number().int(),
  matched: z.number().int(),
  succeeded: z.number().int(),
  skipped: z.number().int().meta({ description: 'Runs that had already ended in Temporal, or that the repair did not apply to (see notes)' }),
  failed: z.number().int(),
  errors: z.array(z.object({ workflowId: z.string(), message: z.string() })),
  notes: z.array(z.object({ workflowId: z.string(), message: z.string() })).optional().meta({ description: 'Why the first skipped runs were skipped' }),
  pages: z.number().int(),
  error: z.string().optional(),
});

const ReplayResult = z.object({
  workflowId: z.string(),
  runId: z.string().nullable(),
  version: z.number().int(),
  status: z.enum(['ok', 'nondeterministic', 'failed', 'unavailable', 'not_replayed']),
  error: z.string().optional(),
});

const Replay = z.object({
  journeyId: z.string(),
  results: z.array(ReplayResult),
  totals: z.object({ ok: z.number().int(), nondeterministic: z.number().int(), failed: z.number().int(), unavailable: z.number().int(), notReplayed: z.number().int() }),
  timedOut: z.boolean(),
});

export type RunRoutesDeps = {
  db: Db;
  temporal: Client;
  taskQueue: string;
  /** Path of the workflow bundle that replays run against. @default ensureWorkflowBundle() */
  workflowBundle?: () => Promise<string>;
  /** The longest a replay request may take before the runs left are reported not replayed. @default 60000 */
  replayTimeoutMs?: number;
};

/** The innermost message of a closed workflow's failure (an activity's reason, not "Activity task failed"). */
async function failureReason(handle: { result(): Promise<unknown> }): Promise<string | undefined> {
  try {
    await handle.result();
    return undefined;
  } catch (err) {
    let e: unknown = err;
    while (e instanceof Error && e.cause instanceof Error) e = e.cause;
    return e instanceof Error && e !== err ? e.message : undefined;
  }
}

export function runRoutes(deps: RunRoutesDeps) {
  const { db } = deps;
  const mustFind = async (workflowId: string) => {
    const run = await findRun(db, workflowId);
    if (!run) throw new NotFoundError('Run', workflowId);
    return run;
  };

  const bulkView = async (bulkId: string): Promise<BulkProgress> => {
    const handle = deps.temporal.workflow.getHandle(bulkId);
    const d = await handle.describe();
    if (d.type !== WorkflowType.BulkRunAction || d.taskQueue !== batchTaskQueue(deps.taskQueue)) throw new NotFoundError('Bulk action', bulkId);
    switch (d.status.name) {
      case 'RUNNING':
        return await handle.query(bulkProgressQuery);
      case 'COMPLETED':
        return (await handle.result()) as BulkProgress;
      default: {
        // Failed, terminated or timed out: the last progress it can report, with how it ended.
        let last: BulkProgress | undefined;
        try {
          last = await handle.query(bulkProgressQuery);
        } catch {
          // A closed workflow answers queries only while a worker can replay it.
        }
        return {
          bulkId,
          action: last?.action ?? 'cancel',
          dryRun: last?.dryRun ?? false,
          total: last?.total ?? 0,
          scanned: last?.scanned ?? 0,
          matched: last?.matched ?? 0,
          succeeded: last?.succeeded ?? 0,
          skipped: last?.skipped ?? 0,
          failed: last?.failed ?? 0,
          errors: last?.errors ?? [],
          pages: last?.pages ?? 0,
          status: d.status.name === 'CANCELLED' ? 'cancelled' : 'failed',
          error: last?.error ?? (await failureReason(handle)) ?? `the bulk action ended ${d.status.name.toLowerCase()}`,
        };
      }
    }
  };

  return [
    defineRoute({
      method: 'get',
      path: '/v1/runs',
      tag: 'runs',
      summary: 'List runs, newest first, filtered by journey, version, step, status or contact — or only the stuck ones',
      auth: ['ops'],
      query: ListQuery,
      responses: {
        200: {
          description: 'A page of runs; with stuck=true each says why, and `inspection` how many running runs Temporal was asked about',
          schema: z.object({
            items: z.array(Run.extend({ stuck: Stuck.optional() })),
            nextCursor: z.string().nullable(),
            inspection: z.object({ inspected: z.number().int(), capped: z.boolean(), limit: z.number().int(), minAttempts: z.number().int(), graceSeconds: z.number().int() }).optional(),
          }),
        },
      },
      handler: async ({ query: q }) => {
        const stuck = q.stuck === 'true';
        if (stuck && q.status && q.status !== 'running') {
          throw new ValidationError('The request query is invalid; see errors for each field.', [{ path: 'query.status', message: 'stuck runs are running runs: drop status or set it to running' }]);
        }
        const { workflowIdPrefix, ...rest } = q;
        const filter: RunFilter = { ...rest, stuck };
        const filters = runFilterSql(filter);
        if (workflowIdPrefix) filters.push(sql`starts_with(${journeyRuns.workflowId}, ${workflowIdPrefix})`);
        let retrying = new Map<string, PendingActivityView>();
        let inspection: { inspected: number; capped: boolean; limit: number; minAttempts: number; graceSeconds: number } | undefined;
        let overdue: SQL | undefined;
        if (stuck) {
          const minAttempts = q.minAttempts ?? STUCK_DEFAULTS.minAttempts;
          const graceSeconds = q.graceSeconds ?? STUCK_DEFAULTS.graceSeconds;
          const found = await inspectRetryingRuns(deps.temporal, deps.taskQueue, filter, { limit: q.inspectLimit, minAttempts, db });
          retrying = found.retrying;
          inspection = { inspected: found.inspected, capped: found.capped, limit: found.limit, minAttempts, graceSeconds };
          overdue = await overdueSql(db, filters, graceSeconds * 1000);
          const either = [...(retrying.size > 0 ? [inArray(journeyRuns.workflowId, [...retrying.keys()])] : []), ...(overdue ? [overdue] : [])];
          filters.push(either.length > 0 ? or(...either)! : sql`false`);
        }
        if (q.cursor) {
          const c = decodeCursor(q.cursor);
          // (started_at, workflow_id) of the last row, read back at full precision: ties and microseconds never skip a run.
          filters.push(
            typeof c.id === 'string'
              ? sql`(${journeyRuns.startedAt}, ${journeyRuns.workflowId}) < (select r.started_at, r.workflow_id from journey_runs r where r.workflow_id = ${c.id})`
              : sql`${journeyRuns.startedAt} < ${new Date(c.t)}`,
          );
        }
        const rows = await db
          .select({ run: journeyRuns, ...(overdue ? { overdue: sql<boolean>`coalesce(${overdue}, false)` } : {}) })
          .from(journeyRuns)
          .where(and(...filters))
          .orderBy(desc(journeyRuns.startedAt), desc(journeyRuns.workflowId))
          .limit(q.limit + 1);
        const page = rows.slice(0, q.limit);
        const items = page.map((r) => {
          if (!stuck) return r.run;
          const pending = retrying.get(r.run.workflowId) ?? null;
          const reasons = [...(pending ? (['activity_retrying'] as const) : []), ...((r as { overdue?: boolean }).overdue ? (['overdue'] as const) : [])];
          return { ...r.run, stuck: { reasons, pendingActivity: pending } };
        });
        const last = page.at(-1)?.run;
        return {
          body: {
            items,
            nextCursor: rows.length > q.limit && last ? encodeCursor({ t: last.startedAt.getTime(), id: last.workflowId }) : null,
            ...(inspection ? { inspection } : {}),
          },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/runs/:workflowId',
      tag: 'runs',
      summary: 'One run: its projection, its live Temporal status, pending activities and a timeline from its history',
      auth: ['ops'],
      params: WorkflowIdParams,
      responses: { 200: { description: 'The run', schema: RunDetail }, 404: { description: 'No such run' } },
      handler: async ({ params }) => {
        const run = await mustFind(params.workflowId);
        const d = await deps.temporal.workflow.getHandle(params.workflowId).describe();
        const timeline = await runTimeline(deps.temporal, params.workflowId, d.runId);
        const [zone] = await db
          .select({ tz: sql<string | null>`${journeyVersions.plan}->'settings'->>'timezone'` })
          .from(journeyVersions)
          .where(and(eq(journeyVersions.journeyId, run.journeyId), eq(journeyVersions.version, run.version)));
        return {
          body: {
            ...run,
            timeZone: zone?.tz ?? null,
            temporal: { runId: d.runId, status: d.status.name, historyLength: d.historyLength },
            pendingActivities: pendingActivityViews(d.raw),
            timeline: timeline.entries,
            timelineTruncated: timeline.truncated,
          },
        };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/runs/:workflowId/cancel',
      tag: 'runs',
      summary: 'Cancel a run gracefully: the run stops at once, records itself cancelled, and sends nothing more (its history names who asked)',
      auth: ['ops'],
      params: WorkflowIdParams,
      responses: {
        202: { description: 'Cancellation requested; the projection reads cancelled once the run has recorded it', schema: z.object({ workflowId: z.string(), status: z.literal('cancelling') }) },
        404: { description: 'No such run' },
        409: { description: 'The run has already ended' },
      },
      handler: async ({ params, req }) => {
        const run = await mustFind(params.workflowId);
        if (run.status !== 'running') throw new ConflictError(`Run "${run.workflowId}" has already ended (${run.status}).`);
        if ((await cancelRun(deps.temporal, run.workflowId, req.principal?.name ?? 'ops')) === 'ended') throw new ConflictError(`Run "${run.workflowId}" has already ended in Temporal.`);
        return { status: 202, body: { workflowId: run.workflowId, status: 'cancelling' as const } };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/runs/:workflowId/terminate',
      tag: 'runs',
      summary: 'Terminate a run at once (no cleanup in the workflow); the projection is set to terminated',
      auth: ['ops'],
      params: WorkflowIdParams,
      body: z.strictObject({ reason: z.string().trim().min(1).max(500) }),
      responses: { 200: { description: 'Terminated', schema: Run }, 404: { description: 'No such run' }, 409: { description: 'The run has already ended' } },
      handler: async ({ params, body, req }) => {
        const run = await mustFind(params.workflowId);
        if (run.status !== 'running') throw new ConflictError(`Run "${run.workflowId}" has already ended (${run.status}).`);
        const who = req.principal?.name ? ` (by ${req.principal.name})` : '';
        if ((await terminateRun(deps.temporal, db, run.workflowId, `${body.reason}${who}`)) === 'ended') {
          throw new ConflictError(`Run "${run.workflowId}" has already ended in Temporal.`);
        }
        return { body: await mustFind(run.workflowId) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/runs/bulk',
      tag: 'runs',
      summary:
        'Cancel, terminate, skip the wait of, retry the failing activities of, or migrate to a newer version every running run a filter selects, in the background (dryRun: count only)',
      auth: ['ops'],
      idempotency: { mode: 'replay' },
      body: z
        .strictObject({
          action: BulkActionName,
          filter: RunFilterBody,
          reason: z.string().trim().min(1).max(500).optional(),
          version: int32({ min: 1 }).optional().meta({ description: 'With migrate: the target version (default: the latest of each run’s journey)' }),
          dryRun: z.boolean().default(false),
          pageSize: int32({ min: 1, max: 1000 }).default(100),
        })
        .superRefine((b, ctx) => {
          if (b.action === 'terminate' && !b.reason) ctx.addIssue({ code: 'custom', path: ['reason'], message: 'a termination needs a reason' });
          if (b.filter.status && b.filter.status !== 'running') ctx.addIssue({ code: 'custom', path: ['filter', 'status'], message: 'only running runs can be acted on' });
          if (b.version !== undefined && b.action !== 'migrate') ctx.addIssue({ code: 'custom', path: ['version'], message: 'a version is only taken by migrate' });
          if (b.action === 'migrate' && b.version !== undefined && !b.filter.journeyId) {
            ctx.addIssue({ code: 'custom', path: ['filter', 'journeyId'], message: 'migrating to a given version needs the journeyId it belongs to' });
          }
          if (!b.filter.journeyId && !b.filter.contactId && !b.filter.stuck) {
            ctx.addIssue({ code: 'custom', path: ['filter'], message: 'name a journeyId or contactId, or set stuck: an unbounded bulk action is refused' });
          }
        }),
      responses: {
        202: { description: 'Started; follow it at /v1/runs/bulk/{bulkId}', schema: Bulk },
      },
      handler: async ({ body, req }) => {
        const bulkId = `bulk_${randomUUID()}`;
        const input: BulkRunActionInput = {
          v: 1,
          action: body.action,
          filter: body.filter,
          ...(body.reason ? { reason: `${body.reason} (bulk ${bulkId})` } : {}),
          ...(body.version !== undefined ? { version: body.version } : {}),
          dryRun: body.dryRun,
          before: Date.now(),
          pageSize: body.pageSize,
          requestedBy: req.principal?.name ?? 'api',
        };
        await deps.temporal.workflow.start(WorkflowType.BulkRunAction, { workflowId: bulkId, taskQueue: batchTaskQueue(deps.taskQueue), args: [input] });
        const initial: BulkProgress = { bulkId, action: body.action, dryRun: body.dryRun, status: 'running', total: 0, scanned: 0, matched: 0, succeeded: 0, skipped: 0, failed: 0, errors: [], pages: 0 };
        return { status: 202, headers: { Location: `/v1/runs/bulk/${bulkId}` }, body: initial };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/runs/bulk/:bulkId',
      tag: 'runs',
      summary: 'Progress of a bulk action: live while it runs, the final counts once it ends',
      auth: ['ops'],
      params: z.object({ bulkId: z.string().min(1).max(300) }),
      responses: { 200: { description: 'The bulk action', schema: Bulk }, 404: { description: 'No such bulk action' } },
      handler: async ({ params }) => {
        try {
          return { body: await bulkView(params.bulkId) };
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) throw new NotFoundError('Bulk action', params.bulkId);
          throw err;
        }
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/journeys/:journeyId/replay',
      tag: 'runs',
      summary: "Replay a journey's latest runs against the current workflow code and report any nondeterminism",
      auth: ['ops'],
      params: z.object({ journeyId: z.string().min(1).max(100) }),
      body: z.strictObject({ limit: int32({ min: 1, max: 200 }).default(20), version: int32({ min: 1 }).optional() }),
      responses: { 200: { description: 'Per run: ok, nondeterministic (with the error), failed, unavailable or not replayed in time; and totals', schema: Replay }, 404: { description: 'No such journey' } },
      handler: async ({ params, body }) => {
        const [journey] = await db.select({ id: journeys.id }).from(journeys).where(eq(journeys.id, params.journeyId));
        if (!journey) throw new NotFoundError('Journey', params.journeyId);
        const report = await replayJourneyRuns(
          { db, client: deps.temporal, ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : {}), ...(deps.replayTimeoutMs !== undefined ? { replayTimeoutMs: deps.replayTimeoutMs } : {}) },
          journey.id,
          { limit: body.limit, ...(body.version ? { version: body.version } : {}) },
        );
        return { body: report };
      },
    }),
  ];
}
