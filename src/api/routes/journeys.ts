/**
 * Journeys for marketers: drafts, validation, publishing, diffs, lifecycle (pause / resume / archive), simulation and
 * statistics. Published versions are immutable; runs stay on the version they entered.
 */
import type { Topics } from '../../contacts/topics';
import express, { type Request } from 'express';
import { and, desc, eq, sql, type SQL } from 'drizzle-orm';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { TimelineFile } from '../../cli/journey-commands';
import type { Db } from '../../db/client';
import { journeys, journeyVersions } from '../../db/schema';
import { journeyStats } from '../../db/stats';
import { drainAnalytics } from '../../analytics/drain';
import { ATTRIBUTION_MODELS, DEFAULT_HALF_LIFE_DAYS, DEFAULT_LOOKBACK_DAYS } from '../../analytics/attribution';
import type { FxOptions } from '../../analytics/money';
import { journeyLive } from '../../db/live';
import { loadPlan, publishJourney, setJourneyStatus, type StatusAction } from '../../publishing/journeys';
import { fieldPath, INT32_MAX, isoInstant, queryInt32, unstorableInput } from '../../bounds';
import { DomainError, NotFoundError, ValidationError } from '../../errors';
import { compileJourney, formatError, type CompileResult, type JourneyError } from '../../journey/compiler';
import type { OutboundAllowList } from '../../net/addresses';
import type { JourneyPlan } from '../../journey/plan';
import { Contact, Slug } from '../../journey/schema';
import { formatSimulation, resolveTime, simulate, type SimulationOptions } from '../../journey/simulator';
import { formatFireTimes, scheduleFireTimes } from '../../journey/cron';
import { seenEventTypes } from '../../db/event-types';
import { journeyJsonSchema } from '../../journey/json-schema';
import { DEFAULT_TOPICS } from '../../contacts/topics';
import { loadTemplateCatalog } from '../../templates/catalog';
import { contentHash, diffPlans, formatDiff } from '../../journey/versions';
import { TEMPLATES_DIR } from '../../paths';
import { decodeCursor, encodeCursor } from '../pagination';
import { defineRoute } from '../route';

export type JourneyRouteDeps = {
  db: Db;
  /** OUTBOUND_ALLOW: webhook hosts it lists pass validate and publish although private. @default nothing listed */
  outboundAllow?: OutboundAllowList;
  /** MAIL_TOPICS, which a send step's topic must name. @default DEFAULT_TOPICS */
  topics?: Topics;
  /** Templates are checked at validate and publish, as `itinera publish` does. @default journeys/templates */
  templatesDir?: string;
  /**
   * Called after a publish or a status change, so what depends on the latest version and status follows at once
   * (the journeys' Temporal Schedules). It is idempotent: a retried request runs it again.
   */
  onChange?: () => Promise<unknown>;
  /** Rates that convert deal revenue to a journey's cost currency (ANALYTICS_*). @default USD, no rates */
  fx?: FxOptions;
};

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];
const MAX_SOURCE = 256 * 1024;
const readYaml = express.text({ type: YAML_TYPES, limit: '512kb' });

const JourneyStatus = z.enum(['draft', 'active', 'paused', 'archived']);
const Params = z.object({ id: z.string().min(1).max(100) });

/** The JSON forms of a journey document; YAML is sent raw with a YAML content type instead. */
const SourceBody = z
  .strictObject({
    source: z.string().min(1).max(MAX_SOURCE).optional().describe('The journey as YAML or JSON text'),
    format: z.enum(['yaml', 'json']).optional().describe('`json` makes a source that is not JSON an error; default: YAML (JSON is valid YAML)'),
    definition: z.record(z.string(), z.unknown()).optional().describe('The journey as a JSON object (same shape as the YAML)'),
  })
  .superRefine((b, ctx) => {
    if (b.source === undefined && b.definition === undefined) {
      ctx.addIssue({ code: 'custom', path: ['source'], message: 'send the journey as source (YAML or JSON text) or definition (an object)' });
    }
    if (b.source !== undefined && b.definition !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['definition'], message: 'send either source or definition, not both' });
    }
    if (b.definition !== undefined && b.format !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['format'], message: 'format applies to source only' });
    }
  })
  .meta({
    description:
      'The journey document. Send it raw as `application/yaml` (or `text/yaml`), or as JSON: `{ "source": "<YAML or JSON text>", "format"?: "yaml" | "json" }` or `{ "definition": { …journey… } }`.',
  });

