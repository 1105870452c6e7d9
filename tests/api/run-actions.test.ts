import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { eq } from 'drizzle-orm';
import { contacts } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { startTestStack, type TestStack } from '../helpers/stack';
import { json, startHttp, type TestHttp } from '../channels/support/http';
import { until } from '../helpers/until';
import { scaled, scaledSeconds } from '../helpers/timing';
import { LOCAL_ALLOW } from '../helpers/outbound';

const JOURNEY = `
id: skippable
name: Skippable
triggers: [{ type: event, event: trial.started }]
entry: { re_entry: always, max_concurrent: 5 }
start: long-wait
steps:
  long-wait: { type: wait, duration: 7d, next: ask }
  ask:
    type: wait_for_event
    event: survey.answered
    timeout: 3d
    on_event: answered
    on_timeout: silent
  answered: { type: tag, tags: [answered], next: done }
  silent: { type: tag, tags: [silent], next: done }
  done: { type: exit }
`;

const HOOK_JOURNEY = (url: string) => `
id: hooked
name: Hooked
triggers: [{ type: event, event: deal.synced }]
start: push
steps:
  push: { type: webhook, url: ${url}/hook, body: { id: "{{contact.id}}" }, timeout: ${scaledSeconds(2)}s, retries: 10, next: done }
  done: { type: exit }
`;

