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

/**
 * The runs that must still be running when the next event arrives wait an hour, and the test ends that wait itself
 * (ops skip-wait): pauses of 2-4 s raced the test's own requests on a busy machine.
 */
describe('re-entry rules hold against the real server', () => {
  let stack: TestStack;
  let n = 0;
  beforeAll(async () => {
    stack = await startTestStack();
    await publishJourney(stack.db.db, journey('once-j', 'signup.done', '{ re_entry: once }', '1s'), {});
    await publishJourney(stack.db.db, journey('always-j', 'page.visit', '{ re_entry: always, max_concurrent: 2 }', '1h'), {});
    await publishJourney(stack.db.db, journey('after-exit-j', 'trial.started', '{ re_entry: after_exit }', '1h'), {});
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
  const skipWait = (workflowId: string) =>
    request(stack.app).post(`/v1/runs/${encodeURIComponent(workflowId)}/skip-wait`).set('Authorization', `Bearer ${stack.keys.ops}`).expect(200);
  /** The projection records the end just before the workflow returns; Temporal closes the run a moment later. */
  const closed = (workflowId: string) =>
    until(`${workflowId} closed in Temporal`, async () => {
      const d = await stack.temporal.client.workflow.getHandle(workflowId).describe();
      return d.status.name === 'RUNNING' ? undefined : d;
    });

  it('once: a contact that finished the journey never enters again', async () => {
    const first = await post('signup.done', 'c-once');
    expect(first.runs).toHaveLength(1);
    await settled('once-j', 1, 'completed');
    const second = await post('signup.done', 'c-once');
    expect(second.runs).toEqual([]);
    expect(second.notEntered).toEqual([{ journeyId: 'once-j', reason: expect.stringMatching(/once/) }]);
    const desc = await closed(first.runs[0]);
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
    for (const run of [a.runs[0], b.runs[0]]) await skipWait(run);
    await settled('always-j', 2, 'completed');
  });

  it('after_exit: an event during a run reaches it; after it ends the contact enters again', async () => {
    const first = await post('trial.started', 'c-exit');
    const firstRun = (await settled('after-exit-j', 1, 'running'))[0]!.runId;
    const during = await post('trial.started', 'c-exit');
    expect(during.runs).toEqual(first.runs); // signalled, not started again
    await skipWait(first.runs[0]);
    await settled('after-exit-j', 1, 'completed');
    // Ended for Temporal too: signalWithStart would deliver an event in between to the closing run, not start a new one.
    await closed(first.runs[0]);
    const again = await post('trial.started', 'c-exit');
    expect(again.runs).toEqual(first.runs);
    const rerun = await until(async () => {
      const [r] = await runs('after-exit-j');
      return r && r.status === 'running' && r.runId !== firstRun ? r : undefined;
    });
    expect(rerun.runId).not.toBe(firstRun);
  });
});
