/**
 * Input the schemas used to accept and Postgres refused — 500s until issue 14: integers beyond the 32-bit columns,
 * lone UTF-16 surrogates inside journey drafts, and a bulk action whose input can never work retrying for ever.
 * Each is now a 4xx problem+json naming the field (or, for a bulk action begun another way, a fast failure with the
 * reason), against real Postgres and the shared Temporal dev server.
 */
import express from 'express';
import request from 'supertest';
import { sql } from 'drizzle-orm';
import { z, type ZodType } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeTable } from '../../src/api/app';
import { errorHandler } from '../../src/api/problem';
import { INT32_MAX, INT32_MIN, int32 } from '../../src/bounds';
import { batchTaskQueue, type BulkRunActionInput, WorkflowType } from '../../src/contracts';
import { contacts, journeys, scoreEvents } from '../../src/db/schema';
import { compileJourney } from '../../src/journey/compiler';
import { publishJourney } from '../../src/publishing/journeys';
import { startTestStack, TEST_SECRETS, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

const OVER = 2_147_483_648; // INT32_MAX + 1

const journeyYaml = (id: string, name = id) => `
id: ${id}
name: ${name}
triggers: [{ type: event, event: bounds.${id.replace(/-/g, '_')} }]
start: hold
steps:
  hold: { type: wait_for_event, event: never.happens, timeout: 1h, on_event: done, on_timeout: done }
  done: { type: exit }
`;

/** Every number schema reachable from a request schema, with where it sits. */
function numbersIn(schema: ZodType | undefined, at: string): { at: string; s: z.ZodNumber }[] {
  const out: { at: string; s: z.ZodNumber }[] = [];
  const seen = new Set<unknown>();
  const walk = (s: unknown, path: string) => {
    if (!s || typeof s !== 'object' || seen.has(s)) return;
    seen.add(s);
    if (s instanceof z.ZodNumber) {
      out.push({ at: path, s });
      return;
    }
    const def = (s as { def?: Record<string, unknown> }).def ?? {};
    const shape = (s as { shape?: Record<string, unknown> }).shape;
    if (shape && typeof shape === 'object') for (const [k, v] of Object.entries(shape)) walk(v, `${path}.${k}`);
    for (const key of ['innerType', 'in', 'out', 'element', 'keyType', 'valueType', 'left', 'right', 'rest', 'schema']) walk(def[key], path);
    for (const key of ['options', 'items']) if (Array.isArray(def[key])) (def[key] as unknown[]).forEach((o) => walk(o, path));
    if (typeof def.getter === 'function') walk((def.getter as () => unknown)(), path);
  };
  walk(schema, at);
  return out;
}

describe('request bounds: what the columns hold, and what Postgres can store', () => {
  let stack: TestStack;
  const as = (role: keyof TestStack['keys']) => (r: request.Test) => r.set('Authorization', `Bearer ${stack.keys[role]}`);
  const ops = as('ops');
  const marketer = as('marketer');

  /** A 400 problem+json whose errors name `path`. */
  const refusedNaming = (res: request.Response, path: string) => {
    const what = `${res.status} ${JSON.stringify(res.body)}`;
    expect(res.status, what).toBe(400);
    expect(res.headers['content-type'], what).toMatch(/^application\/problem\+json/);
    expect(res.body.code, what).toBe('validation_failed');
    expect((res.body.errors as { path: string }[]).map((e) => e.path), what).toContain(path);
  };

  beforeAll(async () => {
    stack = await startTestStack();
    await publishJourney(stack.db.db, journeyYaml('bounds-j'), {});
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('bounds every integer of every request schema (params, query, body) within the 32-bit columns', () => {
    const routes = routeTable({ database: { db: {} } as never, temporal: {} as never, taskQueue: 'x', triggers: {} as never, signingSecrets: TEST_SECRETS });
    const found: string[] = [];
    const unbounded: string[] = [];
    for (const r of routes) {
      for (const [part, schema] of [['params', r.params], ['query', r.query], ['body', r.body ?? r.bodyDoc]] as const) {
        for (const { at, s } of numbersIn(schema, `${r.method.toUpperCase()} ${r.path} ${part}`)) {
          if (!s.isInt) continue;
          found.push(at);
          if ((s.minValue ?? -Infinity) < INT32_MIN || (s.maxValue ?? Infinity) > INT32_MAX) unbounded.push(`${at}: ${s.minValue}..${s.maxValue}`);
        }
      }
    }
    expect(unbounded).toEqual([]);
    // The walk reaches the integers the issue names (so an empty `unbounded` means something).
    expect(found).toEqual(expect.arrayContaining([
      'GET /v1/journeys/:id/diff query.from',
      'GET /v1/runs query.version',
      'POST /v1/runs/bulk body.version',
      'POST /v1/runs/bulk body.filter.version',
      'POST /v1/journeys/:journeyId/replay body.version',
      'POST /v1/journeys/:id/simulate body.version',
    ]));
    expect(() => int32({ max: INT32_MAX + 1 })).toThrow(RangeError);
  });

  it('refuses a version beyond the 32-bit column with 400 naming the field, wherever a request carries one', async () => {
    const cases: [request.Test, string][] = [
      [marketer(request(stack.app).get(`/v1/journeys/bounds-j/diff?from=${OVER}&to=draft`)), 'query.from'],
      [marketer(request(stack.app).get(`/v1/journeys/bounds-j/diff?from=1&to=${OVER}`)), 'query.to'],
      [ops(request(stack.app).get(`/v1/runs?version=${OVER}`)), 'query.version'],
      [ops(request(stack.app).get('/v1/runs?version=99999999999999999999')), 'query.version'],
      [ops(request(stack.app).post('/v1/journeys/bounds-j/replay').send({ version: OVER })), 'version'],
      [marketer(request(stack.app).post('/v1/journeys/bounds-j/simulate').send({ contact: { id: 'c1' }, version: OVER })), 'version'],
      [marketer(request(stack.app).post('/v1/journeys/bounds-j/simulate').send({ contact: { id: 'c1' }, version: String(OVER) })), 'version'],
      [ops(request(stack.app).post('/v1/runs/bulk').send({ action: 'migrate', filter: { journeyId: 'bounds-j' }, version: OVER })), 'version'],
      [ops(request(stack.app).post('/v1/runs/bulk').send({ action: 'cancel', filter: { journeyId: 'bounds-j', version: OVER } })), 'filter.version'],
      [ops(request(stack.app).post('/v1/runs/some-run/migrate').send({ version: OVER })), 'version'],
      [marketer(request(stack.app).post('/v1/journeys/bounds-j/launches').send({ version: OVER })), 'version'],
      [marketer(request(stack.app).get(`/v1/journeys/bounds-j/stats?version=${OVER}`)), 'query.version'],
    ];
    for (const [req, path] of cases) refusedNaming(await req, path);
    // The message says what was wrong.
    const res = await ops(request(stack.app).get(`/v1/runs?version=${OVER}`));
    expect(res.body.errors[0].message).toMatch(/at most 2147483647/);
  });

  it('still takes the largest version the column holds (the bound is exact, not a guess)', async () => {
    await ops(request(stack.app).get(`/v1/runs?version=${INT32_MAX}`)).expect(200, { items: [], nextCursor: null });
    const diff = await marketer(request(stack.app).get(`/v1/journeys/bounds-j/diff?from=${INT32_MAX}&to=1`));
    expect(diff.status, JSON.stringify(diff.body)).toBe(404);
    const sim = await marketer(request(stack.app).post('/v1/journeys/bounds-j/simulate').send({ contact: { id: 'c1' }, version: INT32_MAX }));
    expect(sim.status, JSON.stringify(sim.body)).toBe(404);
    const replay = await ops(request(stack.app).post('/v1/journeys/bounds-j/replay').send({ version: INT32_MAX }));
    expect(replay.status, JSON.stringify(replay.body)).toBe(200);
    expect(replay.body.results).toEqual([]);
  });

  it('refuses simulation times outside the years 0001–9999 naming the field, and previews the longest wait from the last year', async () => {
    const sim = (body: object) => marketer(request(stack.app).post('/v1/journeys/bounds-j/simulate').send({ contact: { id: 'c1' }, ...body }));
    const cases: [object, string][] = [
      [{ start: '0000-06-01T00:00:00Z' }, 'start'],
      [{ timeline: { start: 8.64e15 } }, 'timeline.start'],
      [{ start: '2026-01-01T00:00:00Z', timeline: [{ at: '+99999999999d', type: 'a.b' }] }, 'timeline.0.at'],
      [{ timeline: { events: [{ at: -1e300, type: 'a.b' }] } }, 'timeline.events.0.at'],
      [{ timeline: { priorMessages: [{ channel: 'email', at: 1e300 }] } }, 'timeline.priorMessages.0.at'],
    ];
    for (const [body, path] of cases) {
      const res = await sim(body);
      refusedNaming(res, path);
      expect(res.body.errors[0].message).toMatch(/outside the years 0001 to 9999|between 0001-01-01 and 9999-12-31/);
    }
    // The longest wait a journey may state, from the last year a start may name: still a preview, not a 500.
    await marketer(request(stack.app).post('/v1/journeys').set('content-type', 'application/yaml').send(journeyYaml('bounds-long').replace('timeout: 1h', 'timeout: 36500d'))).expect(201);
    const long = await marketer(request(stack.app).post('/v1/journeys/bounds-long/simulate').send({ contact: { id: 'c1' }, start: '9999-12-31T23:59:59Z' }));
    expect(long.status, JSON.stringify(long.body)).toBe(200);
    expect(long.body.outcome).toMatchObject({ status: 'completed', at: '+010099-12-06T23:59:59.000Z' });
  });

  it('refuses durations longer than 100 years in journeys: their times fit no timer, timestamp or Date', async () => {
    const res = await marketer(request(stack.app).post('/v1/journeys').set('content-type', 'application/yaml').send(journeyYaml('bounds-forever').replace('timeout: 1h', 'timeout: 99999999999999999999d')));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.validation.errors).toEqual([expect.objectContaining({ path: 'steps.hold.timeout', message: '"99999999999999999999d" is longer than 100 years (36500d), the longest a journey may state' })]);
    const publish = await marketer(request(stack.app).post('/v1/journeys/bounds-forever/publish'));
    expect(publish.status).toBe(422);
  });

  it('takes or refuses event times at the edges of what a timestamp holds, never leaving it to Postgres', async () => {
    for (const occurredAt of ['0000-01-01T00:00:00Z', '0001-01-01T00:00:00Z', '9999-12-31T23:59:59+14:00', '9999-12-31T23:59:59-14:00']) {
      const res = await as('integration')(request(stack.app).post('/v1/events').send({ id: `edge-${occurredAt}`, type: 'edge.seen', occurredAt, contact: { externalId: 'edge' } }));
      const what = `${occurredAt}: ${res.status} ${JSON.stringify(res.body)}`;
      if (occurredAt.startsWith('0000') || occurredAt.endsWith('-14:00')) {
        refusedNaming(res, 'occurredAt');
        expect(res.body.errors[0].message, what).toBe('must be between 0001-01-01 and 9999-12-31 (UTC)');
      } else {
        expect(res.status, what).toBe(202);
        expect(res.body.accepted, what).toHaveLength(1);
      }
    }
  });

  it('shows an empty key as "" in an error path, so it is not mistaken for the body itself', async () => {
    const put = (body: object) => as('integration')(request(stack.app).put('/v1/contacts/bounds-empty-key').send(body));
    refusedNaming(await put({ attributes: { '': 'a\u0000b' } }), 'attributes.""');
    refusedNaming(await put({ '': '\ud800' }), '""');
    refusedNaming(await put({ '': 1 }), '(root)'); // an unknown key is reported at its object, naming the key
  });

  describe('lone UTF-16 surrogates in journey drafts', () => {
    // The text is plain ASCII: the escape only becomes a lone surrogate when the YAML or JSON is parsed.
    const yamlEscape = (id: string) => journeyYaml(id, '"\\ud800"');
    const jsonEscape = (id: string) => JSON.stringify({ id, name: 'x', triggers: [{ type: 'event', event: 'a.b' }], start: 'done', steps: { done: { type: 'exit', note: 'y' } } }).replace('"y"', '"\\udfff"');

    it('refuses them at the edge with 400 naming the field inside the document, for YAML and JSON bodies alike', async () => {
      const yaml = await marketer(request(stack.app).post('/v1/journeys').set('content-type', 'application/yaml').send(yamlEscape('sur-yaml')));
      refusedNaming(yaml, 'body.name');
      expect(yaml.body.errors[0].message).toMatch(/lone surrogate/);
      refusedNaming(await marketer(request(stack.app).post('/v1/journeys').send({ source: yamlEscape('sur-src') })), 'source.name');
      refusedNaming(await marketer(request(stack.app).post('/v1/journeys').send({ source: jsonEscape('sur-json'), format: 'json' })), 'source.steps.done.note');
      // A definition is JSON already: the escape is a lone surrogate in the parsed body.
      const definition = await marketer(request(stack.app).post('/v1/journeys').set('content-type', 'application/json').send(`{"definition":{"id":"sur-def","name":"\\ud800"}}`));
      refusedNaming(definition, 'definition.name');
      // Replacing a draft is refused the same way, and the stored draft is left as it was.
      await marketer(request(stack.app).post('/v1/journeys').set('content-type', 'application/yaml').send(journeyYaml('sur-put'))).expect(201);
      refusedNaming(await marketer(request(stack.app).put('/v1/journeys/sur-put/draft').set('content-type', 'text/yaml').send(yamlEscape('sur-put'))), 'body.name');
      const after = await marketer(request(stack.app).get('/v1/journeys/sur-put')).expect(200);
      expect(after.body.draft.source).toBe(journeyYaml('sur-put'));
      expect(after.body.name).toBe('sur-put');
      // Nothing was stored for the refused creations.
      const stored = await stack.db.db.select({ id: journeys.id }).from(journeys).where(sql`${journeys.id} like 'sur-%'`);
      expect(stored.map((r) => r.id)).toEqual(['sur-put']);
    });

    it('a draft stored before the check validates and publishes as 422 naming the field, never a 500', async () => {
      await stack.db.db.insert(journeys).values({ id: 'sur-old', name: 'sur-old', status: 'draft', draftSource: yamlEscape('sur-old') });
      for (const action of ['validate', 'publish']) {
        const res = await marketer(request(stack.app).post(`/v1/journeys/sur-old/${action}`));
        expect(res.status, `${action}: ${JSON.stringify(res.body)}`).toBe(422);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.body.errors).toEqual([{ path: 'name', message: 'must be well-formed Unicode (no lone surrogates)' }]);
      }
    });

    it('the compiler reports NUL and lone surrogates with their path and line (files published from the CLI too)', () => {
      const r = compileJourney(journeyYaml('c').replace('timeout: 1h', 'timeout: 1h, note: "a\\u0000b"'));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.errors).toEqual([{ path: 'steps.hold.note', line: 7, column: 74, message: 'must not contain the NUL character (U+0000)' }]);
      const list = compileJourney({ id: 'c', name: 'c', triggers: [{ type: 'event', event: 'a.b' }], steps: [{ id: 'x', type: 'exit', note: '\udc00' }] });
      expect(list.ok).toBe(false);
      if (!list.ok) expect(list.errors.map((e) => e.path)).toEqual(['steps[0].note']);
    });
  });

  describe('a bulk action whose input cannot work fails at once with the reason', () => {
    const startBulk = async (filter: BulkRunActionInput['filter']) => {
      const bulkId = `bulk_bounds_${Math.random().toString(36).slice(2)}`;
      const input: BulkRunActionInput = { v: 1, action: 'cancel', filter, dryRun: false, before: Date.now(), pageSize: 100, requestedBy: 'test' };
      await stack.temporal.client.workflow.start(WorkflowType.BulkRunAction, { workflowId: bulkId, taskQueue: batchTaskQueue(stack.temporal.taskQueue), args: [input] });
      return bulkId;
    };
    const failed = (bulkId: string) =>
      until(`${bulkId} failed`, async () => {
        const res = await ops(request(stack.app).get(`/v1/runs/bulk/${bulkId}`)).expect(200);
        return res.body.status === 'running' ? undefined : res.body;
      }, 30_000);
    const attempts = async (bulkId: string) => {
      const history = await stack.temporal.client.workflow.getHandle(bulkId).fetchHistory();
      return Math.max(0, ...(history.events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0));
    };

    it('a version beyond the column (begun without the API, which refuses it): failed on the first attempt, the reason in GET', async () => {
      const bulkId = await startBulk({ journeyId: 'bounds-j', version: OVER });
      const body = await failed(bulkId);
      expect(body.status).toBe('failed');
      expect(body.error).toMatch(/filter\.version 2147483648 is not a whole number from 1 to 2147483647/);
      expect(await attempts(bulkId)).toBe(1);
    });

    it('a value Postgres refuses (a contact id that is no uuid): failed on the first attempt with the database reason', async () => {
      const bulkId = await startBulk({ contactId: 'not-a-uuid' });
      const body = await failed(bulkId);
      expect(body.status).toBe('failed');
      expect(body.error).toMatch(/the database refused its input \(.*uuid.*not-a-uuid/);
      expect(await attempts(bulkId)).toBe(1);
    });
  });

  it('the error handler answers a value Postgres refuses as 400 problem+json, not 500 (the net under validation)', async () => {
    const app = express();
    app.get('/overflow', async (_req, _res, next) => {
      try {
        await stack.db.db.execute(sql`select ${String(OVER)}::int`);
      } catch (err) {
        next(err);
      }
    });
    app.get('/bug', (_req, _res, next) => next(new Error('a bug')));
    app.use(errorHandler);
    const res = await request(app).get('/overflow');
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ code: 'unstorable_value', detail: expect.stringMatching(/out of range for type integer/) });
    // Anything else is still a 500 with the message hidden.
    const bug = await request(app).get('/bug');
    expect(bug.status).toBe(500);
    expect(JSON.stringify(bug.body)).not.toContain('a bug');
  });

  it('a journey score change saturates at the 32-bit score column instead of failing its write on every retry', async () => {
    const [c] = await stack.db.db.insert(contacts).values({ externalId: 'bounds-score', score: INT32_MAX - 5 }).returning({ id: contacts.id });
    const r = await stack.activities.updateScore({ idempotencyKey: 'bounds-score-1', contactId: c!.id, actor: 'test', delta: 100, reason: 'big' });
    expect(r).toMatchObject({ applied: true, score: INT32_MAX });
    const [row] = await stack.db.db.select().from(scoreEvents).where(sql`${scoreEvents.idempotencyKey} = 'bounds-score-1'`);
    expect(row).toMatchObject({ delta: 5, scoreAfter: INT32_MAX });
    // The journey language refuses a delta no score column could hold.
    const j = compileJourney(journeyYaml('d').replace('hold: {', `bump: { type: update_score, delta: ${OVER}, reason: r, next: hold }\n  hold: {`).replace('start: hold', 'start: bump'));
    expect(j.ok).toBe(false);
    if (!j.ok) expect(j.errors.map((e) => `${e.path}: ${e.message}`)).toContain('steps.bump.delta: must be at most 2147483647');
  });
});
