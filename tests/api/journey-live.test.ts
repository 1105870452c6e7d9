import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { conversions, journeyRuns, journeyRunSteps } from '../../src/db/schema';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

const trial = `
id: trial-live
name: Trial live
triggers: [{ type: event, event: trial.started }]
start: wait-demo
steps:
  wait-demo: { type: wait_for_event, event: demo.booked, timeout: 1h, on_event: booked, on_timeout: timed-out }
  booked: { type: exit, reason: booked }
  timed-out: { type: exit, reason: timed-out }
`;

describe('the console’s journey APIs: plan and live counts', () => {
  let stack: TestStack;
  const as = (role: keyof TestStack['keys'] = 'marketer') => ({ Authorization: `Bearer ${stack.keys[role]}` });
  const get = (path: string) => request(stack.app).get(path).set(as());
  const event = (id: string, type: string, contact: string) =>
    request(stack.app).post('/v1/events').set(as('integration')).send({ id, type, contact: { externalId: contact } }).expect(202);

  beforeAll(async () => {
    stack = await startTestStack();
    await request(stack.app).post('/v1/journeys').set(as()).set('content-type', 'application/yaml').send(trial).expect(201);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('serves the compiled plan of the latest version, a given version or the draft', async () => {
    expect((await get('/v1/journeys/trial-live/plan').expect(404)).body.detail).toMatch(/Published version/);
    // Nothing published: no latest version to count.
    expect((await get('/v1/journeys/trial-live/live?version=latest').expect(404)).body.detail).toMatch(/trial-live@latest/);
    expect((await get('/v1/journeys/trial-live/live?version=newest').expect(400)).body.errors).toEqual([expect.objectContaining({ path: 'query.version' })]);
    const draft = await get('/v1/journeys/trial-live/plan?version=draft').expect(200);
    expect(draft.body).toMatchObject({ journeyId: 'trial-live', version: 'draft', plan: { start: 'wait-demo' } });
    await request(stack.app).post('/v1/journeys/trial-live/publish').set(as()).expect(201);
    const latest = await get('/v1/journeys/trial-live/plan').expect(200);
    expect(latest.body.version).toBe(1);
    expect(latest.body.plan.steps['wait-demo']).toMatchObject({ type: 'wait_for_event', onEvent: 'booked', onTimeout: 'timed-out' });
    await get('/v1/journeys/trial-live/plan?version=1').expect(200);
    await get('/v1/journeys/trial-live/plan?version=7').expect(404);
    await get('/v1/journeys/nope/plan').expect(404);
    expect((await get('/v1/journeys/trial-live/plan?version=x').expect(400)).body.errors).toEqual([expect.objectContaining({ path: 'query.version' })]);
    await request(stack.app).get('/v1/journeys/trial-live/plan').set(as('ops')).expect(403);
  });

  it('counts running, waiting, entries, conversion and per-step failures as runs move', async () => {
    const empty = await get('/v1/journeys/trial-live/live').expect(200);
    expect(empty.body).toMatchObject({ runs: { running: 0, waiting: 0 }, entries7d: 0, contacts: { entered: 0, converted: 0 }, conversionRate: null });
    expect(empty.body.steps.map((s: { stepId: string }) => s.stepId).sort()).toEqual(['booked', 'timed-out', 'wait-demo']);

    await event('l-1', 'trial.started', 'ann');
    await event('l-2', 'trial.started', 'bob');
    const waiting = await until('two runs waiting', async () => {
      const b = (await get('/v1/journeys/trial-live/live').expect(200)).body;
      return b.runs.waiting === 2 ? b : undefined;
    });
    expect(waiting).toMatchObject({ runs: { running: 2, waiting: 2 }, entries7d: 2, contacts: { entered: 2, converted: 0 }, conversionRate: 0 });
    expect(waiting.steps.find((s: { stepId: string }) => s.stepId === 'wait-demo')).toEqual({ stepId: 'wait-demo', type: 'wait_for_event', entered: 2, waiting: 2, exitedHere: 0, failed: 0 });

    await event('l-3', 'demo.booked', 'ann');
    const moved = await until('ann booked', async () => {
      const b = (await get('/v1/journeys/trial-live/live').expect(200)).body;
      return b.runs.running === 1 ? b : undefined;
    });
    expect(moved.steps.find((s: { stepId: string }) => s.stepId === 'booked')).toMatchObject({ entered: 1, waiting: 0, exitedHere: 1, failed: 0 });

    // A failed run, an entry older than a week and a conversion, written as the worker writes them.
    const [carl, dora] = ['00000000-0000-4000-8000-0000000000c1', '00000000-0000-4000-8000-0000000000d1'];
    await stack.db.db.insert(journeyRuns).values([
      { workflowId: 'w-carl', runId: 'rc', journeyId: 'trial-live', version: 1, contactId: carl, currentStep: 'wait-demo', status: 'failed' },
      { workflowId: 'w-dora', runId: 'rd', journeyId: 'trial-live', version: 1, contactId: dora, currentStep: 'timed-out', status: 'completed' },
    ]);
    await stack.db.db.insert(journeyRunSteps).values([
      { workflowId: 'w-carl', runId: 'rc', seq: 1, journeyId: 'trial-live', version: 1, contactId: carl, stepId: 'wait-demo' },
      { workflowId: 'w-dora', runId: 'rd', seq: 1, journeyId: 'trial-live', version: 1, contactId: dora, stepId: 'wait-demo', enteredAt: new Date(Date.now() - 8 * 86400_000) },
    ]);
    await stack.db.db.insert(conversions).values({ idempotencyKey: 'w-dora:goal:demo', journeyId: 'trial-live', version: 1, contactId: dora, goal: 'demo' });
    const after = (await get('/v1/journeys/trial-live/live?version=1').expect(200)).body;
    expect(after).toMatchObject({ version: 1, runs: { running: 1, waiting: 1 }, entries7d: 3, contacts: { entered: 4, converted: 1 }, conversionRate: 0.25 });
    expect(after.steps.find((s: { stepId: string }) => s.stepId === 'wait-demo')).toMatchObject({ entered: 4, waiting: 1, failed: 1 });
    // `latest` names the latest published version (1) and counts it alone.
    expect((await get('/v1/journeys/trial-live/live?version=latest').expect(200)).body).toEqual(after);

    await get('/v1/journeys/trial-live/live?version=3').expect(404);
    await get('/v1/journeys/nope/live').expect(404);
    await request(stack.app).get('/v1/journeys/trial-live/live').set(as('integration')).expect(403);
  });
});
