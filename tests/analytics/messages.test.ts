/**
 * GET /v1/analytics/messages: messages by channel per hour/day/week of a time zone, every bucket listed, bounded.
 * The route reads only Postgres, so the app gets a Temporal client that never connects.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { Client } from '@temporalio/client';
import { buildApp } from '../../src/api/app';
import { createApiKey } from '../../src/api/auth';
import { messages } from '../../src/db/schema';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { createTestDatabase } from '../helpers/db';
import { TEST_SECRETS } from '../helpers/stack';

describe('messages by channel over time', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: ReturnType<typeof buildApp>;
  let marketer: string;
  let integration: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    app = buildApp({ database: db, temporal: new Client(), taskQueue: 'x', triggers: dbTriggerSource(db.db), signingSecrets: TEST_SECRETS });
    marketer = (await createApiKey(db.db, { name: 'm', role: 'marketer' })).key;
    integration = (await createApiKey(db.db, { name: 'i', role: 'integration' })).key;
    const row = (n: number, channel: string, status: string, at: string, journeyId: string | null = 'welcome') => ({
      idempotencyKey: `k${n}`,
      channel,
      status,
      recipient: 'r@example.com',
      journeyId,
      createdAt: new Date(at),
    });
    await db.db.insert(messages).values([
      // 2026-12-06 in Shanghai runs from 2026-12-05T16:00Z to 2026-12-06T16:00Z.
      row(1, 'email', 'delivered', '2026-12-05T16:00:00.000Z'),
      row(2, 'email', 'bounced', '2026-12-06T15:59:59.999Z'),
      row(3, 'sms', 'delivered', '2026-12-06T02:00:00.000Z', 'other'),
      // The next Shanghai day.
      row(4, 'email', 'delivered', '2026-12-06T16:00:00.000Z'),
      // Outside the range on both sides.
      row(5, 'email', 'delivered', '2026-12-05T15:59:59.999Z'),
      row(6, 'sms', 'delivered', '2026-12-08T16:00:00.000Z'),
    ]);
  });
  afterAll(async () => {
    await db?.drop();
  });
  const get = (q: Record<string, string>, key = marketer) => request(app).get('/v1/analytics/messages').query(q).set('Authorization', `Bearer ${key}`);

  it("buckets by the zone's local days, lists empty days, and counts per channel and status", async () => {
    const res = await get({ from: '2026-12-05T16:00:00.000Z', to: '2026-12-08T16:00:00.000Z', bucket: 'day', timeZone: 'Asia/Shanghai' }).expect(200);
    expect(res.body.timeZone).toBe('Asia/Shanghai');
    expect(res.body.buckets.map((b: { start: string }) => b.start)).toEqual(['2026-12-05T16:00:00.000Z', '2026-12-06T16:00:00.000Z', '2026-12-07T16:00:00.000Z']);
    expect(res.body.buckets[0].channels).toEqual({ email: { total: 2, byStatus: { delivered: 1, bounced: 1 } }, sms: { total: 1, byStatus: { delivered: 1 } } });
    expect(res.body.buckets[1].channels).toEqual({ email: { total: 1, byStatus: { delivered: 1 } } });
    expect(res.body.buckets[2].channels).toEqual({});
    expect(res.body.channels).toEqual({ email: { total: 3, byStatus: { delivered: 2, bounced: 1 } }, sms: { total: 1, byStatus: { delivered: 1 } } });
  });

  it('in UTC the same messages fall on other days; a journey filter keeps its own', async () => {
    const res = await get({ from: '2026-12-05T00:00:00.000Z', to: '2026-12-07T00:00:00.000Z', journeyId: 'welcome' }).expect(200);
    expect(res.body.timeZone).toBe('UTC');
    expect(res.body.buckets.map((b: { start: string; channels: Record<string, { total: number }> }) => [b.start, b.channels.email?.total ?? 0, b.channels.sms?.total ?? 0])).toEqual([
      ['2026-12-05T00:00:00.000Z', 2, 0],
      ['2026-12-06T00:00:00.000Z', 2, 0],
    ]);
  });

  it('an alias is answered as its canonical zone; weeks start on the local Monday', async () => {
    const res = await get({ from: '2026-12-01T00:00:00.000Z', to: '2026-12-10T00:00:00.000Z', bucket: 'week', timeZone: 'Asia/Chongqing' }).expect(200);
    expect(res.body.timeZone).toBe('Asia/Shanghai');
    // Monday 2026-11-30 and Monday 2026-12-07, local midnight.
    expect(res.body.buckets.map((b: { start: string }) => b.start)).toEqual(['2026-11-29T16:00:00.000Z', '2026-12-06T16:00:00.000Z']);
    expect(res.body.channels.email.total).toBe(4);
  });

  it('refuses unknown zones, reversed and over-long ranges naming the field, and roles without analytics', async () => {
    const zone = await get({ timeZone: 'Mars/Olympus' }).expect(400);
    expect(zone.body.errors.map((e: { path: string }) => e.path)).toEqual(['query.timeZone']);
    const reversed = await get({ from: '2026-12-08T00:00:00.000Z', to: '2026-12-01T00:00:00.000Z' }).expect(400);
    expect(reversed.body.errors[0].path).toBe('query.from');
    const long = await get({ from: '2026-01-01T00:00:00.000Z', to: '2026-03-01T00:00:00.000Z', bucket: 'hour' }).expect(400);
    expect(long.body.errors[0].path).toBe('query.to');
    await get({ bucket: 'minute' }).expect(400);
    await get({}, integration).expect(403);
    await request(app).get('/v1/analytics/messages').expect(401);
  });
});