const Issue = z.object({
  path: z.string(),
  message: z.string(),
  line: z.number().int().optional().describe('1-based line in the YAML source'),
  column: z.number().int().optional().describe('1-based column in the YAML source'),
  text: z.string().describe('file: path: message'),
});
const Validation = z.object({ valid: z.boolean(), contentHash: z.string().nullable(), errors: z.array(Issue), warnings: z.array(Issue) });
const VersionSummary = z.object({ version: z.number().int(), contentHash: z.string(), publishedAt: z.date(), publishedBy: z.string().nullable() });
const JourneySummary = z.object({
  id: z.string(),
  name: z.string(),
  status: JourneyStatus,
  latestVersion: z.number().int().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});
const JourneyDetail = JourneySummary.omit({ latestVersion: true }).extend({
  latestVersion: VersionSummary.nullable(),
  draft: z.object({ source: z.string().nullable(), publishedAs: z.number().int().nullable().describe('the version whose source is this draft, if any') }),
  versions: z.array(VersionSummary).describe('newest first'),
});
const StatusResult = z.object({ journeyId: z.string(), status: JourneyStatus, previous: JourneyStatus, changed: z.boolean() });

/** `3` or `draft`. A version beyond the 32-bit column is refused here, naming the field. */
const VersionRef = z.union([z.literal('draft'), queryInt32({ min: 1 })], { error: `must be "draft" or a version number from 1 to ${INT32_MAX}` });

const DRAFT_FORMAT_HELP =
  'Body: raw YAML (`content-type: application/yaml` or `text/yaml`), or JSON `{ source, format? }` / `{ definition }`.';

const issue = (e: JourneyError) => ({
  path: e.path,
  message: e.message,
  ...(e.line !== undefined ? { line: e.line, column: e.column ?? 1 } : {}),
  text: formatError(e),
});

function validation(r: CompileResult) {
  return r.ok
    ? { valid: true, contentHash: contentHash(r.plan), errors: [], warnings: r.warnings.map(issue) }
    : { valid: false, contentHash: null, errors: r.errors.map(issue), warnings: r.warnings.map(issue) };
}

/** 422 with the compiler's errors: `detail` lists them as `file: path: message`, `errors` as {path, message}. */
function invalidJourney(errors: JourneyError[]): DomainError {
  return new DomainError(
    'invalid_journey',
    422,
    `The journey is invalid:\n${errors.map(formatError).join('\n')}`,
    errors.map((e) => ({ path: e.path || '(root)', message: e.message })),
  );
}

/**
 * Refuses a draft whose document holds a string Postgres cannot store — a YAML or JSON `"\ud800"` escape decodes to a
 * lone surrogate that the text itself does not show — naming its path (`body.name`, `source.steps.welcome.subject`).
 * The draft would save and validate, then fail to publish; text that does not parse is left to the compiler.
 */
function refuseUnstorableDocument(text: string, prefix: string) {
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100, logLevel: 'silent' });
  } catch {
    return;
  }
  const unstorable = unstorableInput(doc, [prefix]);
  if (unstorable) throw new ValidationError('The journey cannot be stored; see errors for the field.', [unstorable]);
}

/** The draft text from whichever of the accepted body forms was sent. */
function readSource(req: Request): string {
  if (req.is(YAML_TYPES)) {
    // Read by the route's `parse` (readYaml) before the handler, so an Idempotency-Key covers the text.
    const text = typeof req.body === 'string' ? req.body : '';
    if (text.trim() === '') throw new ValidationError('The request body is empty.', [{ path: 'body', message: 'send the journey YAML as the body' }]);
    if (text.length > MAX_SOURCE) throw new ValidationError('The journey is too long.', [{ path: 'body', message: `at most ${MAX_SOURCE} characters` }]);
    const unstorable = unstorableInput(text, ['body']);
    if (unstorable) throw new ValidationError('The journey cannot be stored.', [unstorable]);
    refuseUnstorableDocument(text, 'body');
    return text;
  }
  if (req.body === undefined && !req.get('content-type')) {
    throw new ValidationError('The request body is missing.', [{ path: 'source', message: DRAFT_FORMAT_HELP }]);
  }
  if (!req.is(['application/json', 'application/*+json'])) {
    throw new DomainError('unsupported_media_type', 415, `Unsupported content type. ${DRAFT_FORMAT_HELP}`);
  }
  const parsed = SourceBody.safeParse(req.body);
  if (!parsed.success) {
    throw new ValidationError('The request body is invalid; see errors for each field.', parsed.error.issues.map((i) => ({ path: fieldPath(i.path), message: i.message })));
  }
  const b = parsed.data;
  // A definition was checked with the rest of the body (mountRoutes); a source is text whose escapes decode later.
  if (b.definition !== undefined) return JSON.stringify(b.definition, null, 2);
  if (b.format === 'json') {
    try {
      JSON.parse(b.source!);
    } catch (err) {
      throw new ValidationError('The source is not JSON.', [{ path: 'source', message: `not valid JSON (${(err as Error).message})` }]);
    }
  }
  refuseUnstorableDocument(b.source!, 'source');
  return b.source!;
}