describe('ops: skip the current wait, retry a failing activity now', () => {
  let stack: TestStack;
  let receiver: TestHttp;
  let healthy = false;
  const arrivals: number[] = [];
  beforeAll(async () => {
    receiver = await startHttp((_req, res) => {
      arrivals.push(Date.now());
      json(res, healthy ? 200 : 503, { ok: healthy });
    });
    stack = await startTestStack();
    await publishJourney(stack.db.db, JOURNEY, {});
    await publishJourney(stack.db.db, HOOK_JOURNEY(receiver.url), { outboundAllow: LOCAL_ALLOW });
  });
  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
  });
  const ops = () => ({ Authorization: `Bearer ${stack.keys.ops}` });
  // The projection appears once the run has recorded its first step.
  const run = async (id: string) => {
    const r = await request(stack.app).get(`/v1/runs/${encodeURIComponent(id)}`).set(ops());
    return r.status === 200 ? r.body : { status: 'unknown', currentStep: null, temporal: {} };
  };

  it('moves a week-long wait on, then times out the event wait; refuses once the run has ended', async () => {
    const res = await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id: 'sk-1', type: 'trial.started', contact: { externalId: 'sk-c1' } })
      .expect(202);
    const workflowId: string = res.body.accepted[0].runs[0];
    await until(async () => ((await run(workflowId)).currentStep === 'long-wait' ? true : undefined));

    const first = await request(stack.app).post(`/v1/runs/${encodeURIComponent(workflowId)}/skip-wait`).set(ops()).expect(200);
    expect(first.body).toEqual({ workflowId, skippedStep: 'long-wait' });
    await until(async () => ((await run(workflowId)).currentStep === 'ask' ? true : undefined));

    await request(stack.app).post(`/v1/runs/${encodeURIComponent(workflowId)}/skip-wait`).set(ops()).expect(200);
    const done = await until(async () => {
      const r = await run(workflowId);
      return r.status !== 'running' && r.temporal.status === 'COMPLETED' ? r : undefined;
    });
    expect(done.currentStep).toBe('done');
    const [c] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'sk-c1'));
    expect(c!.tags).toEqual(['silent']);

    // Who skipped is in the run's history.
    const history = await stack.temporal.client.workflow.getHandle(workflowId).fetchHistory();
    const updates = history.events!.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
    expect(updates).toHaveLength(2);
    // …and in its timeline, as the console shows it.
    const timeline = (await run(workflowId)).timeline.filter((e: { kind: string }) => e.kind === 'update');
    expect(timeline).toEqual([expect.objectContaining({ update: 'skipWait', by: 'test ops' }), expect.objectContaining({ update: 'skipWait', by: 'test ops' })]);

    const ended = await request(stack.app).post(`/v1/runs/${encodeURIComponent(workflowId)}/skip-wait`).set(ops()).expect(409);
    expect(ended.body.detail).toMatch(/has ended/);
    await request(stack.app).post('/v1/runs/journey:none:x/skip-wait').set(ops()).expect(404);
    await request(stack.app).post(`/v1/runs/${encodeURIComponent(workflowId)}/skip-wait`).set('Authorization', `Bearer ${stack.keys.marketer}`).expect(403);
  });

  it('retry-now: once the receiver is fixed, the backed-off webhook runs at once instead of at its next retry', async () => {
    const res = await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id: 'rn-1', type: 'deal.synced', contact: { externalId: 'rn-c1' } })
      .expect(202);
    const workflowId: string = res.body.accepted[0].runs[0];
    const handle = stack.temporal.client.workflow.getHandle(workflowId);
    // Wait until the activity sits in a back-off of several seconds (attempt ≥ 3: 2 s, then 4 s, …): the test must fix
    // the receiver and call retry-now before it ends, so on a busy machine it waits for a longer one (TIME_SCALE).
    const margin = scaled(2500);
    const next = await until('a long back-off', async () => {
      const p = (await handle.describe()).raw.pendingActivities?.[0];
      const at = p?.nextAttemptScheduleTime?.seconds ? Number(p.nextAttemptScheduleTime.seconds) * 1000 : undefined;
      return p && (p.attempt ?? 0) >= 3 && at && at - Date.now() > margin ? at : undefined;
    }, 60_000);
    const before = arrivals.length;
    await request(stack.app).post(`/v1/runs/${encodeURIComponent(workflowId)}/skip-wait`).set(ops()).expect(409);
    healthy = true;
    const r = await request(stack.app).post(`/v1/runs/${encodeURIComponent(workflowId)}/retry-now`).set(ops()).expect(200);
    expect(r.body.activities).toEqual([expect.objectContaining({ type: 'callWebhook' })]);
    expect(r.body.activities[0].attempt).toBeGreaterThanOrEqual(3);
    await handle.result();
    // The successful call came before the retry the back-off had scheduled: retry-now, not the schedule, sent it.
    expect(arrivals.length).toBe(before + 1);
    expect(arrivals.at(-1)!).toBeLessThan(next);
    await request(stack.app).post(`/v1/runs/${encodeURIComponent(workflowId)}/retry-now`).set(ops()).expect(409);
  }, scaled(90_000));

  it('moves a waiting run to another step; refuses unknown steps, bad input and ended runs', async () => {
    const res = await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id: 'mv-1', type: 'trial.started', contact: { externalId: 'mv-c1' } })
      .expect(202);
    const workflowId: string = res.body.accepted[0].runs[0];
    await until(async () => ((await run(workflowId)).currentStep === 'long-wait' ? true : undefined));
    const path = `/v1/runs/${encodeURIComponent(workflowId)}/move`;
    const unknown = await request(stack.app).post(path).set(ops()).send({ stepId: 'nowhere' }).expect(409);
    expect(unknown.body.detail).toMatch(/"nowhere" is not a step of skippable/);
    const bad = await request(stack.app).post(path).set(ops()).send({ step: 'answered' }).expect(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toContain('stepId');
    const moved = await request(stack.app).post(path).set(ops()).send({ stepId: 'answered' }).expect(200);
    expect(moved.body).toEqual({ workflowId, from: 'long-wait', to: 'answered' });
    const done = await until(async () => {
      const r = await run(workflowId);
      return r.status !== 'running' && r.temporal.status === 'COMPLETED' ? r : undefined;
    });
    expect(done.currentStep).toBe('done');
    const [c] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'mv-c1'));
    expect(c!.tags).toEqual(['answered']);
    await request(stack.app).post(path).set(ops()).send({ stepId: 'ask' }).expect(409);
  });

  it('migrates a waiting run to the latest version: same wait, then the new version\'s steps', async () => {
    const v = (tag: string, extra = '') => `
id: migrating
name: Migrating
triggers: [{ type: event, event: plan.chosen }]
start: hold
steps:
  hold: { type: wait, duration: 1h, next: mark }
  mark: { type: tag, tags: [${tag}], next: done }${extra}
  done: { type: exit }
`;
    await publishJourney(stack.db.db, v('from-v1'), {});
    const res = await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id: 'mg-1', type: 'plan.chosen', contact: { externalId: 'mg-c1' } })
      .expect(202);
    const workflowId: string = res.body.accepted[0].runs[0];
    await until(async () => ((await run(workflowId)).currentStep === 'hold' ? true : undefined));
    const path = `/v1/runs/${encodeURIComponent(workflowId)}/migrate`;
    // Nothing newer yet.
    await request(stack.app).post(path).set(ops()).send({}).expect(409);
    await publishJourney(stack.db.db, v('from-v2'), {});
    // A version whose steps do not include the run's current one is refused.
    await publishJourney(stack.db.db, v('from-v3').replace(/hold/g, 'pause'), {});
    const missing = await request(stack.app).post(path).set(ops()).send({}).expect(409);
    expect(missing.body.detail).toMatch(/Step "hold" does not exist in version 3/);

    const migrated = await request(stack.app).post(path).set(ops()).send({ version: 2 }).expect(200);
    expect(migrated.body).toEqual({ workflowId, from: 1, to: 2 });
    const onV2 = await until(async () => {
      const r = await run(workflowId);
      return r.version === 2 ? r : undefined;
    });
    expect(onV2.currentStep).toBe('hold');
    const described = await stack.temporal.client.workflow.getHandle(workflowId).describe();
    expect(described.runId).not.toBe(onV2.runId);
    expect(described.searchAttributes.JourneyVersion).toEqual([2]);
    // The wait it was in carries over; skipping it now follows version 2.
    await until(async () => {
      const r = await request(stack.app).post(`/v1/runs/${encodeURIComponent(workflowId)}/skip-wait`).set(ops());
      return r.status === 200 ? true : undefined;
    });
    await until(async () => {
      const r = await run(workflowId);
      return r.status !== 'running' && r.temporal.status === 'COMPLETED' ? r : undefined;
    });
    const [c] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'mg-c1'));
    expect(c!.tags).toEqual(['from-v2']);
  });
  it('repairs every run a filter selects in the background: migrate, retry-now (skipped with the reason), skip-wait', async () => {
    const v = (tag: string) => `
id: bulk-fix
name: Bulk fix
triggers: [{ type: event, event: fix.needed }]
entry: { re_entry: always }
start: hold
steps:
  hold: { type: wait, duration: 1h, next: mark }
  mark: { type: tag, tags: [${tag}], next: done }
  done: { type: exit }
`;
    await publishJourney(stack.db.db, v('bulk-v1'), {});
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      const res = await request(stack.app)
        .post('/v1/events')
        .set('Authorization', `Bearer ${stack.keys.integration}`)
        .send({ id: `bf-${n}`, type: 'fix.needed', contact: { externalId: `bf-c${n}` } })
        .expect(202);
      ids.push(res.body.accepted[0].runs[0]);
    }
    for (const id of ids) await until(async () => ((await run(id)).currentStep === 'hold' ? true : undefined));
    await publishJourney(stack.db.db, v('bulk-v2'), {});
    const bulk = async (body: object) => {
      const started = await request(stack.app).post('/v1/runs/bulk').set(ops()).send(body).expect(202);
      return until(async () => {
        const r = await request(stack.app).get(`/v1/runs/bulk/${started.body.bulkId}`).set(ops()).expect(200);
        return r.body.status === 'running' ? undefined : r.body;
      });
    };

    const migrated = await bulk({ action: 'migrate', filter: { journeyId: 'bulk-fix' } });
    expect(migrated).toMatchObject({ action: 'migrate', status: 'completed', total: 3, matched: 3, succeeded: 3, skipped: 0, failed: 0 });
    for (const id of ids) await until(async () => ((await run(id)).version === 2 ? true : undefined));

    // Nothing is failing: the repair does not apply, and each run says why.
    const retried = await bulk({ action: 'retry-now', filter: { journeyId: 'bulk-fix' } });
    expect(retried).toMatchObject({ status: 'completed', matched: 3, succeeded: 0, skipped: 3, failed: 0 });
    expect(retried.notes).toHaveLength(3);
    expect(retried.notes[0].message).toMatch(/has no failing activity/);

    const skipped = await bulk({ action: 'skip-wait', filter: { journeyId: 'bulk-fix', step: 'hold' } });
    expect(skipped).toMatchObject({ status: 'completed', matched: 3, succeeded: 3, skipped: 0, failed: 0 });
    for (const id of ids) await until(async () => ((await run(id)).temporal.status === 'COMPLETED' ? true : undefined));
    for (const n of [1, 2, 3]) {
      const [c] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, `bf-c${n}`));
      expect(c!.tags).toEqual(['bulk-v2']);
    }
    // A version only goes with migrate, and a target version needs its journey.
    const bad = await request(stack.app).post('/v1/runs/bulk').set(ops()).send({ action: 'skip-wait', version: 2, filter: { journeyId: 'bulk-fix' } }).expect(400);
    expect(bad.body.errors).toContainEqual(expect.objectContaining({ path: 'version' }));
    const noJourney = await request(stack.app).post('/v1/runs/bulk').set(ops()).send({ action: 'migrate', version: 2, filter: { stuck: true } }).expect(400);
    expect(noJourney.body.errors).toContainEqual(expect.objectContaining({ path: 'filter.journeyId' }));
  });
});
