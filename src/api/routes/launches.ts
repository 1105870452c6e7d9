import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { and, desc, eq, isNull, lt, sql } from 'drizzle-orm';
import { z } from 'zod';
import { int32, queryInt32 } from '../../bounds';
import type { Db } from '../../db/client';
import { audienceLaunches, contacts, journeys } from '../../db/schema';
import { ConflictError, NotFoundError, ValidationError } from '../../errors';
import { compileCondition } from '../../journey/compiler';
import { declaredAudience, loadPlan } from '../../publishing/journeys';
import { type AudienceLaunchInput, batchTaskQueue, type LaunchFilter, type LaunchProgress, launchProgressQuery, WorkflowType } from '../../contracts';
import { decodeCursor, encodeCursor } from '../pagination';
import { erasureSalts } from '../../contacts/erased-address';
import { audiencePage, decideAudience } from '../../launches/audience';
import { defineRoute } from '../route';

const JourneyId = z.string().min(1).max(100);

const LaunchRequest = z
  .strictObject({
    version: int32({ min: 1 }).optional().meta({ description: 'Journey version to enrol into. Default: the latest.' }),
    filter: z
      .unknown()
      .optional()
      .meta({ description: "Audience condition in the journey language (field/tag/event, all/any/not). Default: the journey's audience trigger; everyone if it has none." }),
    consent: z.enum(['email', 'sms', 'none']).default('none').meta({ description: 'Skip contacts who cannot be messaged on this channel (no address, opted out, suppressed).' }),
    ratePerSecond: int32({ min: 1, max: 2000 }).default(100),
    pageSize: int32({ min: 10, max: 1000 }).default(500),
  });

export const Launch = z
  .object({
    launchId: z.string(),
    journeyId: z.string(),
    version: z.number().int(),
    status: z.enum(['running', 'completed', 'cancelled', 'failed']),
    scanned: z.number().int(),
    /** Contacts to scan in all (the denominator of progress), counted now. */
    total: z.number().int(),
    enrolled: z.number().int(),
    skipped: z.number().int(),
    skipReasons: z.record(z.string(), z.number().int()),
    ratePerSecond: z.number().int(),
    createdBy: z.string().nullable(),
    createdAt: z.date(),
    updatedAt: z.date(),
    completedAt: z.date().nullable(),
    error: z.string().nullable(),
  });

type LaunchRow = typeof audienceLaunches.$inferSelect;

const view = (r: LaunchRow, total: number, live?: LaunchProgress): z.infer<typeof Launch> => ({
  launchId: r.id,
  journeyId: r.journeyId,
  version: r.version,
  status: (live?.status ?? r.status) as z.infer<typeof Launch>['status'],
  scanned: live?.scanned ?? r.scanned,
  // Contacts created during a launch may be scanned too: the total never reads below what was scanned.
  total: Math.max(total, live?.scanned ?? r.scanned),
  enrolled: live?.enrolled ?? r.enrolled,
  skipped: live?.skipped ?? r.skipped,
  skipReasons: live?.skipReasons ?? r.skipReasons,
  ratePerSecond: r.ratePerSecond,
  createdBy: r.createdBy,
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
  completedAt: r.completedAt,
  error: r.error,
});

/** Contacts a preview reads at most: beyond this it answers what it has counted, marked incomplete. */
export const MAX_PREVIEW_SCAN = 200_000;
const PREVIEW_PAGE = 1000;

const LaunchPreview = z.object({
  version: z.number().int(),
  scanned: z.number().int().meta({ description: 'Live contacts read' }),
  total: z.number().int().meta({ description: 'Live contacts in all' }),
  matched: z.number().int().meta({ description: 'Contacts the audience filter matches' }),
  enrol: z.number().int().meta({ description: 'Matched contacts a launch now would enrol' }),
  skipped: z.number().int().meta({ description: 'Matched contacts it would skip' }),
  skipReasons: z.record(z.string(), z.number().int()),
  complete: z.boolean().meta({ description: `false when more than ${MAX_PREVIEW_SCAN} contacts exist: the counts cover the first ${MAX_PREVIEW_SCAN}` }),
});