/** The journey's id and name, read even from a draft that does not compile yet (a draft may be work in progress). */
function identify(source: string, compiled: CompileResult): { id: string; name: string } {
  if (compiled.ok) return { id: compiled.plan.id, name: compiled.plan.name };
  let raw: unknown;
  try {
    raw = parseYaml(source, { maxAliasCount: 100, logLevel: 'error' }); // 'error': syntax errors throw, warnings are not printed
  } catch {
    raw = undefined;
  }
  const doc = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const id = Slug.safeParse(doc.id);
  // Without a usable id there is nothing to store the draft under: report what the compiler says.
  if (!id.success) {
    const idErrors = compiled.errors.filter((e) => e.path === 'id' || e.path === '');
    throw invalidJourney(idErrors.length ? idErrors : [{ path: 'id', message: 'a journey needs an id (lowercase letters, digits and dashes)' }]);
  }
  return { id: id.data, name: typeof doc.name === 'string' && doc.name.trim() !== '' ? doc.name : id.data };
}

export function journeyRoutes(deps: JourneyRouteDeps) {
  const { db } = deps;
  const templates = () => loadTemplateCatalog(deps.templatesDir ?? TEMPLATES_DIR);
  const label = (id: string) => `${id} (draft)`;
  /** What every compile here is given: the file name errors carry, the template catalog and OUTBOUND_ALLOW. */
  const compileOptions = async (file: string) => ({ file, templates: await templates(), outboundAllow: deps.outboundAllow, ...(deps.topics ? { topics: deps.topics } : {}) });
  const compileDraft = async (id: string, source: string) => compileJourney(source, await compileOptions(label(id)));

  async function findJourney(id: string) {
    const [j] = await db.select().from(journeys).where(eq(journeys.id, id));
    if (!j) throw new NotFoundError('Journey', id);
    return j;
  }

  async function detail(id: string) {
    const j = await findJourney(id);
    const versions = await db
      .select({ version: journeyVersions.version, contentHash: journeyVersions.contentHash, publishedAt: journeyVersions.publishedAt, publishedBy: journeyVersions.publishedBy, source: journeyVersions.source })
      .from(journeyVersions)
      .where(eq(journeyVersions.journeyId, id))
      .orderBy(desc(journeyVersions.version));
    const summary = versions.map(({ source: _s, ...v }) => v);
    return {
      id: j.id,
      name: j.name,
      status: j.status,
      createdAt: j.createdAt,
      updatedAt: j.updatedAt,
      latestVersion: summary.find((v) => v.version === j.latestVersion) ?? null,
      draft: { source: j.draftSource, publishedAs: versions.find((v) => v.source === j.draftSource)?.version ?? null },
      versions: summary,
    };
  }

  /** A published version's plan, or the draft compiled (422 when it does not compile). */
  async function planFor(id: string, ref: number | 'draft'): Promise<JourneyPlan> {
    if (ref !== 'draft') return loadPlan(db, id, ref);
    const j = await findJourney(id);
    if (j.draftSource === null) throw new NotFoundError('Draft of journey', id);
    const r = await compileDraft(id, j.draftSource);
    if (!r.ok) throw invalidJourney(r.errors);
    return r.plan;
  }

  const lifecycle = (action: StatusAction, summary: string) =>
    defineRoute({
      method: 'post',
      path: `/v1/journeys/:id/${action}`,
      tag: 'journeys',
      summary,
      auth: ['marketer'],
      params: Params,
      responses: {
        200: { description: 'The journey status (changed: false when it already was)', schema: StatusResult },
        404: { description: 'No such journey' },
        409: { description: 'The transition is not allowed from the current status' },
      },
      handler: async ({ params }) => {
        const result = await setJourneyStatus(db, params.id, action);
        await deps.onChange?.();
        return { body: result };
      },
    });

  return [
    defineRoute({
      method: 'post',
      path: '/v1/journeys',
      tag: 'journeys',
      summary: `Create a journey as a draft (status draft; nothing runs until it is published). ${DRAFT_FORMAT_HELP} A draft that does not compile is stored and its errors returned; only a usable id is required.`,
      auth: ['marketer'],
      idempotency: { mode: 'replay' },
      parse: readYaml,
      bodyDoc: SourceBody,
      responses: {
        201: { description: 'Created', schema: JourneyDetail.extend({ validation: Validation }) },
        409: { description: 'A journey with this id exists (update its draft instead)' },
        415: { description: 'Unsupported content type' },
        422: { description: 'The document has no usable journey id' },
      },
      handler: async ({ req }) => {
        const source = readSource(req);
        const compiled = compileJourney(source, await compileOptions('draft'));
        const { id, name } = identify(source, compiled);
        const inserted = await db.insert(journeys).values({ id, name, status: 'draft', draftSource: source }).onConflictDoNothing().returning({ id: journeys.id });
        if (inserted.length === 0) throw new DomainError('journey_exists', 409, `Journey "${id}" already exists; update it with PUT /v1/journeys/${id}/draft`);
        return { status: 201, headers: { Location: `/v1/journeys/${id}` }, body: { ...(await detail(id)), validation: validation(await compileDraft(id, source)) } };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/journeys/validate',
      tag: 'journeys',
      summary: `Compile a journey text as publishing would, storing nothing (an editor calls it as the user types): every error and warning with its path, line and column. ${DRAFT_FORMAT_HELP}`,
      auth: ['marketer'],
      parse: readYaml,
      bodyDoc: SourceBody,
      responses: {
        200: {
          description: 'The compiler’s verdict (valid or not); changed says whether publishing would make a new version of that journey; plan is the compiled plan when valid (the editor draws it as the text is typed)',
          schema: Validation.extend({ changed: z.boolean().nullable(), latestVersion: z.number().int().nullable(), plan: z.record(z.string(), z.unknown()).nullable() }),
        },
        415: { description: 'Unsupported content type' },
      },
      handler: async ({ req }) => {
        const source = readSource(req);
        const r = compileJourney(source, { ...(await compileOptions('draft')), knownEventTypes: await seenEventTypes(db) });
        let latest: { version: number; hash: string } | undefined;
        if (r.ok) {
          [latest] = await db
            .select({ version: journeyVersions.version, hash: journeyVersions.contentHash })
            .from(journeys)
            .innerJoin(journeyVersions, and(eq(journeyVersions.journeyId, journeys.id), eq(journeyVersions.version, journeys.latestVersion)))
            .where(eq(journeys.id, r.plan.id));
        }
        const v = validation(r);
        return { body: { ...v, changed: r.ok ? latest?.hash !== v.contentHash : null, latestVersion: latest?.version ?? null, plan: r.ok ? r.plan : null } };
      },
    }),
    defineRoute({
      method: 'put',
      path: '/v1/journeys/:id/draft',
      tag: 'journeys',
      summary: `Replace the draft (published versions are not touched). ${DRAFT_FORMAT_HELP} The document's id must be the journey's.`,
      auth: ['marketer'],
      params: Params,
      parse: readYaml,
      bodyDoc: SourceBody,
      responses: {
        200: { description: 'Saved; validation says whether it would publish', schema: JourneyDetail.extend({ validation: Validation }) },
        404: { description: 'No such journey' },
        409: { description: 'The journey is archived' },
        415: { description: 'Unsupported content type' },
        422: { description: "The document's id is missing or is another journey's" },
      },
      handler: async ({ params, req }) => {
        const source = readSource(req);
        const compiled = await compileDraft(params.id, source);
        const { id, name } = identify(source, compiled);
        if (id !== params.id) {
          throw invalidJourney([{ file: label(params.id), path: 'id', message: `"${id}" is not this journey's id "${params.id}" (an id cannot change: create a new journey instead)` }]);
        }
        await db.transaction(async (tx) => {
          const [j] = await tx.select({ status: journeys.status }).from(journeys).where(eq(journeys.id, params.id)).for('update');
          if (!j) throw new NotFoundError('Journey', params.id);
          if (j.status === 'archived') throw new DomainError('journey_archived', 409, `Journey "${params.id}" is archived: its draft cannot change`);
          // A published journey keeps its published name until the next publish.
          await tx
            .update(journeys)
            .set({ draftSource: source, updatedAt: sql`now()`, ...(j.status === 'draft' ? { name } : {}) })
            .where(eq(journeys.id, params.id));
        });
        return { body: { ...(await detail(params.id)), validation: validation(compiled) } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/journeys',
      tag: 'journeys',
      summary: 'List journeys, newest first, optionally by status (cursor pagination)',
      auth: ['marketer'],
      query: z
        .object({
          status: JourneyStatus.optional(),
          limit: queryInt32({ min: 1, max: 200 }).default(50),
          cursor: z.string().max(400).optional(),
        })
        .strict(),
      responses: { 200: { description: 'A page of journeys', schema: z.object({ items: z.array(JourneySummary), nextCursor: z.string().nullable() }) } },
      handler: async ({ query: q }) => {
        // Timestamps are compared at millisecond precision: that is what the cursor can carry.
        const createdMs = sql`date_trunc('milliseconds', ${journeys.createdAt})`;
        const filters: SQL[] = [];
        if (q.status) filters.push(eq(journeys.status, q.status));
        if (q.cursor) {
          const c = decodeCursor(q.cursor);
          if (typeof c.id !== 'string') throw new ValidationError('The cursor is not one this API issued.', [{ path: 'query.cursor', message: 'invalid cursor' }]);
          filters.push(sql`(${createdMs}, ${journeys.id}) < (${new Date(c.t).toISOString()}::timestamptz, ${c.id})`);
        }
        const rows = await db
          .select({ id: journeys.id, name: journeys.name, status: journeys.status, latestVersion: journeys.latestVersion, createdAt: journeys.createdAt, updatedAt: journeys.updatedAt })
          .from(journeys)
          .where(and(...filters))
          .orderBy(desc(createdMs), desc(journeys.id))
          .limit(q.limit + 1);
        const items = rows.slice(0, q.limit);
        const last = items.at(-1);
        return { body: { items, nextCursor: rows.length > q.limit && last ? encodeCursor({ t: last.createdAt.getTime(), id: last.id }) : null } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/journey-schema',
      tag: 'journeys',
      summary:
        'What an editor completes a journey from: the JSON Schema of the source format (as journeys/journey.schema.json), the template names the server has per kind, the event types seen so far and the mail topics a send step may name',
      auth: ['marketer'],
      responses: {
        200: {
          description: 'The journey language as this server reads it',
          schema: z.object({
            schema: z.record(z.string(), z.unknown()).describe('JSON Schema (draft 2020-12) of a journey document'),
            templates: z.object({ email: z.array(z.string()), sms: z.array(z.string()), chat: z.array(z.string()) }).describe('Template names by kind, sorted'),
            eventTypes: z.array(z.string()).describe('Every event type in the events table, sorted'),
            topics: z.array(z.string()).describe('MAIL_TOPICS ids'),
          }),
        },
      },
      handler: async () => {
        const catalog = (await templates()).templates;
        const names = (k: keyof typeof catalog) => Object.keys(catalog[k]).sort();
        return {
          body: {
            schema: journeyJsonSchema(),
            templates: { email: names('email'), sms: names('sms'), chat: names('chat') },
            eventTypes: await seenEventTypes(db),
            topics: (deps.topics ?? DEFAULT_TOPICS).map((t) => t.id),
          },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/journeys/:id/versions/:version',
      tag: 'journeys',
      summary: 'One published version with the source it was published from (as an editor diffs against it)',
      auth: ['marketer'],
      params: z.object({ id: z.string().min(1).max(100), version: queryInt32({ min: 1 }) }),
      responses: {
        200: { description: 'The version', schema: VersionSummary.extend({ journeyId: z.string(), source: z.string() }) },
        404: { description: 'No such journey or version' },
      },
      handler: async ({ params }) => {
        const [v] = await db
          .select({ journeyId: journeyVersions.journeyId, version: journeyVersions.version, contentHash: journeyVersions.contentHash, publishedAt: journeyVersions.publishedAt, publishedBy: journeyVersions.publishedBy, source: journeyVersions.source })
          .from(journeyVersions)
          .where(and(eq(journeyVersions.journeyId, params.id), eq(journeyVersions.version, params.version)));
        if (!v) {
          await findJourney(params.id);
          throw new NotFoundError('Journey version', `${params.id}@${params.version}`);
        }
        return { body: v };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/journeys/:id',
      tag: 'journeys',
      summary: 'One journey: status, latest version, draft and every published version',
      auth: ['marketer'],
      params: Params,
      responses: { 200: { description: 'The journey', schema: JourneyDetail }, 404: { description: 'No such journey' } },
      handler: async ({ params }) => ({ body: await detail(params.id) }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/journeys/:id/validate',
      tag: 'journeys',
      summary: 'Compile the draft with its templates, as publishing would; 422 lists every error (detail as `file: path: message`)',
      auth: ['marketer'],
      params: Params,
      responses: {
        200: {
          description: 'Valid; changed says whether publishing would make a new version',
          schema: z.object({ valid: z.literal(true), contentHash: z.string(), changed: z.boolean(), latestVersion: z.number().int().nullable(), warnings: z.array(Issue) }),
        },
        404: { description: 'No such journey' },
        422: { description: 'The draft does not compile; errors[{path, message}]' },
      },
      handler: async ({ params }) => {
        const j = await findJourney(params.id);
        if (j.draftSource === null) throw new NotFoundError('Draft of journey', params.id);
        const r = compileJourney(j.draftSource, { ...(await compileOptions(label(params.id))), knownEventTypes: await seenEventTypes(db) });
        if (!r.ok) throw invalidJourney(r.errors);
        const hash = contentHash(r.plan);
        const [latest] = j.latestVersion
          ? await db.select({ hash: journeyVersions.contentHash }).from(journeyVersions).where(and(eq(journeyVersions.journeyId, j.id), eq(journeyVersions.version, j.latestVersion)))
          : [];
        return { body: { valid: true, contentHash: hash, changed: latest?.hash !== hash, latestVersion: j.latestVersion, warnings: r.warnings.map(issue) } };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/journeys/:id/publish',
      tag: 'journeys',
      summary:
        'Publish the draft: a new immutable version only when the compiled content changed (201, created: true); identical content answers the existing version (200, created: false). A draft journey becomes active; a paused one stays paused. Archived journeys cannot be published (409).',
      auth: ['marketer'],
      idempotency: { mode: 'replay' },
      params: Params,
      responses: {
        200: { description: 'Unchanged: the existing version', schema: z.object({ journeyId: z.string(), version: z.number().int(), contentHash: z.string(), created: z.literal(false), status: JourneyStatus, warnings: z.array(Issue) }) },
        201: { description: 'A new version', schema: z.object({ journeyId: z.string(), version: z.number().int(), contentHash: z.string(), created: z.literal(true), status: JourneyStatus, warnings: z.array(Issue) }) },
        404: { description: 'No such journey' },
        409: { description: 'The journey is archived' },
        422: { description: 'The draft does not compile (templates included)' },
      },
      handler: async ({ params, req }) => {
        const j = await findJourney(params.id);
        if (j.status === 'archived') throw new DomainError('journey_archived', 409, `Journey "${j.id}" is archived: it cannot be published again`);
        if (j.draftSource === null) throw new NotFoundError('Draft of journey', params.id);
        const options = await compileOptions(label(j.id));
        const r = compileJourney(j.draftSource, { ...options, knownEventTypes: await seenEventTypes(db) });
        if (!r.ok) throw invalidJourney(r.errors);
        // A draft saved through the API always has this id; a file published from elsewhere must not land here.
        if (r.plan.id !== j.id) throw invalidJourney([{ file: label(j.id), path: 'id', message: `"${r.plan.id}" is not this journey's id "${j.id}"` }]);
        const published = await publishJourney(db, j.draftSource, { ...options, publishedBy: req.principal?.name ?? 'api' });
        const [after] = await db.select({ status: journeys.status }).from(journeys).where(eq(journeys.id, j.id));
        await deps.onChange?.();
        return { status: published.created ? 201 : 200, body: { ...published, status: after!.status, warnings: r.warnings.map(issue) } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/journeys/:id/diff',
      tag: 'journeys',
      summary: 'What changes between two versions (a version number or `draft`); `to` defaults to the latest version',
      auth: ['marketer'],
      params: Params,
      query: z.object({ from: VersionRef, to: VersionRef.optional() }).strict(),
      responses: {
        200: {
          description: 'Changes, structured and as text (`~ steps.wait.durationMs: 2d → 3d`)',
          schema: z.object({ from: z.union([z.number(), z.literal('draft')]), to: z.union([z.number(), z.literal('draft')]), changes: z.array(z.record(z.string(), z.unknown())), text: z.string() }),
        },
        404: { description: 'No such journey or version' },
        422: { description: 'The draft does not compile' },
      },
      handler: async ({ params, query }) => {
        const j = await findJourney(params.id);
        const to = query.to ?? j.latestVersion;
        if (to === null) throw new NotFoundError('Published version of journey', params.id);
        const changes = diffPlans(await planFor(j.id, query.from), await planFor(j.id, to));
        return { body: { from: query.from, to, changes, text: formatDiff(changes) } };
      },
    }),
    lifecycle(
      'pause',
      'Pause: no new contact enters (trigger events are ignored for this journey); runs in flight continue on their pinned version, still receive events and still send. Only an active journey can be paused.',
    ),
    lifecycle('resume', 'Resume a paused journey: new entries start again, on the latest version. Events that arrived while paused do not enter anyone retroactively.'),
    lifecycle(
      'archive',
      'Archive (final): nothing new enters and the journey can no longer be edited, published, paused or resumed (409); runs in flight are not cancelled and finish on their pinned version. Versions and stats stay readable. To reuse the journey, publish it under a new id.',
    ),
    defineRoute({
      method: 'post',
      path: '/v1/journeys/:id/simulate',
      tag: 'journeys',
      summary:
        'Preview the path a contact takes on a virtual clock (as `itinera simulate`): the latest version by default, or `version` (a number or `draft`; the draft when nothing is published). Nothing is sent or stored.',
      auth: ['marketer'],
      params: Params,
      body: z.strictObject({
        contact: Contact,
        timeline: TimelineFile.optional().describe('As the CLI timeline file: a list of events, or { start?, trigger?, events, results?, priorMessages? }'),
        start: isoInstant().optional().describe('Overrides the timeline start; default: the timeline start, else now'),
        version: VersionRef.optional(),
      }),
      responses: {
        200: {
          description: 'The simulated path, actions with timestamps, outcome and cost; text is the CLI rendering',
          schema: z.object({
            version: z.union([z.number(), z.literal('draft')]),
            outcome: z.record(z.string(), z.unknown()),
            path: z.array(z.record(z.string(), z.unknown())),
            actions: z.array(z.record(z.string(), z.unknown())),
            schedule: z
              .array(z.object({ trigger: z.number().int(), schedule: z.string(), timezone: z.string(), next: z.array(z.number()), local: z.array(z.string()) }))
              .optional()
              .describe('Schedule triggers only: the next five fire times (epoch ms, and wall-clock in the trigger\'s time zone)'),
            text: z.string(),
          }).loose(),
        },
        404: { description: 'No such journey or version' },
        422: { description: 'The draft does not compile' },
      },
      handler: async ({ params, body }) => {
        const j = await findJourney(params.id);
        const ref = body.version ?? j.latestVersion ?? 'draft';
        const plan = await planFor(j.id, ref);
        const t = Array.isArray(body.timeline) ? { events: body.timeline } : (body.timeline ?? { events: [] });
        const at = Array.isArray(body.timeline) ? 'timeline' : 'timeline.events';
        const start = body.start ?? t.start;
        // Name the entry whose time is unreadable or out of range, rather than failing the whole simulation with one sentence.
        const timeAt = (value: string | number, base: number, path: string) => {
          try {
            return resolveTime(value, base);
          } catch (err) {
            throw new ValidationError('The timeline is invalid.', [{ path, message: (err as Error).message }]);
          }
        };
        const startMs = start === undefined ? Date.now() : timeAt(start, 0, body.start !== undefined ? 'start' : 'timeline.start');
        t.events.forEach((e, i) => timeAt(e.at, startMs, `${at}.${i}.at`));
        if ('priorMessages' in t) t.priorMessages?.forEach((m, i) => timeAt(m.at, startMs, `timeline.priorMessages.${i}.at`));
        const result = simulate(plan, {
          contact: body.contact,
          events: t.events as SimulationOptions['events'],
          ...(start !== undefined ? { start } : {}),
          ...('trigger' in t && t.trigger ? { trigger: t.trigger } : {}),
          ...('results' in t && t.results ? { results: t.results as SimulationOptions['results'] } : {}),
          ...('priorMessages' in t && t.priorMessages ? { priorMessages: t.priorMessages } : {}),
        });
        const { state: _state, ...rest } = result;
        // Schedule triggers: the next five launches in each trigger's zone, from the simulated start.
        const schedule = scheduleFireTimes(plan.triggers, startMs);
        const text = [formatSimulation(result), ...(schedule.length ? [formatFireTimes(schedule)] : [])].join('\n');
        return { body: { version: ref, ...rest, ...(schedule.length ? { schedule } : {}), text } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/journeys/:id/stats',
      tag: 'journeys',
      summary:
        'Per-step funnel (entered, passed, waiting now, exited here), runs by status, messages by channel and status with opens/clicks/unsubscribes and bounce and complaint counts and rates (`deliverability`: per sending step, sent, bounced hard/soft/policy, complained, rates), goals and conversions, MQLs, split arms (`splits`: per split step and arm, runs entered, goal conversions after the assignment, rate with a 95% Wilson interval, and against the control arm — the holdout arm, else the first — the difference, relative lift and the p-value of a pooled, two-sided two-proportion z-test; `tooSmall: true` with a reason and no p-value when an arm expects fewer than 5 conversions or non-conversions; holdout arms count the messages they held back), and ROI = (revenue − cost) / cost: cost prices accepted messages (sent, delivered) with the version’s settings.costs; revenue is the journey’s share of deals won by entered contacts after their first entry (within the longest goal window, if any), each deal shared among the contact’s touches (UTM touches and journey entries) by the attribution model (`attribution`: first_touch, last_touch, linear — the default — or time_decay with `halfLifeDays`) and converted to the cost currency with ANALYTICS_FX_RATES',
      auth: ['marketer'],
      params: Params,
      query: z
        .object({
          version: queryInt32({ min: 1 }).optional(),
          attribution: z.enum(ATTRIBUTION_MODELS).default('linear'),
          halfLifeDays: queryInt32({ min: 1, max: 3650 }).default(DEFAULT_HALF_LIFE_DAYS),
          lookbackDays: queryInt32({ min: 1, max: 3650 }).default(DEFAULT_LOOKBACK_DAYS),
        })
        .strict(),
      responses: { 200: { description: 'The statistics', schema: z.record(z.string(), z.unknown()) }, 404: { description: 'No such journey or version' } },
      handler: async ({ params, query }) => {
        // Its ROI reads the deals: the analytics rollup takes in every event stored before the request first.
        await drainAnalytics(db, { currency: deps.fx?.currency ?? 'USD' });
        const stats = await journeyStats(
          db,
          { journeyId: params.id, version: query.version },
          { attribution: { model: query.attribution, halfLifeDays: query.halfLifeDays, lookbackDays: query.lookbackDays }, ...(deps.fx ? { fx: deps.fx } : {}) },
        );
        if (!stats) {
          await findJourney(params.id);
          throw new NotFoundError('Journey version', `${params.id}@${query.version}`);
        }
        return { body: stats };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/journeys/:id/plan',
      tag: 'journeys',
      summary: 'The compiled plan of a version (default: the latest published) or of the draft: steps with their types and successors, as the console draws them',
      auth: ['marketer'],
      params: Params,
      query: z.object({ version: VersionRef.optional() }).strict(),
      responses: {
        200: { description: 'The plan', schema: z.object({ journeyId: z.string(), version: z.union([z.number().int(), z.literal('draft')]), plan: z.record(z.string(), z.unknown()) }) },
        404: { description: 'No such journey, version or draft, or nothing published yet' },
        422: { description: 'The draft does not compile' },
      },
      handler: async ({ params, query }) => {
        let ref = query.version;
        if (ref === undefined) {
          const j = await findJourney(params.id);
          if (j.latestVersion === null) throw new NotFoundError('Published version of journey', params.id);
          ref = j.latestVersion;
        }
        return { body: { journeyId: params.id, version: ref, plan: await planFor(params.id, ref) } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/journeys/:id/live',
      tag: 'journeys',
      summary:
        'Live counts, cheap enough to poll: runs running and waiting now, entries in the last 7 days, contacts entered and converted (any goal), and per step entered, waiting now, exited here and failed there — from indexed tables, never from listing Temporal',
      auth: ['marketer'],
      params: Params,
      query: z
        .object({
          version: z
            .union([z.literal('latest'), queryInt32({ min: 1 })])
            .optional()
            .meta({ description: "A version's counts; `latest` for the latest published version's (the answer names it); all versions' when absent" }),
        })
        .strict(),
      responses: {
        200: {
          description: 'The counts',
          schema: z.object({
            journeyId: z.string(),
            version: z.number().int().nullable(),
            runs: z.object({ running: z.number().int(), waiting: z.number().int() }),
            entries7d: z.number().int(),
            contacts: z.object({ entered: z.number().int(), converted: z.number().int() }),
            conversionRate: z.number().nullable(),
            steps: z.array(z.object({ stepId: z.string(), type: z.string().nullable(), entered: z.number().int(), waiting: z.number().int(), exitedHere: z.number().int(), failed: z.number().int() })),
          }),
        },
        404: { description: 'No such journey or version' },
      },
      handler: async ({ params, query, res }) => {
        const live = await journeyLive(db, { journeyId: params.id, version: query.version });
        if (!live) {
          await findJourney(params.id);
          throw new NotFoundError('Journey version', `${params.id}@${query.version}`);
        }
        res.set('Cache-Control', 'no-store');
        return { body: live };
      },
    }),
  ];
}
