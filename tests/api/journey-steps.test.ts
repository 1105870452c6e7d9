import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { eq } from 'drizzle-orm';
import { events, messages } from '../../src/db/schema';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

// A welcome email, then a wait for the demo; the goal is the demo booked.
const journey = `
id: steps-j
name: Steps
triggers: [{ type: event, event: trial.started }]
goals: [{ id: booked, name: Demo booked, event: demo.booked }]
start: hello
steps:
  hello: { type: send_email, template: welcome, next: wait-demo }
  wait-demo: { type: wait_for_event, event: never.happens, timeout: 1h, on_event: done, on_timeout: done }
  done: { type: exit }
`;

describe('GET /v1/journeys/:id/steps/:stepId: one step for the console', () => {
  let stack: TestStack;
  const as = (role: keyof TestStack['keys'] = 'marketer') => ({ Authorization: `Bearer ${stack.keys[role]}` });
  const get = (path: string) => request(stack.app).get(path).set(as());
  const event = (id: string, type: string, contact: string, email?: string) =>
    request(stack.app).post('/v1/events').set(as('integration')).send({ id, type, contact: { externalId: contact, ...(email ? { email } : {}) } }).expect(202);

  beforeAll(async () => {
    stack = await startTestStack();
    await request(stack.app).post('/v1/journeys').set(as()).set('content-type', 'application/yaml').send(journey).expect(201);
    await request(stack.app).post('/v1/journeys/steps-j/publish').set(as()).expect(201);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('counts entries, messages by status with opens and clicks, and conversions after the step', async () => {
    await event('s-1', 'trial.started', 'ann', 'ann@example.com');
    await event('s-2', 'trial.started', 'bob', 'bob@example.com');
    await until('both runs waiting for the demo', async () => {
      const live = (await get('/v1/journeys/steps-j/live').expect(200)).body;
      return live.steps.find((s: { stepId: string }) => s.stepId === 'wait-demo')?.waiting === 2 ? true : undefined;
    });
    const sent = await stack.db.db.select().from(messages).where(eq(messages.journeyId, 'steps-j'));
    expect(sent.map((m) => m.stepId)).toEqual(['hello', 'hello']);
    const [ann, bob] = [sent.find((m) => m.recipient === 'ann@example.com')!, sent.find((m) => m.recipient === 'bob@example.com')!];
    // Ann opens twice and clicks (one opened message, one clicked); Bob's bounces.
    await stack.db.db.insert(events).values([
      { id: 'so-1', type: 'email.opened', contactId: ann.contactId, occurredAt: new Date(), source: 'tracking', properties: { message_key: ann.idempotencyKey } },
      { id: 'so-2', type: 'email.opened', contactId: ann.contactId, occurredAt: new Date(), source: 'tracking', properties: { message_key: ann.idempotencyKey } },
      { id: 'sc-1', type: 'email.clicked', contactId: ann.contactId, occurredAt: new Date(), source: 'tracking', properties: { message_key: ann.idempotencyKey, url: 'https://example.com' } },
    ]);
    await stack.db.db.update(messages).set({ status: 'bounced' }).where(eq(messages.id, bob.id));
    // Ann books the demo: the goal converts her.
    await event('s-3', 'demo.booked', 'ann');
    const hello = await until('the conversion counted at the step', async () => {
      const b = (await get('/v1/journeys/steps-j/steps/hello').expect(200)).body;
      return b.conversions.length ? b : undefined;
    });
    expect(hello).toEqual({
      journeyId: 'steps-j',
      version: 1,
      stepId: 'hello',
      type: 'send_email',
      entered: 2,
      contacts: 2,
      messages: { total: 2, byChannel: { email: { sent: 1, delivered: 0, bounced: 1, failed: 0, suppressed: 0 } }, opened: 1, clicked: 1 },
      conversions: [{ goal: 'booked', conversions: 1, contacts: 1 }],
    });
    const wait = (await get('/v1/journeys/steps-j/steps/wait-demo?version=1').expect(200)).body;
    expect(wait).toMatchObject({ type: 'wait_for_event', entered: 2, messages: { total: 0, byChannel: {}, opened: 0, clicked: 0 } });
    // Ann's goal ended her run at the goal; a step neither run reached answers zeros, not 404.
    expect((await get('/v1/journeys/steps-j/steps/done').expect(200)).body).toMatchObject({ entered: 0, contacts: 0, messages: { total: 0 }, conversions: [] });
  });

  it('refuses unknown steps, versions and journeys, bad input and other roles', async () => {
    expect((await get('/v1/journeys/steps-j/steps/nope').expect(404)).body.detail).toMatch(/Step "steps-j@1\/nope"/);
    await get('/v1/journeys/steps-j/steps/hello?version=9').expect(404);
    await get('/v1/journeys/nope/steps/hello').expect(404);
    expect((await get('/v1/journeys/steps-j/steps/hello?version=0').expect(400)).body.errors).toEqual([expect.objectContaining({ path: 'query.version' })]);
    expect((await get('/v1/journeys/steps-j/steps/hello?other=1').expect(400)).body.errors[0].path).toMatch(/query/);
    await request(stack.app).get('/v1/journeys/steps-j/steps/hello').set(as('ops')).expect(403);
    await request(stack.app).get('/v1/journeys/steps-j/steps/hello').expect(401);
    await request(stack.app).get('/v1/journeys/steps-j/steps/hello').set(as('admin')).expect(200);
  });
});
