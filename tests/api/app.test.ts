import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { buildApp, routeTable, type AppDeps } from '../../src/api/app';
import { createApiKey, ROLES, type Role } from '../../src/api/auth';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { createTestDatabase } from '../helpers/db';
import { connectTestTemporal, type TestTemporal } from '../helpers/temporal';

describe('API shape and authorization', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let temporal: TestTemporal;
  let deps: AppDeps;
  let app: ReturnType<typeof buildApp>;
  const keys = {} as Record<Role, string>;

  beforeAll(async () => {
    [db, temporal] = await Promise.all([createTestDatabase(), connectTestTemporal()]);
    deps = { database: db, temporal: temporal.client, taskQueue: temporal.taskQueue, triggers: dbTriggerSource(db.db), signingSecrets: ['s'.repeat(32)] };
    app = buildApp(deps);
    for (const role of ROLES) keys[role] = (await createApiKey(db.db, { name: role, role })).key;
  });
  afterAll(async () => {
    await temporal?.close();
    await db?.drop();
  });

  it('serves an OpenAPI 3.1 document that validates and covers every route', async () => {
    const res = await request(app).get('/openapi.json').expect(200);
    const result = await new Validator().validate(res.body);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(res.body.openapi).toBe('3.1.0');
    for (const route of routeTable(deps)) {
      const path = route.path.replace(/:(\w+)/g, '{$1}');
      expect(res.body.paths[path]?.[route.method], `${route.method} ${path}`).toBeDefined();
    }
  });

  it('renders the docs page with its assets from our own origin', async () => {
    const page = await request(app).get('/docs').expect(200);
    expect(page.text).toContain('/docs/assets/swagger-ui-bundle.js');
    expect(page.text).not.toMatch(/https?:\/\//);
    const js = await request(app).get('/docs/assets/swagger-ui-bundle.js').expect(200);
    expect(js.text.length).toBeGreaterThan(100_000);
    await request(app).get('/docs/init.js').expect(200).expect(/openapi\.json/);
  });

  // The authorization matrix (every route × role × no, malformed, forged and revoked keys) is in tests/security/api-fuzz.test.ts.

  it('reports health with both dependencies', async () => {
    const res = await request(app).get('/healthz').expect(200);
    expect(res.body).toEqual({ status: 'ok', checks: { database: { ok: true }, temporal: { ok: true } } });
    await request(app).get('/readyz').expect(200);
  });

  it('answers errors as problem+json', async () => {
    const missing = await request(app).get('/nope').expect(404);
    expect(missing.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(missing.body).toMatchObject({ status: 404, code: 'route_not_found', instance: '/nope' });

    const malformed = await request(app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${keys.integration}`)
      .set('content-type', 'application/json')
      .send('{"id": ')
      .expect(400);
    expect(malformed.body.code).toBe('malformed_json');

    const huge = await request(app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${keys.integration}`)
      .send({ events: [{ id: 'x', blob: 'a'.repeat(1_100_000) }] })
      .expect(413);
    expect(huge.body.code).toBe('body_too_large');

    const badQuery = await request(app).get('/v1/runs?limit=0').set('Authorization', `Bearer ${keys.ops}`).expect(400);
    expect(badQuery.body.errors).toEqual([expect.objectContaining({ path: 'query.limit' })]);
  });

  it('rejects per item in a batch and accepts the rest', async () => {
    const res = await request(app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${keys.integration}`)
      .send({
        events: [
          { id: 'b1', type: 'page.viewed', contact: { externalId: 'k1' } },
          { id: 'b2', type: 'page.viewed', contact: { externalId: 'k1', email: 'not-an-email' } },
        ],
      })
      .expect(202);
    expect(res.body.accepted).toEqual([{ id: 'b1', contactId: expect.stringMatching(/^[0-9a-f-]{36}$/), duplicate: false, runs: [] }]);
    expect(res.body.rejected).toEqual([
      { index: 1, id: 'b2', errors: [expect.objectContaining({ path: 'events.1.contact.email' })] },
    ]);
    const tooMany = await request(app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${keys.integration}`)
      .send({ events: Array.from({ length: 1001 }, (_, i) => ({ id: `t${i}` })) })
      .expect(400);
    expect(tooMany.body.errors[0].path).toBe('events');
  });

  it('rate-limits per key with 429 and Retry-After', async () => {
    const limited = buildApp({ ...deps, rateLimit: { perSecond: 1, burst: 2 } });
    const get = () => request(limited).get('/v1/runs').set('Authorization', `Bearer ${keys.ops}`);
    const first = await get().expect(200);
    expect(first.headers['ratelimit-policy']).toBe('"per-key"; q=2; w=2');
    expect(first.headers['ratelimit']).toMatch(/^"per-key"; r=1; t=\d+$/);
    await get().expect(200);
    const res = await get().expect(429);
    expect(res.headers['ratelimit']).toMatch(/^"per-key"; r=0; t=\d+$/);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(res.body.code).toBe('rate_limited');
    // Another key has its own bucket.
    await request(limited).get('/v1/runs').set('Authorization', `Bearer ${keys.admin}`).expect(200);
  });

  it('gives a burst of concurrent requests of one key exactly the tokens its shared bucket holds, across API processes', async () => {
    // Two apps on one database stand for two API processes; the requests of each that arrive together take their
    // tokens in one statement on the key's row.
    const limits = { perSecond: 0.001, burst: 5 };
    const one = buildApp({ ...deps, rateLimit: limits });
    const two = buildApp({ ...deps, rateLimit: limits });
    const { key } = await createApiKey(db.db, { name: 'burst', role: 'ops' });
    const get = (app: typeof one) => request(app).get('/v1/runs').set('Authorization', `Bearer ${key}`);
    const statuses = (await Promise.all(Array.from({ length: 8 }, () => get(one)))).map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3);
    // The bucket lives in the database: the other process finds it empty too.
    await get(two).expect(429);
  });
});
