import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { eq, sql } from 'drizzle-orm';
import { contacts } from '../../src/db/schema';
import { startTestStack, type TestStack } from '../helpers/stack';

type Item = { id: string; externalId: string | null; email: string | null; phone: string | null; tags: string[]; lifecycleStage: string; createdAt: string; updatedAt: string };
type Page = { items: Item[]; nextCursor: string | null };

describe('GET /v1/contacts: search and cursor pagination', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });
  const put = (id: string, body: object) => request(stack.app).put(`/v1/contacts/${id}`).set('Authorization', `Bearer ${stack.keys.integration}`).send(body);
  const list = (query: Record<string, string | number>, role: 'integration' | 'marketer' | 'ops' | 'admin' = 'integration') =>
    request(stack.app).get('/v1/contacts').query(query).set('Authorization', `Bearer ${stack.keys[role]}`);
  const walk = async (query: Record<string, string | number>, between?: (page: number) => Promise<void>) => {
    const seen: Item[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 20; page++) {
      const res = await list({ ...query, ...(cursor ? { cursor } : {}) }).expect(200);
      const body = res.body as Page;
      seen.push(...body.items);
      if (!body.nextCursor) return { seen, pages: page + 1 };
      cursor = body.nextCursor;
      await between?.(page);
    }
    throw new Error('the walk did not end');
  };

  let bulk: { id: string; externalId: string | null }[] = [];
  it('seeds 120 contacts, many sharing one created_at so the id breaks ties', async () => {
    const rows = Array.from({ length: 120 }, (_, i) => ({
      externalId: `bulk-${String(i).padStart(3, '0')}`,
      email: `bulk${i}@example.com`,
      tags: i % 3 === 0 ? ['vip'] : ['newsletter'],
      lifecycleStage: i % 4 === 0 ? 'customer' : 'lead',
    }));
    // Two statements: 60 rows each share one now().
    bulk = [
      ...(await stack.db.db.insert(contacts).values(rows.slice(0, 60)).returning({ id: contacts.id, externalId: contacts.externalId })),
      ...(await stack.db.db.insert(contacts).values(rows.slice(60)).returning({ id: contacts.id, externalId: contacts.externalId })),
    ];
    expect(bulk).toHaveLength(120);
  });

  it('walks all 120 in pages of 50 exactly once, in (created_at, id) order, while contacts are updated between pages', async () => {
    const expected = await stack.db.db.select({ id: contacts.id }).from(contacts).orderBy(contacts.createdAt, contacts.id);
    const { seen, pages } = await walk({ limit: 50 }, async (page) => {
      // After each page: update one contact already returned and one still to come; neither moves in the walk.
      const done = expected[page * 50 + 10]!.id;
      const ahead = expected[100 + page * 10]!.id;
      for (const id of [done, ahead]) {
        const [row] = await stack.db.db.select({ externalId: contacts.externalId }).from(contacts).where(eq(contacts.id, id));
        await put(row!.externalId!, { jobTitle: `changed after page ${page}` }).expect(200);
      }
    });
    expect(pages).toBe(3);
    expect(seen.map((c) => c.id)).toEqual(expected.map((c) => c.id));
    expect(new Set(seen.map((c) => c.id)).size).toBe(120);
    // The contact updated ahead of the walk is returned in its new state.
    expect(seen[100]).toMatchObject({ jobTitle: 'changed after page 0' });
  });

  it('returns the fields GET /v1/contacts/:id shows, for each role that may read contacts', async () => {
    for (const role of ['integration', 'marketer', 'ops', 'admin'] as const) {
      const { body } = await list({ externalId: 'bulk-007' }, role).expect(200);
      expect(body.items).toHaveLength(1);
      const one = await request(stack.app).get(`/v1/contacts/${body.items[0].id as string}`).set('Authorization', `Bearer ${stack.keys[role]}`).expect(200);
      const { mergedFrom: _m, scoreExplanation: _s, journeys: _j, messages: _msg, timeline: _t, lifecycleHistory: _l, handoffs: _h, ...fields } = one.body as Record<string, unknown>;
      expect(body.items[0]).toEqual(fields);
    }
  });

  it('filters by email and phone after normalizing them as a write does', async () => {
    const { body: c } = await put('norm-1', { email: 'Li.Na@Example.com', phone: '+8613912345678' }).expect(201);
    expect((await list({ email: '  LI.NA@example.COM ' }).expect(200)).body.items.map((i: Item) => i.id)).toEqual([c.id]);
    expect((await list({ phone: '+86 139-1234-5678' }).expect(200)).body.items.map((i: Item) => i.id)).toEqual([c.id]);
    // A national number is read in `country` (CN by default), like a write.
    expect((await list({ phone: '139 1234 5678' }).expect(200)).body.items.map((i: Item) => i.id)).toEqual([c.id]);
    expect((await list({ phone: '139 1234 5678', country: 'US' }).expect(400)).body.errors.map((e: { path: string }) => e.path)).toEqual(['query.phone']);
    expect((await list({ email: 'nobody@example.com' }).expect(200)).body).toEqual({ items: [], nextCursor: null });
  });

  it('filters by CRM id, tag, lifecycle stage and updatedSince, and combines them', async () => {
    expect((await list({ externalId: 'bulk-042' }).expect(200)).body.items.map((i: Item) => i.email)).toEqual(['bulk42@example.com']);
    const vip = await walk({ tag: 'vip', limit: 500 });
    expect(vip.seen).toHaveLength(40);
    expect(vip.seen.every((c) => c.tags.includes('vip'))).toBe(true);
    const customers = await walk({ lifecycleStage: 'customer', limit: 500 });
    expect(customers.seen).toHaveLength(30);
    const both = await walk({ lifecycleStage: 'customer', tag: 'vip', limit: 7 });
    // i % 12 === 0 for i < 120: 10 contacts, in pages of 7.
    expect(both.seen).toHaveLength(10);
    expect(both.pages).toBe(2);
    // Pushed into the past, then one changed now: updatedSince sees only the changed one.
    await stack.db.db.update(contacts).set({ updatedAt: sql`now() - interval '1 day'` });
    const since = new Date(Date.now() - 60_000).toISOString();
    await put('bulk-099', { jobTitle: 'CTO' }).expect(200);
    expect((await list({ updatedSince: since }).expect(200)).body.items.map((i: Item) => i.externalId)).toEqual(['bulk-099']);
    expect((await list({ updatedSince: 'yesterday' }).expect(400)).body.errors.map((e: { path: string }) => e.path)).toEqual(['query.updatedSince']);
    expect((await list({ lifecycleStage: 'king' }).expect(400)).body.errors.map((e: { path: string }) => e.path)).toEqual(['query.lifecycleStage']);
  });

  it('finds contacts by part of the name, either order, case-insensitive, LIKE characters as themselves', async () => {
    await put('name-1', { firstName: 'Wei', lastName: 'Zhang' }).expect(201);
    await put('name-2', { firstName: '伟', lastName: '张' }).expect(201);
    await put('name-3', { firstName: '100%_sure', lastName: 'Li' }).expect(201);
    const ids = async (name: string) => (await list({ name }).expect(200)).body.items.map((i: Item) => i.externalId).sort();
    expect(await ids('wei zh')).toEqual(['name-1']);
    expect(await ids('ZHANG WEI')).toEqual(['name-1']);
    expect(await ids('张伟')).toEqual(['name-2']);
    expect(await ids('伟')).toEqual(['name-2']);
    expect(await ids('0%_s')).toEqual(['name-3']);
    // % and _ are not wildcards: "1_0" matches no one although "100" would match the pattern as LIKE reads it.
    expect(await ids('1_0')).toEqual([]);
    expect(await ids('nobody')).toEqual([]);
    expect((await list({ name: ' ' }).expect(400)).body.errors.map((e: { path: string }) => e.path)).toEqual(['query.name']);
  });

  it('leaves out merged-away duplicates and erased contacts', async () => {
    const { body: form } = await put('form-9', { email: 'dup@example.com' }).expect(201);
    const { body: crm } = await put('crm-9', { email: 'dup@example.com', firstName: 'Wang' }).expect(201);
    expect(crm.merged.map((m: { id: string }) => m.id)).toEqual([form.id]);
    expect((await list({ email: 'dup@example.com' }).expect(200)).body.items.map((i: Item) => i.id)).toEqual([crm.id]);
    expect((await list({ externalId: 'form-9' }).expect(200)).body.items).toEqual([]);
    await request(stack.app).delete(`/v1/contacts/${crm.id as string}`).set('Authorization', `Bearer ${stack.keys.admin}`).expect(200);
    expect((await list({ email: 'dup@example.com' }).expect(200)).body.items).toEqual([]);
    const all = await walk({ limit: 500 });
    expect(all.seen.map((c) => c.id)).not.toContain(crm.id);
    expect(all.seen.map((c) => c.id)).not.toContain(form.id);
  });

  it('refuses a malformed, tampered or re-purposed cursor with a 400 naming cursor', async () => {
    const { body } = await list({ limit: 50 }).expect(200);
    const cursor = body.nextCursor as string;
    expect(cursor).toEqual(expect.any(String));
    const [payload, sig] = cursor.split('.') as [string, string];
    const position = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { c: string; id: string };
    const forged = Buffer.from(JSON.stringify({ ...position, c: '0' })).toString('base64url');
    const otherEnd = sig.endsWith('AA') ? 'BA' : 'AA';
    for (const bad of ['garbage', `${payload}`, `${payload}.${sig}.x`, `${forged}.${sig}`, `${payload}.${sig.slice(0, -2)}${otherEnd}`, 'eyJ0IjoxZTMwMH0']) {
      const res = await list({ cursor: bad }).expect(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['query.cursor']);
    }
    // Any other last character is refused, including those a lenient base64 decoder reads as the same bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (const ch of alphabet) {
      if (ch === sig.at(-1)) continue;
      expect((await list({ cursor: `${payload}.${sig.slice(0, -1)}${ch}` })).status).toBe(400);
    }
    // A cursor belongs to its search: with other filters it is refused, not silently applied.
    expect((await list({ cursor, tag: 'vip' }).expect(400)).body.errors.map((e: { path: string }) => e.path)).toEqual(['query.cursor']);
    await list({ cursor, limit: 10 }).expect(200);
  });

  it('validates email, limit and unknown fields, naming the query field', async () => {
    expect((await list({ email: 'not-an-email' }).expect(400)).body.errors.map((e: { path: string }) => e.path)).toEqual(['query.email']);
    for (const limit of [0, 501, -1, 'ten']) {
      expect((await list({ limit }).expect(400)).body.errors.map((e: { path: string }) => e.path)).toEqual(['query.limit']);
    }
    expect((await list({ colour: 'red' }).expect(400)).body.errors.length).toBeGreaterThan(0);
    expect((await list({}).expect(200)).body.items).toHaveLength(50);
    expect((await list({ limit: 500 }).expect(200)).body.nextCursor).toBeNull();
    expect((await list({ limit: 1 }).expect(200)).body.items).toHaveLength(1);
  });
});
