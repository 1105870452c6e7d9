import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { messages } from '../../src/db/schema';
import { startTestStack, type TestStack } from '../helpers/stack';

describe('API keys (admin) and the messages list / outbox', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });
  const as = (key: string) => ({ Authorization: `Bearer ${key}` });

  it('creates a key shown once, lists keys without secrets, and revocation takes effect at once', async () => {
    const created = await request(stack.app).post('/v1/keys').set(as(stack.keys.admin)).send({ name: 'nightly ops job', role: 'ops' }).expect(201);
    expect(created.body.key).toMatch(/^itk_[A-Za-z0-9]{12}_[\w-]{40,}$/);
    expect(created.headers['cache-control']).toBe('no-store');
    const key: string = created.body.key;
    await request(stack.app).get('/v1/runs').set(as(key)).expect(200);
    await request(stack.app).get('/v1/keys').set(as(key)).expect(403);

    const list = await request(stack.app).get('/v1/keys').set(as(stack.keys.admin)).expect(200);
    const mine = list.body.items.find((k: { id: string }) => k.id === created.body.id);
    expect(mine).toMatchObject({ name: 'nightly ops job', role: 'ops', prefix: key.split('_')[1], revokedAt: null });
    expect(mine.lastUsedAt).not.toBeNull();
    const raw = JSON.stringify(list.body);
    // The secret is everything after `itk_<prefix>_`: base64url, so it may itself hold '_' (split('_') would cut it).
    const secret = key.slice('itk_'.length + 12 + 1);
    expect(secret).toHaveLength(43);
    expect(raw).not.toContain(secret);
    expect(raw).not.toMatch(/"hash"/);

    const revoked = await request(stack.app).post(`/v1/keys/${created.body.id}/revoke`).set(as(stack.keys.admin)).expect(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    await request(stack.app).get('/v1/runs').set(as(key)).expect(401);
    await request(stack.app).post(`/v1/keys/${created.body.id}/revoke`).set(as(stack.keys.admin)).expect(409);
    await request(stack.app).post('/v1/keys/00000000-0000-4000-8000-000000000000/revoke').set(as(stack.keys.admin)).expect(404);
  });

  it('refuses bad input naming the field, and every role but admin', async () => {
    const bad = await request(stack.app).post('/v1/keys').set(as(stack.keys.admin)).send({ name: ' ', role: 'root' }).expect(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['name', 'role']);
    const denied = await request(stack.app).post('/v1/keys').set(as(stack.keys.ops)).send({ name: 'x', role: 'admin' }).expect(403);
    expect(denied.body.detail).toMatch(/needs admin/);
  });

  it('lists messages newest first with filters; the outbox shows SMS text; pages never skip rows sharing a timestamp', async () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    await stack.db.db.insert(messages).values(
      Array.from({ length: 5 }, (_, i) => ({
        idempotencyKey: `wf:sms:${i}`,
        channel: 'sms',
        provider: 'outbox',
        status: 'stored',
        recipient: '+8613800138000',
        body: `验证码 ${i}`,
        createdAt: at,
      })),
    );
    await stack.db.db.insert(messages).values({ idempotencyKey: 'wf:mail', channel: 'email', status: 'sent', recipient: 'a@example.com', provider: 'smtp' });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: request.Response = await request(stack.app)
        .get('/v1/messages')
        .query({ provider: 'outbox', channel: 'sms', limit: 2, ...(cursor ? { cursor } : {}) })
        .set(as(stack.keys.marketer))
        .expect(200);
      seen.push(...page.body.items.map((m: { body: string }) => m.body));
      expect(page.body.items.every((m: { idempotencyKey?: string }) => m.idempotencyKey === undefined)).toBe(true);
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen.sort()).toEqual(['验证码 0', '验证码 1', '验证码 2', '验证码 3', '验证码 4']);
    const all = await request(stack.app).get('/v1/messages').set(as(stack.keys.ops)).expect(200);
    expect(all.body.items[0].channel).toBe('email');
    const bad = await request(stack.app).get('/v1/messages').query({ channel: 'fax', cursor: 'nope' }).set(as(stack.keys.ops)).expect(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toContain('query.channel');
    await request(stack.app).get('/v1/messages').set(as(stack.keys.integration)).expect(403);
  });
});
