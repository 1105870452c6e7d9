import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { loadScoringModel } from '../../src/scoring/model';
import { SCORING_MODEL_FILE } from '../../src/paths';
import { eq } from 'drizzle-orm';
import { contactAudit, events, messages, salesHandoffs } from '../../src/db/schema';
import { startTestStack, type TestStack } from '../helpers/stack';

describe('contacts API', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ scoring: await loadScoringModel(SCORING_MODEL_FILE) });
  });
  afterAll(async () => {
    await stack?.stop();
  });
  const put = (id: string, body: object) =>
    request(stack.app).put(`/v1/contacts/${id}`).set('Authorization', `Bearer ${stack.keys.integration}`).send(body);

  it('creates with normalized email, E.164 phone and folded region, then updates in place', async () => {
    const created = await put('crm-1', {
      email: '  Zhang.Wei@Example.COM ',
      phone: '138 0013 8000',
      region: '北京市',
      jobTitle: 'CFO',
      consent: { email: 'opted_in' },
    }).expect(201);
    expect(created.body).toMatchObject({ externalId: 'crm-1', email: 'zhang.wei@example.com', phone: '+8613800138000', region: 'CN-BJ' });
    const again = await put('crm-1', { region: 'Beijing', consent: { sms: 'opted_in' } }).expect(200);
    expect(again.body.id).toBe(created.body.id);
    expect(again.body.region).toBe('CN-BJ');
    expect(again.body.consent).toEqual({ email: 'opted_in', sms: 'opted_in' });
    expect(again.body.email).toBe('zhang.wei@example.com');
  });

  it('stores tags as a set: a repeated tag once, in first-seen order', async () => {
    const created = await put('crm-tags', { tags: ['vip', '待激活', 'vip', '待激活', 'webinar'] }).expect(201);
    expect(created.body.tags).toEqual(['vip', '待激活', 'webinar']);
  });

  it('names each invalid field', async () => {
    const bad = await put('crm-2', { email: 'not-an-email', phone: '12', timezone: 'Mars/Base' }).expect(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['email', 'phone', 'timezone']);
    // Anything not our id is a CRM id: unknown is 404; longer than a CRM id can be is 400.
    await request(stack.app).get('/v1/contacts/not-a-uuid').set('Authorization', `Bearer ${stack.keys.ops}`).expect(404);
    await request(stack.app).get(`/v1/contacts/${'x'.repeat(201)}`).set('Authorization', `Bearer ${stack.keys.ops}`).expect(400);
  });

  it('shows a 360° view with the score explained', async () => {
    const { body: c } = await put('crm-3', { email: 'vp@example.com', jobTitle: 'VP Finance' }).expect(201);
    await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id: 'v1', type: 'demo.requested', contact: { externalId: 'crm-3' } })
      .expect(202);
    const view = await request(stack.app).get(`/v1/contacts/${c.id}`).set('Authorization', `Bearer ${stack.keys.marketer}`).expect(200);
    // Contact changes are events too (contact.updated); the CRM's events are the rest of the timeline.
    expect(view.body.timeline.map((e: { type: string }) => e.type).filter((t: string) => !t.startsWith('contact.'))).toEqual(['demo.requested']);
    expect(view.body.timeline.map((e: { type: string }) => e.type)).toContain('contact.updated');
    const explanation = view.body.scoreExplanation;
    expect(explanation.score).toBe(view.body.score);
    const sum = explanation.breakdown.reduce((s: number, b: { points: number }) => s + b.points, 0);
    expect(sum).toBe(view.body.score);
    expect(explanation.breakdown).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'demo-request', points: 30 })]));
    await request(stack.app).get('/v1/contacts/00000000-0000-4000-8000-000000000000').set('Authorization', `Bearer ${stack.keys.ops}`).expect(404);
  });

  it('shows lifecycle history, messages with opens and clicks, hand-offs and the step of each journey run', async () => {
    const { body: c } = await put('crm-360', { email: 'cfo@example.com', firstName: 'Lin', lifecycleStage: 'lead' }).expect(201);
    await put('crm-360', { lifecycleStage: 'mql' }).expect(200);
    await put('crm-360', { lifecycleStage: 'sql' }).expect(200);
    await put('crm-360', { jobTitle: 'CFO' }).expect(200);
    const db = stack.db.db;
    const [sent, other] = await db
      .insert(messages)
      .values([
        { idempotencyKey: 'journey:j:crm-360:welcome', channel: 'email', contactId: c.id, journeyId: 'j', stepId: 'welcome', recipient: 'cfo@example.com', subject: 'Hi', status: 'sent', sentAt: new Date() },
        { idempotencyKey: 'journey:j:crm-360:nudge', channel: 'email', contactId: c.id, journeyId: 'j', stepId: 'nudge', recipient: 'cfo@example.com', subject: 'Again', status: 'sent', sentAt: new Date() },
      ])
      .returning();
    const at = (s: number) => new Date(Date.UTC(2026, 5, 1, 8, 0, s));
    await db.insert(events).values([
      { id: 'o-1', type: 'email.opened', contactId: c.id, occurredAt: at(1), source: 'tracking', properties: { message_key: sent!.idempotencyKey } },
      { id: 'o-2', type: 'email.opened', contactId: c.id, occurredAt: at(2), source: 'tracking', properties: { message_key: sent!.idempotencyKey } },
      { id: 'c-1', type: 'email.clicked', contactId: c.id, occurredAt: at(3), source: 'tracking', properties: { message_key: sent!.idempotencyKey, url: 'https://example.com' } },
      // Another contact's open of a message with the same key is not this contact's.
      { id: 'o-x', type: 'email.opened', contactId: null, occurredAt: at(4), source: 'tracking', properties: { message_key: other!.idempotencyKey } },
    ]);
    await db.insert(salesHandoffs).values({ idempotencyKey: 'h-360', contactId: c.id, journeyId: 'j', team: 'enterprise', repId: 'rep-7', status: 'pending', reason: 'score 80', taskTitle: 'Call Lin' });
    const view = (await request(stack.app).get('/v1/contacts/crm-360').set('Authorization', `Bearer ${stack.keys.marketer}`).expect(200)).body;
    expect(view.lifecycleHistory.map((h: { from: string; to: string; source: string }) => [h.from, h.to, h.source])).toEqual([
      ['mql', 'sql', 'api'],
      ['lead', 'mql', 'api'],
      [null, 'lead', 'api'],
    ]);
    const byStep = Object.fromEntries(view.messages.map((m: { stepId: string }) => [m.stepId, m]));
    expect(byStep.welcome).toMatchObject({ id: sent!.id, opens: 2, clicks: 1, firstOpenedAt: at(1).toISOString(), firstClickedAt: at(3).toISOString(), subject: 'Hi' });
    expect(byStep.nudge).toMatchObject({ opens: 0, clicks: 0, firstOpenedAt: null, firstClickedAt: null });
    expect(byStep.welcome).not.toHaveProperty('key');
    expect(view.handoffs).toEqual([expect.objectContaining({ team: 'enterprise', repId: 'rep-7', status: 'pending', taskTitle: 'Call Lin', journeyId: 'j' })]);
  });

  it('merges duplicates found by email or phone into the contact written, with an audit of what merged', async () => {
    const event = (id: string, ext: string, type = 'pricing.viewed') =>
      request(stack.app).post('/v1/events').set('Authorization', `Bearer ${stack.keys.integration}`).send({ id, type, contact: { externalId: ext } }).expect(202);
    // Two records of one person: a web-form lead (email) and an event-only record (phone), both with history.
    const { body: web } = await put('form-77', { email: 'Liu.Yang@Example.cn', firstName: 'Yang', tags: ['webinar'], consent: { email: 'opted_out' } }).expect(201);
    const { body: phoneOnly } = await put('wx-77', { phone: '139 0000 7777', company: 'ACME', tags: ['wechat'], lifecycleStage: 'mql' }).expect(201);
    await event('m-1', 'form-77', 'demo.requested');
    await event('m-2', 'wx-77');
    const before = (await request(stack.app).get(`/v1/contacts/${web.id}`).set('Authorization', `Bearer ${stack.keys.ops}`).expect(200)).body.score;

    // The CRM's record arrives with both: both duplicates fold into it.
    const res = await put('crm-77', { email: 'liu.yang@example.cn', phone: '+86 139 0000 7777', jobTitle: 'CFO', consent: { email: 'opted_in' } }).expect(201);
    const c = res.body;
    expect(c.merged.map((m: { externalId: string }) => m.externalId).sort()).toEqual(['form-77', 'wx-77']);
    expect(c.merged.find((m: { externalId: string }) => m.externalId === 'form-77').matchedOn).toEqual(['email']);
    expect(c.merged.find((m: { externalId: string }) => m.externalId === 'wx-77').matchedOn).toEqual(['phone']);
    expect(c).toMatchObject({ firstName: 'Yang', company: 'ACME', jobTitle: 'CFO', lifecycleStage: 'mql' });
    expect([...c.tags].sort()).toEqual(['webinar', 'wechat']);
    // An opt-out on any record survives the merge: nobody is mailed who said stop.
    expect(c.consent.email).toBe('opted_out');

    // Reads through the old ids and CRM ids land on the survivor, with the whole history.
    const view = (await request(stack.app).get(`/v1/contacts/${web.id}`).set('Authorization', `Bearer ${stack.keys.ops}`).expect(200)).body;
    expect(view.id).toBe(c.id);
    expect([...view.mergedFrom].sort()).toEqual([web.id, phoneOnly.id].sort());
    const crmEvents = (timeline: { type: string }[]) => timeline.map((e) => e.type).filter((t) => !t.startsWith('contact.')).sort();
    expect(crmEvents(view.timeline)).toEqual(['demo.requested', 'pricing.viewed']);
    expect(view.score).toBeGreaterThanOrEqual(before);
    expect(view.scoreExplanation.breakdown.reduce((s: number, b: { points: number }) => s + b.points, 0)).toBe(view.score);
    await event('m-3', 'wx-77');
    const after = (await request(stack.app).get(`/v1/contacts/${c.id}`).set('Authorization', `Bearer ${stack.keys.ops}`).expect(200)).body;
    expect(crmEvents(after.timeline)).toHaveLength(3);
    // Writing to a merged CRM id updates the survivor, and merges nothing more.
    const upd = await put('form-77', { region: 'Shanghai' }).expect(200);
    expect(upd.body).toMatchObject({ id: c.id, region: 'CN-SH', merged: [] });

    const audit = await stack.db.db.select().from(contactAudit).where(eq(contactAudit.action, 'merge'));
    expect(audit.map((a) => a.detail.mergedContactId).sort()).toEqual([web.id, phoneOnly.id].sort());
    expect(audit.every((a) => a.contactId === c.id && a.actor.startsWith('api:'))).toBe(true);
  });
});
