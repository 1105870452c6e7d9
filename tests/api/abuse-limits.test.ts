import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import express from 'express';
import request from 'supertest';
import { buildApp, type AppDeps } from '../../src/api/app';
import { authenticate, createApiKey } from '../../src/api/auth';
import { BoundedMemoryStore, rateLimitUnauthenticated } from '../../src/api/rate-limit';
import { errorHandler } from '../../src/api/problem';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { createTestDatabase } from '../helpers/db';
import { connectTestTemporal, type TestTemporal } from '../helpers/temporal';
import type { Db } from '../../src/db/client';

/** Abuse limits: per-address limits on failed authentication and public endpoints, and the unknown-key cache. */
describe('abuse limits', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let temporal: TestTemporal;
  let deps: AppDeps;
  let key: string;

  beforeAll(async () => {
    [db, temporal] = await Promise.all([createTestDatabase(), connectTestTemporal()]);
    deps = { database: db, temporal: temporal.client, taskQueue: temporal.taskQueue, triggers: dbTriggerSource(db.db), signingSecrets: ['s'.repeat(32)] };
    key = (await createApiKey(db.db, { name: 'ops', role: 'ops' })).key;
  });
  afterAll(async () => {
    await temporal?.close();
    await db?.drop();
  });

  /** Behind a proxy on loopback, so each test can speak from several client addresses through X-Forwarded-For. */
  const behindProxy = (limits: AppDeps['addressLimits']) => buildApp({ ...deps, trustProxy: ['loopback'], addressLimits: limits });
  const from = (app: express.Express, ip: string, path = '/v1/runs') => request(app).get(path).set('X-Forwarded-For', ip);

  it('answers an unauthenticated flood with 429 problem+json and the IETF RateLimit headers', async () => {
    const app = buildApp({ ...deps, addressLimits: { unauthenticatedPerMinute: 5 } });
    const bad = ['', 'Bearer nonsense', `Bearer itk_AAAAAAAAAAAA_${'A'.repeat(43)}`, `Bearer ${key.slice(0, -3)}AAA`, 'Basic Zm9vOmJhcg=='];
    for (const [i, auth] of bad.entries()) {
      const r = request(app).get('/v1/runs');
      const res = await (auth ? r.set('Authorization', auth) : r).expect(401);
      expect(res.headers['ratelimit-policy']).toMatch(/^"unauthenticated"; q=5; w=60; pk=:[A-Za-z0-9+/=]+:$/);
      expect(res.headers['ratelimit']).toMatch(new RegExp(`^"unauthenticated"; r=${4 - i}; t=\\d+$`));
    }
    const flood = await Promise.all(Array.from({ length: 20 }, () => request(app).get('/v1/runs').set('Authorization', 'Bearer wrong')));
    for (const res of flood) {
      expect(res.status).toBe(429);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ status: 429, code: 'rate_limited', title: 'Too Many Requests', instance: '/v1/runs' });
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
      expect(res.headers['ratelimit']).toMatch(/^"unauthenticated"; r=0; t=\d+$/);
    }
    // A key this process has accepted is never refused by the address's failure limit.
    await request(app).get('/v1/runs').set('Authorization', `Bearer ${key}`).expect(200);
  });

  it('counts per client address, from X-Forwarded-For only when trust proxy is configured, IPv6 per /64', async () => {
    const app = behindProxy({ unauthenticatedPerMinute: 2 });
    await from(app, '203.0.113.7').expect(401);
    await from(app, '203.0.113.7').expect(401);
    await from(app, '203.0.113.7').expect(429);
    await from(app, '203.0.113.8').expect(401);
    // One host owns a /64: its addresses share a budget; the next /64 has its own.
    await from(app, '2001:db8:0:1::1').expect(401);
    await from(app, '2001:db8:0:1:ffff::2').expect(401);
    await from(app, '2001:db8:0:1::3').expect(429);
    await from(app, '2001:db8:0:2::1').expect(401);
    // Without trust proxy the header is ignored: everything comes from the socket's address, one budget.
    const direct = buildApp({ ...deps, addressLimits: { unauthenticatedPerMinute: 2 } });
    await from(direct, '198.51.100.1').expect(401);
    await from(direct, '198.51.100.2').expect(401);
    await from(direct, '198.51.100.3').expect(429);
  });

  it('limits public endpoints per address with generous, separate budgets', async () => {
    const app = behindProxy({ publicPerMinute: 3, unauthenticatedPerMinute: 100 });
    for (let i = 0; i < 3; i++) {
      const res = await from(app, '192.0.2.1', `/t/o/not-a-valid-token-${i}`).expect(200);
      expect(res.headers['content-type']).toBe('image/gif');
      expect(res.headers['ratelimit']).toMatch(new RegExp(`^"public"; r=${2 - i}; t=\\d+$`));
    }
    const limited = await from(app, '192.0.2.1', '/u/not-a-valid-token').expect(429);
    expect(limited.body.code).toBe('rate_limited');
    await from(app, '192.0.2.1', '/t/c/not-a-valid-token').expect(429);
    await request(app).post('/u/not-a-valid-token').set('X-Forwarded-For', '192.0.2.1').expect(429);
    // Another client is unaffected, and failed authentication has a budget of its own.
    await from(app, '192.0.2.2', '/t/o/not-a-valid-token').expect(200);
    await from(app, '192.0.2.1').expect(401);
  });

  it('has defaults that let a mail proxy fetch pixels for many readers', async () => {
    const app = buildApp(deps);
    const res = await request(app).get('/t/o/not-a-valid-token').expect(200);
    expect(res.headers['ratelimit-policy']).toMatch(/^"public"; q=3000; w=60;/);
    const unauth = await request(app).get('/v1/runs').expect(401);
    expect(unauth.headers['ratelimit-policy']).toMatch(/^"unauthenticated"; q=60; w=60;/);
  });

  it('accepts the Bearer scheme in any case', async () => {
    const app = buildApp(deps);
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      await request(app).get('/v1/runs').set('Authorization', `${scheme} ${key}`).expect(200);
    }
    await request(app).get('/v1/runs').set('Authorization', `Bearer\t ${key}`).expect(200);
    const res = await request(app).get('/v1/runs').set('Authorization', `Bearerx ${key}`).expect(401);
    expect(res.body.code).toBe('unauthenticated');
  });

  describe('unknown key prefixes', () => {
    let lookups = 0;
    /** The real database, counting the key lookups made through it. */
    const counting = () =>
      new Proxy(db.db, {
        get(target, prop, receiver) {
          if (prop === 'select') lookups++;
          return Reflect.get(target, prop, receiver) as unknown;
        },
      }) as Db;
    const appWith = (opts: Parameters<typeof authenticate>[1]) => {
      const app = express();
      app.use(authenticate(counting(), opts));
      app.get('/who', (req, res) => res.json(req.principal));
      app.use(errorHandler);
      return app;
    };

    it('cost one lookup, then none on repeat until the cache expires', async () => {
      let clock = 1_000_000;
      const app = appWith({ now: () => clock });
      const unknown = `itk_Unknown00001_${'B'.repeat(43)}`;
      lookups = 0;
      for (let i = 0; i < 50; i++) {
        const res = await request(app).get('/who').set('Authorization', `Bearer ${unknown}`).expect(401);
        expect(res.body.code).toBe('invalid_api_key');
      }
      expect(lookups).toBe(1);
      clock += 5_001;
      await request(app).get('/who').set('Authorization', `Bearer ${unknown}`).expect(401);
      expect(lookups).toBe(2);
    });

    it('are looked up again once this process creates a key', async () => {
      const app = appWith({});
      lookups = 0;
      const unknown = `itk_Unknown00002_${'C'.repeat(43)}`;
      await request(app).get('/who').set('Authorization', `Bearer ${unknown}`).expect(401);
      await request(app).get('/who').set('Authorization', `Bearer ${unknown}`).expect(401);
      expect(lookups).toBe(1);
      const created = await createApiKey(db.db, { name: 'new', role: 'marketer' });
      await request(app).get('/who').set('Authorization', `Bearer ${unknown}`).expect(401);
      expect(lookups).toBe(2);
      await request(app).get('/who').set('Authorization', `Bearer ${created.key}`).expect(200);
    });

    it('are not looked up at all from an address past its failure limit', async () => {
      const limit = rateLimitUnauthenticated({ unauthenticatedPerMinute: 3 });
      const app = express();
      app.get('/who', authenticate(counting(), { exhausted: limit.exhausted }), limit.onFailure, (req: express.Request, res: express.Response) => res.json(req.principal));
      app.use(errorHandler);
      lookups = 0;
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) {
        const made = `itk_Flood${String(i).padStart(7, '0')}_${'D'.repeat(43)}`;
        statuses.push((await request(app).get('/who').set('Authorization', `Bearer ${made}`)).status);
      }
      expect(statuses).toEqual([401, 401, 401, ...Array(27).fill(429)]);
      expect(lookups).toBe(3);
    });
  });

  it('remembers a bounded number of addresses', async () => {
    const store = new BoundedMemoryStore(1000);
    for (let i = 0; i < 50_000; i++) store.increment(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect(store.size).toBe(1000);
    // The newest are kept, and counting goes on for them.
    expect(store.get('10.0.195.79')?.totalHits).toBe(1);
    expect(store.increment('10.0.195.79').totalHits).toBe(2);
    expect(store.get('10.0.0.1')).toBeUndefined();
  });
});
