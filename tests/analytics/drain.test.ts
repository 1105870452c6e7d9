/**
 * The analytics drain (src/analytics/drain.ts): ingest leaves the rollups to it; it takes in each stored event exactly
 * once whenever its transaction commits, in batches of whole transactions; a drain that fails applies nothing and the
 * next one takes its events in; and the index it scans covers every event the writer reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { relevant, type AnalyticsEvent } from '../../src/analytics/apply';
import { drainAnalytics } from '../../src/analytics/drain';
import { rowsOf } from '../../src/analytics/rows';
import { ANALYTICS_EVENTS, contacts, events } from '../../src/db/schema';
import { ingestEvent } from '../../src/ingest/event';
import { createTestDatabase } from '../helpers/db';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const HOUR = 3_600_000;
const USD = { currency: 'USD' };

describe('the analytics drain', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });
  const contact = async (externalId: string) => (await db.db.insert(contacts).values({ id: randomUUID(), externalId }).returning())[0]!.id;
  const touch = (id: string, contactId: string, h = 0) => ({ id, type: 'page.viewed', contactId, occurredAt: new Date(T0 + h * HOUR), properties: { utm_campaign: 'spring' } });
  const count = async (q: ReturnType<typeof sql>) => Number(rowsOf(await db.db.execute(q))[0]!.n);

  it('ingest stores and routes the event and writes no rollup; the drain takes it in once', async () => {
    const c = await contact('d-ingest');
    const deps = { db: db.db, router: { temporal: undefined as unknown as Client, taskQueue: 'unused', triggers: { triggersFor: async () => [] } } };
    await ingestEvent(deps, { ...touch('d-ingest-1', c), source: 'api' });
    await ingestEvent(deps, { id: 'd-ingest-2', type: 'lead.mql', contactId: c, occurredAt: new Date(T0 + HOUR), properties: {}, source: 'api' });
    expect(await count(sql`select count(*)::int as n from analytics_touches where contact_id = ${c}`)).toBe(0);
    expect(await count(sql`select count(*)::int as n from contact_funnel where contact_id = ${c}`)).toBe(0);
    expect(await drainAnalytics(db.db, USD)).toBe(2);
    const [f] = rowsOf(await db.db.execute(sql`select current_stage, mql_at, utm_campaign from contact_funnel where contact_id = ${c}`));
    expect(f).toMatchObject({ current_stage: 'mql', utm_campaign: 'spring' });
    expect(await count(sql`select count(*)::int as n from analytics_touches where contact_id = ${c}`)).toBe(1);
    expect(await drainAnalytics(db.db, USD)).toBe(0);
  });

  it('takes in an event committed after a drain that saw a later one, exactly once', async () => {
    const c = await contact('d-late');
    await drainAnalytics(db.db, USD);
    // `early` is stored first and stays uncommitted while `late` is stored and a drain runs.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let stored!: () => void;
    const didStore = new Promise<void>((r) => (stored = r));
    const writer = db.db.transaction(async (tx) => {
      await tx.insert(events).values(touch('d-late-early', c, 1));
      stored();
      await held;
    });
    await didStore;
    await db.db.insert(events).values(touch('d-late-late', c, 2));
    expect(await drainAnalytics(db.db, USD)).toBe(1);
    release();
    await writer;
    expect(await drainAnalytics(db.db, USD)).toBe(1);
    expect(await drainAnalytics(db.db, USD)).toBe(0);
    const rows = rowsOf(await db.db.execute(sql`select event_id from analytics_touches where contact_id = ${c} order by event_id`));
    expect(rows.map((r) => r.event_id)).toEqual(['d-late-early', 'd-late-late']);
    // The first touch is the earlier one, though it was taken in later.
    const [f] = rowsOf(await db.db.execute(sql`select first_touch_at from contact_funnel where contact_id = ${c}`));
    expect(new Date(String((f as { first_touch_at: unknown }).first_touch_at)).getTime()).toBe(T0 + HOUR);
  });

  it('goes through a look in batches of whole transactions, each event once', async () => {
    const c = await contact('d-batches');
    await drainAnalytics(db.db, USD);
    // Three transactions of 3, 1 and 4 events; batches of at least 2 events end with a whole transaction.
    await db.db.insert(events).values([touch('d-b-1', c), touch('d-b-2', c), touch('d-b-3', c)]);
    await db.db.insert(events).values(touch('d-b-4', c));
    await db.db.insert(events).values([touch('d-b-5', c), touch('d-b-6', c), touch('d-b-7', c), touch('d-b-8', c)]);
    expect(await drainAnalytics(db.db, { ...USD, batch: 2 })).toBe(8);
    expect(await count(sql`select count(*)::int as n from analytics_touches where contact_id = ${c}`)).toBe(8);
    expect(await drainAnalytics(db.db, { ...USD, batch: 2 })).toBe(0);
  });

  it('applies nothing when it fails, and the next drain takes the same events in', async () => {
    const c = await contact('d-fail');
    await drainAnalytics(db.db, USD);
    await db.db.insert(events).values([touch('d-fail-1', c), { id: 'd-fail-2', type: 'lead.mql', contactId: c, occurredAt: new Date(T0), properties: {} }]);
    await db.db.execute(sql`alter table contact_funnel rename to contact_funnel_away`);
    try {
      await expect(drainAnalytics(db.db, USD)).rejects.toThrow(/contact_funnel/);
    } finally {
      await db.db.execute(sql`alter table contact_funnel_away rename to contact_funnel`);
    }
    expect(await count(sql`select count(*)::int as n from analytics_touches where contact_id = ${c}`)).toBe(0);
    expect(await drainAnalytics(db.db, USD)).toBe(2);
    expect(await count(sql`select count(*)::int as n from analytics_touches where contact_id = ${c}`)).toBe(1);
    expect(await count(sql`select count(*)::int as n from contact_funnel where contact_id = ${c} and mql_at is not null`)).toBe(1);
  });

  it('scans an index holding every event the writer reads', async () => {
    const c = randomUUID();
    const e = (type: string, properties: Record<string, unknown>): AnalyticsEvent => ({ id: randomUUID(), type, contactId: c, occurredAt: new Date(T0), properties });
    const samples = [
      ...['deal.created', 'deal.updated', 'deal.stage_changed', 'deal.won', 'deal.lost', 'order.paid', 'payment.received'].map((t) => e(t, { deal_id: 'x', amount: 1, to: 's' })),
      ...['lead.mql', 'handoff.accepted', 'handoff.rejected', 'sales.touched'].map((t) => e(t, {})),
      e('contact.updated', { changes: { lifecycle_stage: { from: 'lead', to: 'mql' } } }),
      e('contact.updated', { changes: { lifecycle_stage: { from: 'lead', to: 'evangelist' } } }),
      e('contact.updated', { changes: { tags: { from: [], to: ['x'] } } }),
      e('email.clicked', { url: 'https://example.com/?utm_campaign=spring&utm_source=mail' }),
      e('email.clicked', { url: 'https://example.com/' }),
      e('email.opened', { message_key: 'm' }),
      e('page.viewed', { utm_campaign: 'spring' }),
      e('page.viewed', { utm: { campaign: 'spring' } }),
      e('webinar.registered', { utm: { source: 'x' } }),
      e('page.viewed', {}),
    ];
    const json = JSON.stringify(samples.map((s) => ({ id: s.id, type: s.type, contact_id: s.contactId, properties: s.properties })));
    const matched = new Set(
      rowsOf(await db.db.execute(sql`select id from jsonb_to_recordset(${json}::jsonb) as x(id text, type text, contact_id uuid, properties jsonb) where ${sql.raw(ANALYTICS_EVENTS)}`)).map((r) => String(r.id)),
    );
    for (const s of samples) if (relevant(s)) expect(matched.has(s.id), `${s.type} ${JSON.stringify(s.properties)}`).toBe(true);
    // And it leaves out what no rollup reads.
    expect(matched.size).toBeLessThan(samples.length);
    expect(samples.filter((s) => relevant(s)).length).toBeGreaterThan(10);
  });
});
