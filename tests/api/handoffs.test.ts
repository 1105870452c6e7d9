import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq, ne } from 'drizzle-orm';
import { handoffActivities } from '../../src/activities/handoff';
import type { ActivityDeps } from '../../src/activities/deps';
import { buildApp } from '../../src/api/app';
import { createApiKey, type Role } from '../../src/api/auth';
import { upsertContactByExternalId } from '../../src/db/queries';
import { contactAudit, contacts, events, salesHandoffFeedback } from '../../src/db/schema';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { parseSalesConfig } from '../../src/sales';
import { createTestDatabase } from '../helpers/db';
import { connectTestTemporal, type TestTemporal } from '../helpers/temporal';

const SALES = `
teams:
  east:
    name: East
    reps:
      - { id: rep.a, name: A, capacity: 100 }
      - { id: rep.b, name: B, capacity: 100 }
`;

describe('sales hand-off API', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let temporal: TestTemporal;
  let app: ReturnType<typeof buildApp>;
  let acts: ReturnType<typeof handoffActivities>;
  const keys = {} as Record<Role, string>;
  let n = 0;

  /** A contact at MQL with a pending hand-off, made the way a journey makes it. */
  const pendingHandoff = async (tags: string[] = []) => {
    const c = await upsertContactByExternalId(db.db, { externalId: `h${++n}`, email: `h${n}@example.com`, lifecycleStage: 'mql', tags });
    const r = await acts.handoffToSales({ idempotencyKey: `journey:mql-handoff:${c.id}:assign:1`, contactId: c.id, journeyId: 'mql-handoff', workflowId: `journey:mql-handoff:${c.id}`, team: 'east' });
    return { contactId: c.id, handoffId: r.handoffId! };
  };
  const feedback = (id: string, body: unknown, role: Role = 'integration') =>
    request(app).post(`/v1/handoffs/${id}/feedback`).set('Authorization', `Bearer ${keys[role]}`).send(body as object);
  const get = (path: string, role: Role = 'ops') => request(app).get(path).set('Authorization', `Bearer ${keys[role]}`);
  const contact = async (id: string) => (await db.db.select().from(contacts).where(eq(contacts.id, id)))[0]!;

  beforeAll(async () => {
    [db, temporal] = await Promise.all([createTestDatabase(), connectTestTemporal()]);
    app = buildApp({ database: db, temporal: temporal.client, taskQueue: temporal.taskQueue, triggers: dbTriggerSource(db.db), signingSecrets: ['s'.repeat(32)] });
    acts = handoffActivities({ db: db.db, sales: { directory: parseSalesConfig(SALES, 'sales.yaml') }, tracking: { baseUrl: 'http://x' } } as unknown as ActivityDeps);
    for (const role of ['marketer', 'integration', 'ops', 'admin'] as const) keys[role] = (await createApiKey(db.db, { name: `crm-${role}`, role })).key;
  });
  afterAll(async () => {
    await temporal?.close();
    await db?.drop();
  });

  it('shows a hand-off with its rep, status and CRM delivery to integration and ops', async () => {
    const { handoffId, contactId } = await pendingHandoff();
    for (const role of ['integration', 'ops', 'admin'] as const) {
      const res = await get(`/v1/handoffs/${handoffId}`, role).expect(200);
      expect(res.body).toMatchObject({
        id: handoffId,
        contactId,
        team: 'east',
        repId: expect.stringMatching(/^rep\.[ab]$/),
        status: 'pending',
        reason: null,
        journeyId: 'mql-handoff',
        crm: { status: 'skipped', attempts: 0, error: 'CRM_WEBHOOK_URL is not set', deliveredAt: null },
        feedback: null,
      });
    }
    await get(`/v1/handoffs/${handoffId}`, 'marketer').expect(403);
  });

  it('accepts: hand-off accepted, contact an SQL, handoff.accepted ingested; the same answer again changes nothing', async () => {
    const { handoffId, contactId } = await pendingHandoff();
    const res = await feedback(handoffId, { outcome: 'accepted', opportunityId: 'opp-42', by: 'crm-user-7' }).expect(200);
    expect(res.body).toMatchObject({
      duplicate: false,
      handoff: { id: handoffId, status: 'accepted', reason: null, feedback: { outcome: 'accepted', detail: { opportunityId: 'opp-42', by: 'crm-user-7' }, eventId: `handoff:${handoffId}:accepted` } },
      event: { id: `handoff:${handoffId}:accepted`, duplicate: false, runs: [] },
    });
    expect((await contact(contactId)).lifecycleStage).toBe('sql');
    const evts = await db.db.select().from(events).where(and(eq(events.contactId, contactId), ne(events.source, 'system')));
    // The contact's change is its own event (contact.updated, source crm), stored with the answer.
    const crmUpdates = async () =>
      (await db.db.select().from(events).where(and(eq(events.contactId, contactId), eq(events.type, 'contact.updated')))).filter((e) => e.properties.source === 'crm');
    expect((await crmUpdates()).map((e) => e.properties)).toEqual([expect.objectContaining({ source: 'crm', changes: expect.objectContaining({ lifecycle_stage: expect.objectContaining({ to: 'sql' }) }) })]);
    expect(evts).toEqual([
      expect.objectContaining({ id: `handoff:${handoffId}:accepted`, type: 'handoff.accepted', source: 'crm', properties: expect.objectContaining({ handoff_id: handoffId, team: 'east', opportunity_id: 'opp-42', journey_id: 'mql-handoff' }) }),
    ]);
    const [audit] = await db.db.select().from(contactAudit).where(and(eq(contactAudit.contactId, contactId), eq(contactAudit.action, 'set_lifecycle_stage')));
    expect(audit).toMatchObject({ actor: 'api:crm-integration', detail: { stage: 'sql', previous: 'mql', handoffId } });

    const again = await feedback(handoffId, { outcome: 'accepted' }).expect(200);
    expect(again.body).toMatchObject({ duplicate: true, handoff: { status: 'accepted' }, event: { duplicate: true } });
    expect(await db.db.select().from(events).where(and(eq(events.contactId, contactId), ne(events.source, 'system')))).toHaveLength(1);
    expect(await crmUpdates()).toHaveLength(1);
    expect(await db.db.select().from(salesHandoffFeedback).where(eq(salesHandoffFeedback.handoffId, handoffId))).toHaveLength(1);

    const conflict = await feedback(handoffId, { outcome: 'rejected', reason: 'changed my mind' }).expect(409);
    expect(conflict.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(conflict.body).toMatchObject({ status: 409, code: 'conflict', detail: `Handoff "${handoffId}" was already accepted; it cannot now be rejected.` });
    expect((await contact(contactId)).lifecycleStage).toBe('sql');
  });

  it('rejects: reason kept, contact recycled into nurture (lead, tagged recycled), handoff.rejected ingested', async () => {
    const { handoffId, contactId } = await pendingHandoff(['webinar']);
    const res = await feedback(handoffId, { outcome: 'rejected', reason: 'no budget this year', note: 'try Q3' }).expect(200);
    expect(res.body.handoff).toMatchObject({ status: 'rejected', reason: 'no budget this year', feedback: { outcome: 'rejected', reason: 'no budget this year', detail: { note: 'try Q3' } } });
    const c = await contact(contactId);
    expect(c.lifecycleStage).toBe('lead');
    expect(c.tags).toEqual(['webinar', 'recycled']);
    const [evt] = await db.db.select().from(events).where(and(eq(events.contactId, contactId), ne(events.source, 'system')));
    expect(evt).toMatchObject({ type: 'handoff.rejected', properties: { reason: 'no budget this year', handoff_id: handoffId } });

    const again = await feedback(handoffId, { outcome: 'rejected', reason: 'said differently' }).expect(200);
    expect(again.body).toMatchObject({ duplicate: true, handoff: { reason: 'no budget this year' } });
    expect((await contact(contactId)).tags).toEqual(['webinar', 'recycled']);
    await feedback(handoffId, { outcome: 'accepted' }).expect(409);
    // Only integration keys answer for the CRM.
    await feedback(handoffId, { outcome: 'rejected', reason: 'x' }, 'ops').expect(403);
    await feedback(handoffId, { outcome: 'rejected', reason: 'x' }, 'marketer').expect(403);
  });

  it('answers 400 problem+json naming the field for an invalid body or id, and 404 for an unknown hand-off', async () => {
    const { handoffId } = await pendingHandoff();
    const cases: [unknown, string][] = [
      [{}, 'outcome'],
      [{ outcome: 'maybe' }, 'outcome'],
      [{ outcome: 'rejected' }, 'reason'],
      [{ outcome: 'rejected', reason: '   ' }, 'reason'],
      [{ outcome: 'accepted', opportunityId: 42 }, 'opportunityId'],
    ];
    for (const [body, path] of cases) {
      const res = await feedback(handoffId, body).expect(400);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body.code).toBe('validation_failed');
      expect(res.body.errors, JSON.stringify(body)).toEqual([expect.objectContaining({ path })]);
    }
    const extra = await feedback(handoffId, { outcome: 'accepted', colour: 'blue' }).expect(400);
    expect(extra.body.errors[0].message).toContain('colour');
    const badId = await feedback('not-a-uuid', { outcome: 'accepted' }).expect(400);
    expect(badId.body.errors).toEqual([expect.objectContaining({ path: 'params.id' })]);
    // Nothing changed by the invalid attempts.
    expect((await get(`/v1/handoffs/${handoffId}`).expect(200)).body.status).toBe('pending');

    const missing = '00000000-0000-4000-8000-000000000000';
    const nf = await feedback(missing, { outcome: 'accepted' }).expect(404);
    expect(nf.body).toMatchObject({ status: 404, code: 'not_found' });
    await get(`/v1/handoffs/${missing}`).expect(404);
  });

  it('lists newest first with filters and cursor pagination that loses no row', async () => {
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await pendingHandoff());
    const all = (await get('/v1/handoffs?limit=500').expect(200)).body.items as { id: string; createdAt: string; status: string; repId: string }[];
    const times = all.map((h) => Date.parse(h.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await get(`/v1/handoffs?limit=2${cursor ? `&cursor=${cursor}` : ''}`, 'integration').expect(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...(res.body.items as { id: string }[]).map((h) => h.id));
      cursor = res.body.nextCursor as string | null;
    } while (cursor);
    expect(seen).toEqual(all.map((h) => h.id));
    for (const m of made) expect(seen).toContain(m.handoffId);

    const pending = (await get('/v1/handoffs?status=pending&limit=500').expect(200)).body.items as { status: string }[];
    expect(pending.length).toBe(all.filter((h) => h.status === 'pending').length);
    expect(pending.every((h) => h.status === 'pending')).toBe(true);
    const repA = (await get('/v1/handoffs?repId=rep.a&limit=500').expect(200)).body.items as { repId: string }[];
    expect(repA.length).toBe(all.filter((h) => h.repId === 'rep.a').length);
    expect(repA.length).toBeGreaterThan(0);
    const one = (await get(`/v1/handoffs?contactId=${made[0]!.contactId}`).expect(200)).body.items as { id: string }[];
    expect(one.map((h) => h.id)).toEqual([made[0]!.handoffId]);

    const bad = await get('/v1/handoffs?status=lost&cursor=nonsense').expect(400);
    expect(bad.body.errors).toEqual([expect.objectContaining({ path: 'query.status' })]);
    const badCursor = await get(`/v1/handoffs?cursor=${Buffer.from(JSON.stringify({ t: 1 })).toString('base64url')}`).expect(400);
    expect(badCursor.body.errors).toEqual([expect.objectContaining({ path: 'query.cursor' })]);
    await get('/v1/handoffs', 'marketer').expect(403);
  });
});
