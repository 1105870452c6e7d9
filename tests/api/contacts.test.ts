import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { loadScoringModel } from '../../src/scoring/model';
import { SCORING_MODEL_FILE } from '../../src/services';
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

  it('names each invalid field', async () => {
    const bad = await put('crm-2', { email: 'not-an-email', phone: '12', timezone: 'Mars/Base' }).expect(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['email', 'phone', 'timezone']);
    await request(stack.app).get('/v1/contacts/not-a-uuid').set('Authorization', `Bearer ${stack.keys.ops}`).expect(400);
  });

  it('shows a 360° view with the score explained', async () => {
    const { body: c } = await put('crm-3', { email: 'vp@example.com', jobTitle: 'VP Finance' }).expect(201);
    await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id: 'v1', type: 'demo.requested', contact: { externalId: 'crm-3' } })
      .expect(202);
    const view = await request(stack.app).get(`/v1/contacts/${c.id}`).set('Authorization', `Bearer ${stack.keys.marketer}`).expect(200);
    expect(view.body.timeline.map((e: { type: string }) => e.type)).toEqual(['demo.requested']);
    const explanation = view.body.scoreExplanation;
    expect(explanation.score).toBe(view.body.score);
    const sum = explanation.breakdown.reduce((s: number, b: { points: number }) => s + b.points, 0);
    expect(sum).toBe(view.body.score);
    expect(explanation.breakdown).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'demo-request', points: 30 })]));
    await request(stack.app).get('/v1/contacts/00000000-0000-4000-8000-000000000000').set('Authorization', `Bearer ${stack.keys.ops}`).expect(404);
  });
});
