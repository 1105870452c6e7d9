/**
 * The authorization matrix for the console's session cookie, generated from the route table like the key matrix in
 * tests/security/api-fuzz.test.ts: every protected route, for every role's session, answers as the policy says for
 * that role's key; an unsafe method without the session's CSRF token is refused; an ended session is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { buildApp, routeTable, type AppDeps } from '../../src/api/app';
import { createApiKey, ROLES, type Role } from '../../src/api/auth';
import type { RouteDef } from '../../src/api/route';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { createTestDatabase } from '../helpers/db';
import { TEST_SECRETS } from '../helpers/stack';
import { connectTestTemporal, type TestTemporal } from '../helpers/temporal';

const ROUTES = routeTable({ database: { db: {} } as AppDeps['database'], temporal: {} as AppDeps['temporal'], taskQueue: 'x', triggers: {} as AppDeps['triggers'], signingSecrets: TEST_SECRETS });
const PROTECTED = ROUTES.filter((r) => r.auth !== 'public');
const label = (r: RouteDef) => `${r.method.toUpperCase()} ${r.path}`;
const concrete = (path: string) => path.replace(/:(\w+)/g, 'does-not-exist');
const SAFE = new Set(['get']);

describe('authorization matrix for session cookies, generated from the route table', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let temporal: TestTemporal;
  let app: ReturnType<typeof buildApp>;
  const keys = {} as Record<Role, string>;

  beforeAll(async () => {
    [db, temporal] = await Promise.all([createTestDatabase(), connectTestTemporal()]);
    app = buildApp({
      database: db,
      temporal: temporal.client,
      taskQueue: temporal.taskQueue,
      triggers: dbTriggerSource(db.db),
      signingSecrets: TEST_SECRETS,
      // One client sending fast: the limits are tested in tests/api/abuse-limits and app.test.
      rateLimit: { perSecond: 1e6, burst: 1e6 },
      addressLimits: { unauthenticatedPerMinute: 1e6, publicPerMinute: 1e6 },
    });
    for (const role of ROLES) keys[role] = (await createApiKey(db.db, { name: `matrix ${role}`, role })).key;
  });
  afterAll(async () => {
    await temporal?.close();
    await db?.drop();
  });

  const signIn = async (role: Role) => {
    const res = await request(app).post('/v1/session').send({ apiKey: keys[role] }).expect(201);
    const cookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('itinera_session='))!.split(';')[0]!;
    return { cookie, csrf: res.body.csrfToken as string };
  };
  const call = (route: RouteDef, headers: Record<string, string>) => {
    let r = request(app)[route.method](concrete(route.path));
    for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
    return r;
  };

  it.each(PROTECTED.map((r) => [label(r), r] as const))('%s', async (_l, route) => {
    for (const role of ROLES) {
      const allowed = role === 'admin' || (route.auth as Role[]).includes(role);
      // A fresh session per role: an allowed DELETE /v1/session ends the one it is sent with.
      const s = await signIn(role);
      if (!SAFE.has(route.method)) {
        const noToken = await call(route, { Cookie: s.cookie });
        expect(noToken.status, `${role} ${label(route)} without CSRF`).toBe(403);
        expect(noToken.body.code).toBe('csrf_token_invalid');
      }
      const res = await call(route, { Cookie: s.cookie, 'X-CSRF-Token': s.csrf });
      expect(res.status, `${role} ${label(route)} → ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`).toBeLessThan(500);
      if (allowed) expect([401, 403], `${role} may call ${label(route)}`).not.toContain(res.status);
      else {
        expect(res.status, `${role} must not call ${label(route)}`).toBe(403);
        expect(res.body.code).toBe('forbidden');
      }
      // Signed out, the same cookie is refused everywhere.
      const out = await signIn(role);
      await request(app).delete('/v1/session').set('Cookie', out.cookie).set('X-CSRF-Token', out.csrf).expect(204);
      const ended = await call(route, { Cookie: out.cookie, 'X-CSRF-Token': out.csrf });
      expect(ended.status, `${role} ${label(route)} after sign-out`).toBe(401);
      expect(ended.body.code).toBe('session_ended');
    }
    // No key and no cookie: refused as before.
    expect((await call(route, {})).status).toBe(401);
  });
});
