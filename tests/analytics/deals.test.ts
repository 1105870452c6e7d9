import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { eq } from 'drizzle-orm';
import { buildApp } from '../../src/api/app';
import { createApiKey, type Role } from '../../src/api/auth';
import { contactFunnel, contacts, dealEvents, deals } from '../../src/db/schema';
import { foldDeal, type DealEventRow } from '../../src/analytics/deals';
import { drainAnalytics } from '../../src/analytics/drain';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { createTestDatabase } from '../helpers/db';
import { connectTestTemporal, type TestTemporal } from '../helpers/temporal';

describe('deals from CRM events (POST /v1/events)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let temporal: TestTemporal;
  let app: ReturnType<typeof buildApp>;
  const keys = {} as Record<Role, string>;
  let n = 0;
  const post = (body: unknown) => request(app).post('/v1/events').set('Authorization', `Bearer ${keys.integration}`).send(body as object);
  const get = (path: string, role: Role = 'marketer') => request(app).get(path).set('Authorization', `Bearer ${keys[role]}`);
  /** The analytics drain's catch-up (the worker runs it every second; reports run it first). */
  const drained = () => drainAnalytics(db.db, { currency: 'USD' });
  const ev = (type: string, contact: string, properties: Record<string, unknown>, occurredAt: string) => ({ id: `e${++n}`, type, occurredAt, contact: { externalId: contact }, properties });

  beforeAll(async () => {
    [db, temporal] = await Promise.all([createTestDatabase(), connectTestTemporal()]);
    app = buildApp({ database: db, temporal: temporal.client, taskQueue: temporal.taskQueue, triggers: dbTriggerSource(db.db), signingSecrets: ['s'.repeat(32)], analytics: { currency: 'USD', rates: { CNY: 0.14 } } });
    for (const role of ['marketer', 'integration', 'ops', 'admin'] as const) keys[role] = (await createApiKey(db.db, { name: `k-${role}`, role })).key;
  });
  afterAll(async () => {
    await temporal?.close();
    await db?.drop();
  });

  it('creates a deal linked to its contact, keeps its stage history and closes it on deal.won', async () => {
    const res = await post({
      events: [
        ev('deal.created', 'crm-1', { deal_id: 'D1', amount: 1000, currency: 'USD', stage: 'discovery', owner: 'rep.a', expected_close: '2026-03-31', company: 'Acme' }, '2026-01-01T00:00:00Z'),
        ev('deal.stage_changed', 'crm-1', { deal_id: 'D1', from: 'discovery', to: 'proposal' }, '2026-01-05T00:00:00Z'),
        ev('deal.updated', 'crm-1', { deal_id: 'D1', amount: '1250.50' }, '2026-01-06T00:00:00Z'),
        ev('deal.won', 'crm-1', { deal_id: 'D1' }, '2026-01-10T00:00:00Z'),
        ev('order.paid', 'crm-1', { deal_id: 'D1', amount: 1250.5, currency: 'USD', order_id: 'SO-1' }, '2026-01-12T00:00:00Z'),
      ],
    }).expect(202);
    expect(res.body.rejected).toEqual([]);
    await drained();
    const [c] = await db.db.select().from(contacts).where(eq(contacts.externalId, 'crm-1'));
    const [d] = await db.db.select().from(deals).where(eq(deals.id, 'D1'));
    expect(d).toMatchObject({ contactId: c!.id, amount: '1250.50', currency: 'USD', stage: 'proposal', status: 'won', ownerId: 'rep.a', company: 'Acme', regressions: 0, paid: { USD: '1250.50' } });
    expect(d!.openedAt.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(d!.closedAt!.toISOString()).toBe('2026-01-10T00:00:00.000Z');
    expect(d!.expectedCloseAt!.toISOString()).toBe('2026-03-31T00:00:00.000Z');
    const api = await get('/v1/deals/D1').expect(200);
    expect(api.body.history.map((h: { stage: string }) => h.stage)).toEqual(['discovery', 'proposal']);
    // The contact reached opportunity at the deal's creation and customer when it was won.
    const [f] = await db.db.select().from(contactFunnel).where(eq(contactFunnel.contactId, c!.id));
    expect(f!.opportunityAt!.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(f!.customerAt!.toISOString()).toBe('2026-01-10T00:00:00.000Z');
    expect(f!.currentStage).toBe('customer');
  });

  it('gives the same deal whatever order the events arrive in, and a re-delivery changes nothing', async () => {
    const evs = [
      ev('deal.created', 'crm-2', { deal_id: 'D2', amount: 500, currency: 'CNY', stage: 'a' }, '2026-02-01T00:00:00Z'),
      ev('deal.stage_changed', 'crm-2', { deal_id: 'D2', to: 'b' }, '2026-02-02T00:00:00Z'),
      ev('deal.stage_changed', 'crm-2', { deal_id: 'D2', to: 'c' }, '2026-02-03T00:00:00Z'),
      ev('deal.lost', 'crm-2', { deal_id: 'D2', reason: 'budget' }, '2026-02-04T00:00:00Z'),
    ];
    // Newest first.
    await post({ events: [...evs].reverse() }).expect(202);
    await drained();
    const [d] = await db.db.select().from(deals).where(eq(deals.id, 'D2'));
    expect(d).toMatchObject({ stage: 'c', status: 'lost', amount: '500.00', currency: 'CNY', regressions: 0 });
    expect(d!.openedAt.toISOString()).toBe('2026-02-01T00:00:00.000Z');
    const again = await post({ events: evs }).expect(202);
    expect(again.body.accepted.every((a: { duplicate: boolean }) => a.duplicate)).toBe(true);
    await drained();
    expect(await db.db.select().from(dealEvents).where(eq(dealEvents.dealId, 'D2'))).toHaveLength(4);
    const [same] = await db.db.select().from(deals).where(eq(deals.id, 'D2'));
    expect({ ...same, updatedAt: null }).toEqual({ ...d, updatedAt: null });
  });

  it('records a stage regression, keeps stage moves after the close in history without reopening, and lets a later close decide', async () => {
    await post({
      events: [
        ev('deal.created', 'crm-3', { deal_id: 'D3', amount: 100, currency: 'USD', stage: 'discovery' }, '2026-03-01T00:00:00Z'),
        ev('deal.stage_changed', 'crm-3', { deal_id: 'D3', to: 'proposal' }, '2026-03-02T00:00:00Z'),
        ev('deal.stage_changed', 'crm-3', { deal_id: 'D3', to: 'discovery' }, '2026-03-03T00:00:00Z'),
        ev('deal.won', 'crm-3', { deal_id: 'D3' }, '2026-03-04T00:00:00Z'),
        ev('deal.stage_changed', 'crm-3', { deal_id: 'D3', to: 'negotiation' }, '2026-03-05T00:00:00Z'),
      ],
    }).expect(202);
    const api = await get('/v1/deals/D3', 'ops').expect(200);
    expect(api.body).toMatchObject({ status: 'won', stage: 'negotiation', regressions: 1 });
    expect(api.body.history).toEqual([
      expect.objectContaining({ stage: 'discovery', regression: false, afterClose: false }),
      expect.objectContaining({ stage: 'proposal', regression: false, afterClose: false }),
      expect.objectContaining({ stage: 'discovery', regression: true, afterClose: false }),
      expect.objectContaining({ stage: 'negotiation', regression: false, afterClose: true }),
    ]);
    // The CRM corrects it: lost after won (later) takes the revenue away.
    await post(ev('deal.lost', 'crm-3', { deal_id: 'D3' }, '2026-03-06T00:00:00Z')).expect(202);
    expect((await get('/v1/deals/D3').expect(200)).body.status).toBe('lost');
  });

  it('refuses negative, malformed or mis-typed amounts and currencies, naming the field', async () => {
    const bad = await post(ev('deal.created', 'crm-4', { deal_id: 'D4', amount: -5, currency: 'USD' }, '2026-03-01T00:00:00Z')).expect(400);
    expect(bad.body.errors).toEqual([expect.objectContaining({ path: 'properties.amount', message: 'must be zero or more' })]);
    const batch = await post({
      events: [
        ev('deal.created', 'crm-4', { deal_id: 'D4', amount: '12,5' }, '2026-03-01T00:00:00Z'),
        ev('deal.created', 'crm-4', { deal_id: 'D4', amount: 1, currency: 'usd' }, '2026-03-01T00:00:00Z'),
        ev('deal.created', 'crm-4', { amount: 1 }, '2026-03-01T00:00:00Z'),
        ev('deal.stage_changed', 'crm-4', { deal_id: 'D4' }, '2026-03-01T00:00:00Z'),
        ev('order.paid', 'crm-4', { deal_id: 'D4' }, '2026-03-01T00:00:00Z'),
        ev('deal.created', 'crm-4', { deal_id: 'D4', amount: 0.001 }, '2026-03-01T00:00:00Z'),
      ],
    }).expect(202);
    expect(batch.body.accepted).toEqual([]);
    expect(batch.body.rejected.map((r: { errors: { path: string }[] }) => r.errors.map((e) => e.path))).toEqual([
      ['events.0.properties.amount'],
      ['events.1.properties.currency'],
      ['events.2.properties.deal_id'],
      ['events.3.properties.to'],
      ['events.4.properties.amount'],
      ['events.5.properties.amount'],
    ]);
    await drained();
    expect(await db.db.select().from(deals).where(eq(deals.id, 'D4'))).toEqual([]);
  });

  it('creates the contact of a deal for an unknown CRM id, and prices an amount without currency in the reporting currency', async () => {
    await post(ev('deal.created', 'crm-unknown', { deal_id: 'D5', amount: 42 }, '2026-04-01T00:00:00Z')).expect(202);
    await drained();
    const [c] = await db.db.select().from(contacts).where(eq(contacts.externalId, 'crm-unknown'));
    expect(c).toBeDefined();
    const [d] = await db.db.select().from(deals).where(eq(deals.id, 'D5'));
    expect(d).toMatchObject({ contactId: c!.id, amount: '42.00', currency: 'USD', status: 'open' });
  });

  it('exports a contact\'s deals and funnel row, and erasure keeps the deal anonymous (no company)', async () => {
    const [c] = await db.db.select().from(contacts).where(eq(contacts.externalId, 'crm-1'));
    const exp = await get(`/v1/contacts/${c!.id}/export`, 'admin').expect(200);
    expect(exp.body.tables.deals.map((d: { id: string }) => d.id)).toEqual(['D1']);
    expect(exp.body.tables.deal_events).toHaveLength(5);
    expect(exp.body.tables.contact_funnel).toHaveLength(1);
    await request(app).delete(`/v1/contacts/${c!.id}`).set('Authorization', `Bearer ${keys.admin}`).expect(200);
    const [d] = await db.db.select().from(deals).where(eq(deals.id, 'D1'));
    expect(d).toMatchObject({ company: null, amount: '1250.50', status: 'won' });
    expect((await get('/v1/deals/D1').expect(200)).body.company).toBeNull();
  });

  it('GET /v1/deals/:id is 404 for a deal no event named, and is not for a role without reports', async () => {
    await get('/v1/deals/nope').expect(404);
    await request(app).get('/v1/deals/D1').expect(401);
  });
});

describe('foldDeal', () => {
  const row = (eventId: string, type: string, fields: Record<string, unknown>, at: string): DealEventRow => ({ eventId, dealId: 'X', contactId: 'c', type, fields: { dealId: 'X', ...fields }, occurredAt: new Date(at) });
  it('is independent of the order of its rows', () => {
    const rows = [
      row('1', 'deal.created', { amount: 10, currency: 'EUR', stage: 'a' }, '2026-01-01T00:00:00Z'),
      row('2', 'deal.stage_changed', { stage: 'b' }, '2026-01-02T00:00:00Z'),
      row('3', 'deal.stage_changed', { stage: 'a' }, '2026-01-03T00:00:00Z'),
      row('4', 'payment.received', { amount: 4 }, '2026-01-04T00:00:00Z'),
      row('5', 'deal.won', { amount: 12 }, '2026-01-05T00:00:00Z'),
    ];
    const a = foldDeal(rows, 'USD');
    expect(a).toMatchObject({ amount: 12, currency: 'EUR', stage: 'a', status: 'won', regressions: 1, paid: { EUR: 4 } });
    expect(foldDeal([...rows].reverse(), 'USD')).toEqual(a);
    expect(foldDeal([rows[2]!, rows[0]!, rows[4]!, rows[1]!, rows[3]!], 'USD')).toEqual(a);
  });
});
