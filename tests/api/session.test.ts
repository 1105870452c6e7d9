import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { eq, sql } from 'drizzle-orm';
import { buildApp } from '../../src/api/app';
import { consoleSessions } from '../../src/db/schema';
import { startTestStack, TEST_SECRETS, type TestStack } from '../helpers/stack';

const cookieOf = (res: request.Response): string => {
  const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const c = set.find((h) => h.startsWith('itinera_session='));
  if (!c) throw new Error(`no session cookie in ${JSON.stringify(set)}`);
  return c;
};
const valueOf = (setCookie: string) => setCookie.split(';')[0]!;

describe('console sessions: an API key exchanged for a cookie', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const signIn = async (apiKey: string, app = stack.app) => {
    const res = await request(app).post('/v1/session').send({ apiKey }).expect(201);
    return { res, cookie: valueOf(cookieOf(res)), csrf: res.body.csrfToken as string };
  };

  it('signs in with a key: an httpOnly, SameSite=Strict cookie for 8 hours, the role and a CSRF token; only a hash is stored', async () => {
    const before = Date.now();
    const { res, cookie } = await signIn(stack.keys.marketer);
    const set = cookieOf(res);
    expect(set).toMatch(/; Path=\//);
    expect(set).toMatch(/; HttpOnly/);
    expect(set).toMatch(/; SameSite=Strict/);
    expect(set).toMatch(/; Max-Age=28800/);
    expect(set).not.toMatch(/Secure/); // plain http, no trusted proxy
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ role: 'marketer', name: 'test marketer', via: 'session', csrfToken: expect.stringMatching(/^[\w-]{43}$/) });
    const expires = new Date(res.body.expiresAt).getTime();
    expect(expires).toBeGreaterThanOrEqual(before + 8 * 3600_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 8 * 3600_000 + 1000);

    const token = cookie.split('=')[1]!;
    const rows = await stack.db.db.select().from(consoleSessions);
    expect(rows.some((r) => r.idHash === token || JSON.stringify(r).includes(token))).toBe(false);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.role).toBe('marketer');

    const me = await request(stack.app).get('/v1/session').set('Cookie', cookie).expect(200);
    expect(me.body).toMatchObject({ role: 'marketer', via: 'session', csrfToken: res.body.csrfToken, expiresAt: res.body.expiresAt });
    // With a key, the same route says who the key is.
    const byKey = await request(stack.app).get('/v1/session').set('Authorization', `Bearer ${stack.keys.ops}`).expect(200);
    expect(byKey.body).toMatchObject({ role: 'ops', via: 'key', csrfToken: null, expiresAt: null });
  });

  it('refuses bad keys and bad bodies, naming the field', async () => {
    const bad = await request(stack.app).post('/v1/session').send({ apiKey: 'itk_abcdefghijkl_' + 'x'.repeat(43) }).expect(401);
    expect(bad.body.code).toBe('invalid_api_key');
    expect(bad.headers['set-cookie']).toBeUndefined();
    const malformed = await request(stack.app).post('/v1/session').send({ apiKey: 'nope' }).expect(401);
    expect(malformed.body.code).toBe('invalid_api_key');
    const missing = await request(stack.app).post('/v1/session').send({}).expect(400);
    expect(missing.body.errors).toEqual([expect.objectContaining({ path: 'apiKey' })]);
    const noCookie = await request(stack.app).get('/v1/session').expect(401);
    expect(noCookie.body.code).toBe('unauthenticated');
    const forged = await request(stack.app).get('/v1/session').set('Cookie', `itinera_session=${'a'.repeat(43)}`).expect(401);
    expect(forged.body.code).toBe('session_ended');
  });

  it('enforces the key’s role through the cookie, exactly as for the key', async () => {
    const marketer = await signIn(stack.keys.marketer);
    await request(stack.app).get('/v1/journeys').set('Cookie', marketer.cookie).expect(200);
    const refused = await request(stack.app).get('/v1/runs').set('Cookie', marketer.cookie).expect(403);
    expect(refused.body.code).toBe('forbidden');
    const ops = await signIn(stack.keys.ops);
    await request(stack.app).get('/v1/runs').set('Cookie', ops.cookie).expect(200);
    await request(stack.app).get('/v1/keys').set('Cookie', ops.cookie).expect(403);
    const admin = await signIn(stack.keys.admin);
    await request(stack.app).get('/v1/keys').set('Cookie', admin.cookie).expect(200);
  });

  it('requires the session’s CSRF token on unsafe methods sent with the cookie, not with a key', async () => {
    const s = await signIn(stack.keys.marketer);
    const draft = { source: 'id: csrf-probe\nname: CSRF probe\ntrigger: { event: probe.happened }\nsteps:\n  - id: done\n    type: exit\n' };
    const none = await request(stack.app).post('/v1/journeys').set('Cookie', s.cookie).send(draft).expect(403);
    expect(none.body.code).toBe('csrf_token_invalid');
    const other = await signIn(stack.keys.marketer);
    const wrong = await request(stack.app).post('/v1/journeys').set('Cookie', s.cookie).set('X-CSRF-Token', other.csrf).send(draft).expect(403);
    expect(wrong.body.code).toBe('csrf_token_invalid');
    const ok = await request(stack.app).post('/v1/journeys').set('Cookie', s.cookie).set('X-CSRF-Token', s.csrf).send(draft);
    expect(ok.status, JSON.stringify(ok.body)).toBeLessThan(300);
    // A key needs no CSRF token, and wins over a cookie sent beside it.
    const me = await request(stack.app).get('/v1/session').set('Cookie', s.cookie).set('X-Api-Key', stack.keys.ops).expect(200);
    expect(me.body).toMatchObject({ role: 'ops', via: 'key' });
  });

  it('signs out: the session is revoked, the cookie cleared, and the cookie refused afterwards', async () => {
    const s = await signIn(stack.keys.marketer);
    await request(stack.app).delete('/v1/session').set('Cookie', s.cookie).expect(403);
    const out = await request(stack.app).delete('/v1/session').set('Cookie', s.cookie).set('X-CSRF-Token', s.csrf).expect(204);
    expect(cookieOf(out)).toMatch(/^itinera_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0/);
    const after = await request(stack.app).get('/v1/journeys').set('Cookie', s.cookie).expect(401);
    expect(after.body.code).toBe('session_ended');
    // With a key there is no session to end.
    const byKey = await request(stack.app).delete('/v1/session').set('Authorization', `Bearer ${stack.keys.marketer}`).expect(409);
    expect(byKey.body.code).toBe('conflict');
  });

  it('ends every session of a revoked key at once', async () => {
    const created = await request(stack.app).post('/v1/keys').set('Authorization', `Bearer ${stack.keys.admin}`).send({ name: 'soon revoked', role: 'marketer' }).expect(201);
    const a = await signIn(created.body.key);
    const b = await signIn(created.body.key);
    await request(stack.app).get('/v1/journeys').set('Cookie', a.cookie).expect(200);
    await request(stack.app).post(`/v1/keys/${created.body.id}/revoke`).set('Authorization', `Bearer ${stack.keys.admin}`).expect(200);
    for (const s of [a, b]) expect((await request(stack.app).get('/v1/journeys').set('Cookie', s.cookie).expect(401)).body.code).toBe('session_ended');
    expect((await request(stack.app).post('/v1/session').send({ apiKey: created.body.key }).expect(401)).body.code).toBe('revoked_api_key');
  });

  it('ends a session at its expiry, which does not slide', async () => {
    const s = await signIn(stack.keys.marketer);
    const before = await stack.db.db.select().from(consoleSessions).where(eq(consoleSessions.csrfToken, s.csrf));
    await request(stack.app).get('/v1/journeys').set('Cookie', s.cookie).expect(200);
    const after = await stack.db.db.select().from(consoleSessions).where(eq(consoleSessions.csrfToken, s.csrf));
    expect(after[0]!.expiresAt).toEqual(before[0]!.expiresAt);
    await stack.db.db.update(consoleSessions).set({ expiresAt: sql`now() - interval '1 second'` }).where(eq(consoleSessions.csrfToken, s.csrf));
    expect((await request(stack.app).get('/v1/journeys').set('Cookie', s.cookie).expect(401)).body.code).toBe('session_ended');
  });

  it('sets Secure behind a trusted https proxy, with the configured lifetime', async () => {
    const deps = { database: stack.db, temporal: stack.temporal.client, taskQueue: stack.temporal.taskQueue, triggers: { triggersFor: async () => [] }, signingSecrets: TEST_SECRETS };
    const proxied = buildApp({ ...deps, trustProxy: true, sessionTtlMs: 30 * 60_000 } as Parameters<typeof buildApp>[0]);
    const res = await request(proxied).post('/v1/session').set('X-Forwarded-Proto', 'https').send({ apiKey: stack.keys.marketer }).expect(201);
    expect(cookieOf(res)).toMatch(/; Max-Age=1800; Secure$/);
    // Not trusted: the header is ignored.
    const direct = buildApp({ ...deps } as Parameters<typeof buildApp>[0]);
    const plain = await request(direct).post('/v1/session').set('X-Forwarded-Proto', 'https').send({ apiKey: stack.keys.marketer }).expect(201);
    expect(cookieOf(plain)).not.toMatch(/Secure/);
  });
});
