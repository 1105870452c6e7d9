import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { eq } from 'drizzle-orm';
import { journeyRuns } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

const journey = (id: string, event: string, entry: string, wait: string) => `
id: ${id}
name: ${id}
triggers: [{ type: event, event: ${event} }]
entry: ${entry}
start: pause
steps:
  pause: { type: wait, duration: ${wait}, next: done }
  done: { type: exit }
`;

describe('re-entry rules hold against the real server', () => {
  let stack: TestStack;
  let n = 0;
  beforeAll(async () => {
    stack = await startTestStack();
    await publishJourney(stack.db.db, journey('once-j', 'signup.done', '{ re_entry: once }', '1s'), {});
    await publishJourney(stack.db.db, journey('always-j', 'page.visit', '{ re_entry: always, max_concurrent: 2 }', '4s'), {});
    await publishJourney(stack.db.db, journey('after-exit-j', 'trial.started', '{ re_entry: after_exit }', '2s'), {});
  });
  afterAll(async () => {
    await stack?.stop();
  });
  const post = async (type: string, contact: string) =>
    (
      await request(stack.app)
        .post('/v1/events')
        .set('Authorization', `Bearer ${stack.keys.integration}`)
        .send({ id: `re-${++n}`, type, contact: { externalId: contact } })
        .expect(202)
    ).body.accepted[0];
  const runs = async (journeyId: string) => stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.journeyId, journeyId));
  const settled = (journeyId: string, count: number, status: string) =>
    until(async () => {
      const r = await runs(journeyId);
      return r.filter((x) => x.status === status).length === count ? r : undefined;
    });

  it('once: a contact that finished the journey never enters again', async () => {
    const first = await post('signup.done', 'c-once');
    expect(first.runs).toHaveLength(1);
    await settled('once-j', 1, 'completed');
    const second = await post('signup.done', 'c-once');
    expect(second.runs).toEqual([]);
    expect(second.notEntered).toEqual([{ journeyId: 'once-j', reason: expect.stringMatching(/once/) }]);
    const desc = await stack.temporal.client.workflow.getHandle(first.runs[0]).describe();
    expect(desc.status.name).toBe('COMPLETED');
  });

  it('always: each trigger is its own run, up to max_concurrent', async () => {
    const a = await post('page.visit', 'c-always');
    await settled('always-j', 1, 'running');
    const b = await post('page.visit', 'c-always');
    await settled('always-j', 2, 'running');
    const c = await post('page.visit', 'c-always');
    expect(a.runs[0]).not.toBe(b.runs[0]);
    expect(c.notEntered).toEqual([{ journeyId: 'always-j', reason: expect.stringMatching(/max_concurrent \(2\)/) }]);
    await settled('always-j', 2, 'completed');
  });

  it('after_exit: an event during a run reaches it; after it ends the contact enters again', async () => {
    const first = await post('trial.started', 'c-exit');
    const firstRun = (await settled('after-exit-j', 1, 'running'))[0]!.runId;
    const during = await post('trial.started', 'c-exit');
    expect(during.runs).toEqual(first.runs); // signalled, not started again
    await settled('after-exit-j', 1, 'completed');
    const again = await post('trial.started', 'c-exit');
    expect(again.runs).toEqual(first.runs);
    const rerun = await until(async () => {
      const [r] = await runs('after-exit-j');
      return r && r.status === 'running' && r.runId !== firstRun ? r : undefined;
    });
    expect(rerun.runId).not.toBe(firstRun);
  });
});