export function launchRoutes(deps: { db: Db; temporal: Client; taskQueue: string; signingSecrets: readonly string[] }) {
  const salts = erasureSalts(deps.signingSecrets);
  const { db } = deps;
  const find = async (id: string) => {
    const [row] = await db.select().from(audienceLaunches).where(eq(audienceLaunches.id, id));
    if (!row) throw new NotFoundError('Launch', id);
    return row;
  };
  const contactCount = async () => (await db.select({ n: sql<number>`count(*)::int` }).from(contacts).where(and(isNull(contacts.mergedInto), isNull(contacts.erasedAt))))[0]!.n;
  /** The version and the filter a launch request means (shared by the launch and its preview). */
  const resolve = async (journeyId: string, body: { version?: number | undefined; filter?: unknown; consent: 'email' | 'sms' | 'none' }) => {
    const [journey] = await db.select().from(journeys).where(eq(journeys.id, journeyId));
    if (!journey) throw new NotFoundError('Journey', journeyId);
    if (!journey.latestVersion) throw new ConflictError(`Journey "${journey.id}" has no published version yet; publish it before launching.`);
    const version = body.version ?? journey.latestVersion;
    if (version > journey.latestVersion) {
      throw new ValidationError('The request body is invalid; see errors for each field.', [{ path: 'version', message: `journey "${journey.id}" has no version ${version} (latest is ${journey.latestVersion})` }]);
    }
    let filter: LaunchFilter;
    if (body.filter !== undefined) {
      const c = compileCondition(body.filter, ['filter']);
      if (!c.ok) throw new ValidationError('The audience filter is invalid; see errors for each field.', c.errors.map((e) => ({ path: e.path, message: e.message })));
      filter = { audience: c.condition, consent: body.consent === 'none' ? null : body.consent };
    } else {
      const audience = declaredAudience(await loadPlan(db, journey.id, version));
      filter = { ...(audience ? { audience } : {}), consent: body.consent === 'none' ? null : body.consent };
    }
    return { journey, version, filter };
  };
  return [
    defineRoute({
      method: 'post',
      path: '/v1/journeys/:journeyId/launches/preview',
      tag: 'launches',
      summary: `Count, before launching, the contacts an audience filter matches and how many a launch now would enrol or skip (by reason) — the launch's own rules; reads at most ${MAX_PREVIEW_SCAN} contacts`,
      auth: ['marketer'],
      params: z.object({ journeyId: JourneyId }),
      body: LaunchRequest.pick({ version: true, filter: true, consent: true }),
      responses: {
        200: { description: 'The counts', schema: LaunchPreview },
        400: { description: 'Invalid request or filter' },
        404: { description: 'No such journey' },
        409: { description: 'The journey is not published' },
      },
      handler: async ({ params, body }) => {
        const { journey, version, filter } = await resolve(params.journeyId, body);
        const plan = await loadPlan(db, journey.id, version);
        const now = Date.now();
        const out = { version, scanned: 0, total: await contactCount(), matched: 0, enrol: 0, skipped: 0, skipReasons: {} as Record<string, number>, complete: true };
        let after: string | null = null;
        do {
          if (out.scanned >= MAX_PREVIEW_SCAN) {
            out.complete = false;
            break;
          }
          const { page, nextCursor } = await audiencePage(db, filter, after, PREVIEW_PAGE);
          const { matched, reasons } = await decideAudience(db, { journeyId: journey.id, plan, filter, page, now, salts });
          out.scanned += page.length;
          out.matched += matched.length;
          for (const c of matched) {
            const reason = reasons.get(c.id);
            if (reason === undefined) out.enrol++;
            else {
              out.skipped++;
              out.skipReasons[reason] = (out.skipReasons[reason] ?? 0) + 1;
            }
          }
          after = nextCursor;
        } while (after);
        return { body: out };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/journeys/:journeyId/launches',
      tag: 'launches',
      summary: 'Enrol every contact matching an audience filter into a published, active journey (runs in the background)',
      auth: ['marketer'],
      idempotency: { mode: 'replay' },
      params: z.object({ journeyId: JourneyId }),
      body: LaunchRequest,
      responses: {
        202: { description: 'The launch started; poll its progress at /v1/launches/{launchId}', schema: Launch },
        400: { description: 'Invalid request or filter' },
        404: { description: 'No such journey' },
        409: { description: 'The journey is not published or not active' },
      },
      handler: async ({ params, body, req }) => {
        const { journey, version, filter } = await resolve(params.journeyId, body);
        if (journey.status !== 'active') throw new ConflictError(`Journey "${journey.id}" is ${journey.status}; only active journeys can be launched.`);
        const launchId = `launch_${randomUUID()}`;
        const input: AudienceLaunchInput = {
          v: 1,
          journeyId: journey.id,
          version,
          launchId,
          ratePerSecond: body.ratePerSecond,
          pageSize: body.pageSize,
          createdBy: req.principal?.name ?? 'api',
          filter,
        };
        // The row first, so the progress endpoint answers at once; the workflow finds it and carries on.
        const [row] = await db
          .insert(audienceLaunches)
          .values({ id: launchId, journeyId: journey.id, version, filter: filter as Record<string, unknown>, ratePerSecond: body.ratePerSecond, createdBy: input.createdBy ?? null })
          .returning();
        await deps.temporal.workflow.start(WorkflowType.AudienceLaunch, { workflowId: launchId, taskQueue: batchTaskQueue(deps.taskQueue), args: [input] });
        return { status: 202, headers: { Location: `/v1/launches/${launchId}` }, body: view(row!, await contactCount()) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/launches/:launchId',
      tag: 'launches',
      summary: 'Progress of a launch: live while it runs, final counts (enrolled, skipped by reason) once it ends',
      auth: ['marketer'],
      params: z.object({ launchId: z.string().min(1).max(300) }),
      responses: { 200: { description: 'The launch', schema: Launch }, 404: { description: 'No such launch' } },
      handler: async ({ params }) => {
        const row = await find(params.launchId);
        let live: LaunchProgress | undefined;
        if (row.status === 'running') {
          try {
            live = await deps.temporal.workflow.getHandle(row.id).query(launchProgressQuery);
          } catch {
            // Between pages the row is at most one page behind; it is the answer when the query cannot be made.
          }
        }
        return { body: view(row, await contactCount(), live) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/journeys/:journeyId/launches',
      tag: 'launches',
      summary: "A journey's launches, newest first",
      auth: ['marketer'],
      params: z.object({ journeyId: JourneyId }),
      query: z.strictObject({ limit: queryInt32({ min: 1, max: 200 }).default(50), cursor: z.string().max(200).optional() }),
      responses: { 200: { description: 'A page of launches', schema: z.object({ items: z.array(Launch), nextCursor: z.string().nullable() }) } },
      handler: async ({ params, query }) => {
        const rows = await db
          .select()
          .from(audienceLaunches)
          .where(and(eq(audienceLaunches.journeyId, params.journeyId), query.cursor ? lt(audienceLaunches.createdAt, new Date(decodeCursor(query.cursor).t)) : undefined))
          .orderBy(desc(audienceLaunches.createdAt))
          .limit(query.limit + 1);
        const items = rows.slice(0, query.limit);
        // One count for the page: only running launches show a live total.
        const total = items.some((r) => r.status === 'running') ? await contactCount() : undefined;
        const last = items.at(-1);
        return { body: { items: items.map((r) => view(r, r.status === 'running' ? (total ?? 0) : r.scanned)), nextCursor: rows.length > query.limit && last ? encodeCursor({ t: last.createdAt.getTime() }) : null } };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/launches/:launchId/cancel',
      tag: 'launches',
      summary: 'Stop a running launch after the page in flight; contacts already enrolled stay in the journey',
      auth: ['marketer'],
      params: z.object({ launchId: z.string().min(1).max(300) }),
      responses: { 202: { description: 'Cancellation requested', schema: Launch }, 404: { description: 'No such launch' }, 409: { description: 'The launch has ended' } },
      handler: async ({ params }) => {
        const row = await find(params.launchId);
        if (row.status !== 'running') throw new ConflictError(`Launch "${row.id}" has already ${row.status === 'completed' ? 'completed' : `ended (${row.status})`}.`);
        await deps.temporal.workflow.getHandle(row.id).cancel();
        return { status: 202, body: view(row, await contactCount()) };
      },
    }),
  ];
}
