import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { eq, sql } from 'drizzle-orm';
import { journeyRuns } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { startTestStack, type TestStack } from '../helpers/stack';
import { startHttp, type TestHttp } from '../channels/support/http';
import { scaled, scaledSeconds } from '../helpers/timing';
import { until } from '../helpers/until';
import { LOCAL_ALLOW } from '../helpers/outbound';

const SECRET_HEADER = 'Bearer hook-credential-0f9e8d7c';

/**
 * A webhook with many quick retries: the receiver decides whether the run is stuck. The call's own timeout only has
 * to let a local answer through (a timeout would make the last failure read "no response", not "HTTP 500").
 */
const hookJourney = (url: string) => `
id: hook-j
name: Hook
triggers: [{ type: event, event: order.placed }]
start: call
steps:
  call:
    type: webhook
    url: ${url}/hook
    headers: { authorization: "${SECRET_HEADER}" }
    body: { contact: "{{contact.email}}" }
    timeout: ${scaledSeconds(2)}s
    retries: 10
    next: done
  done: { type: exit }
`;

/** Runs that sit in an event wait for an hour: something to cancel, terminate and find overdue. */
const waitJourney = (id: string, event: string) => `
id: ${id}
name: ${id}
triggers: [{ type: event, event: ${event} }]
entry: { re_entry: always, max_concurrent: 5 }
start: hold
steps:
  hold: { type: wait_for_event, event: never.happens, timeout: 1h, on_event: done, on_timeout: done }
  done: { type: exit }
`;

describe('ops toolkit on runs against the real stack', () => {
  let stack: TestStack;
  let receiver: TestHttp;
  let receiverFails = true;
  let n = 0;
  const ops = (r: request.Test) => r.set('Authorization', `Bearer ${stack.keys.ops}`);
  const post = async (type: string, externalId: string, email?: string): Promise<string> => {
    const res = await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id: `ops-${++n}`, type, contact: { externalId, ...(email ? { email } : {}) } })
      .expect(202);
    expect(res.body.accepted[0].runs, `${type} started a run`).toHaveLength(1);
    return res.body.accepted[0].runs[0] as string;
  };
  const projection = async (workflowId: string) => (await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.workflowId, workflowId)))[0];
  const inStep = (workflowId: string, step: string) =>
    until(`${workflowId} in ${step}`, async () => ((await projection(workflowId))?.currentStep === step ? true : undefined), 60_000);
  const status = (workflowId: string, s: string, timeoutMs = 60_000) =>
    until(`${workflowId} ${s}`, async () => ((await projection(workflowId))?.status === s ? true : undefined), timeoutMs);

  beforeAll(async () => {
    receiver = await startHttp((_req, res) => {
      res.statusCode = receiverFails ? 500 : 200;
      res.end(receiverFails ? 'upstream down' : 'ok');
    });
    stack = await startTestStack();
    await publishJourney(stack.db.db, hookJourney(receiver.url), { outboundAllow: LOCAL_ALLOW });
    await publishJourney(stack.db.db, waitJourney('wait-j', 'signup.done'), {});
    await publishJourney(stack.db.db, waitJourney('bulk-j', 'signup.bulk'), {});
  });
  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
  });

  let hookRun: string;
  let lateRun: string;
  let freshRun: string;

  /**
   * The retries back off 2 s, 4 s, 8 s, 16 s…: every retry the test is too slow to catch before the receiver recovers
   * doubles the wait for the one that succeeds (once five attempts have failed, the sixth comes 62 s after the first:
   * past the default 60 s budget of the whole test). Its budget covers the 120 s wait for completion, both stretched
   * by TIME_SCALE.
   */
  it('finds a run stuck on a failing webhook, shows why, and sees it complete once the receiver recovers', { timeout: scaled(180_000) }, async () => {
    hookRun = await post('order.placed', 'c-hook', 'hook.person@example.com');
    // A run in an event wait is neither retrying nor overdue: it must not be listed.
    freshRun = await post('signup.done', 'c-fresh');
    await inStep(freshRun, 'hold');

    const listed = await until(
      'the hook run listed as stuck',
      async () => {
        const res = await ops(request(stack.app).get('/v1/runs?stuck=true')).expect(200);
        return res.body.items.some((r: { workflowId: string }) => r.workflowId === hookRun) ? res.body : undefined;
      },
      60_000,
    );
    expect(listed.items.map((r: { workflowId: string }) => r.workflowId)).toEqual([hookRun]);
    const item = listed.items[0];
    expect(item).toMatchObject({ journeyId: 'hook-j', currentStep: 'call', status: 'running' });
    expect(item.stuck.reasons).toEqual(['activity_retrying']);
    expect(item.stuck.pendingActivity).toMatchObject({ activityType: 'callWebhook', maximumAttempts: 11 });
    expect(item.stuck.pendingActivity.attempt).toBeGreaterThanOrEqual(3);
    expect(item.stuck.pendingActivity.lastFailure).toMatch(/HTTP 500/);
    expect(listed.inspection).toMatchObject({ capped: false, minAttempts: 3 });
    expect(listed.inspection.inspected).toBeGreaterThanOrEqual(2);

    // By step: runs upsert JourneyStep only where they wait, so a run retrying an action is found at its step through
    // the projection (visibility still says where it started).
    const atStep = await ops(request(stack.app).get('/v1/runs?stuck=true&step=call')).expect(200);
    expect(atStep.body.items.map((r: { workflowId: string }) => r.workflowId)).toEqual([hookRun]);
    expect(atStep.body.items[0].stuck.reasons).toEqual(['activity_retrying']);
    const elsewhere = await ops(request(stack.app).get('/v1/runs?stuck=true&step=hold')).expect(200);
    expect(elsewhere.body.items).toEqual([]);

    // A higher bar leaves it out; a cap of one inspected run says so.
    const strict = await ops(request(stack.app).get('/v1/runs?stuck=true&minAttempts=50')).expect(200);
    expect(strict.body.items).toEqual([]);
    const capped = await ops(request(stack.app).get('/v1/runs?stuck=true&inspectLimit=1')).expect(200);
    expect(capped.body.inspection).toMatchObject({ inspected: 1, capped: true, limit: 1 });

    const detail = (await ops(request(stack.app).get(`/v1/runs/${encodeURIComponent(hookRun)}`)).expect(200)).body;
    expect(detail.temporal.status).toBe('RUNNING');
    expect(detail.pendingActivities).toHaveLength(1);
    expect(detail.pendingActivities[0].activityType).toBe('callWebhook');
    expect(detail.pendingActivities[0].attempt).toBeGreaterThanOrEqual(2);
    expect(detail.pendingActivities[0].lastFailure).toMatch(/HTTP 500/);
    expect(detail.timeline[0]).toMatchObject({ kind: 'started' });
    expect(detail.timeline).toContainEqual(expect.objectContaining({ kind: 'step', step: 'call' }));
    expect(detail.timeline).toContainEqual(expect.objectContaining({ kind: 'activity_scheduled', activityType: 'callWebhook', step: 'call' }));
    // Activity inputs are never passed through: the header credential and the contact's address stay out.
    const text = JSON.stringify(detail);
    expect(text).not.toContain('hook-credential');
    expect(text).not.toContain('hook.person@example.com');

    const failures = receiver.requests.length;
    expect(failures).toBeGreaterThanOrEqual(2);
    receiverFails = false;
    await status(hookRun, 'completed', 120_000);
    expect(receiver.requests.length).toBeGreaterThan(failures);

    // The projection records the end just before the workflow returns; Temporal closes the run a moment later (seconds
    // on a busy machine), and only then does the timeline end in `completed`.
    const after = await until(`${hookRun} closed in Temporal`, async () => {
      const d = (await ops(request(stack.app).get(`/v1/runs/${encodeURIComponent(hookRun)}`)).expect(200)).body;
      return d.temporal.status === 'RUNNING' ? undefined : d;
    });
    expect(after.pendingActivities).toEqual([]);
    const done = after.timeline.find((e: { kind: string; activityType?: string }) => e.kind === 'activity_completed' && e.activityType === 'callWebhook');
    expect(done.attempt).toBeGreaterThan(failures);
    expect(after.timeline.at(-1)).toMatchObject({ kind: 'completed' });
    const stillStuck = await ops(request(stack.app).get('/v1/runs?stuck=true&journeyId=hook-j')).expect(200);
    expect(stillStuck.body.items).toEqual([]);
  });

  it('finds a run that has been in its step longer than the step allows', async () => {
    lateRun = await post('signup.done', 'c-late');
    await inStep(lateRun, 'hold');
    // The run entered its one-hour event wait two hours ago, as far as the projection knows.
    await stack.db.db.update(journeyRuns).set({ updatedAt: sql`now() - interval '2 hours'` }).where(eq(journeyRuns.workflowId, lateRun));

    const res = await ops(request(stack.app).get('/v1/runs?stuck=true&journeyId=wait-j')).expect(200);
    expect(res.body.items).toHaveLength(1);
    expect(res.body.items[0]).toMatchObject({ workflowId: lateRun, currentStep: 'hold', stuck: { reasons: ['overdue'], pendingActivity: null } });
    // With a grace longer than the extra hour it is not overdue yet.
    const lenient = await ops(request(stack.app).get('/v1/runs?stuck=true&journeyId=wait-j&graceSeconds=7200')).expect(200);
    expect(lenient.body.items).toEqual([]);
  });

  it('lists with filters and pages without repeating or skipping a run', async () => {
    const all = await ops(request(stack.app).get('/v1/runs?journeyId=wait-j&status=running')).expect(200);
    expect(all.body.items.map((r: { workflowId: string }) => r.workflowId).sort()).toEqual([freshRun, lateRun].sort());
    const first = await ops(request(stack.app).get('/v1/runs?journeyId=wait-j&limit=1')).expect(200);
    expect(first.body.items).toHaveLength(1);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await ops(request(stack.app).get(`/v1/runs?journeyId=wait-j&limit=1&cursor=${first.body.nextCursor}`)).expect(200);
    expect(second.body.items).toHaveLength(1);
    expect(second.body.nextCursor).toBeNull();
    expect([first.body.items[0].workflowId, second.body.items[0].workflowId].sort()).toEqual([freshRun, lateRun].sort());
    const ids = async (qs: string) => (await ops(request(stack.app).get(`/v1/runs?${qs}`)).expect(200)).body.items.map((r: { workflowId: string }) => r.workflowId).sort();
    expect(await ids('step=hold')).toEqual([freshRun, lateRun].sort());
    expect(await ids('step=done&status=completed')).toEqual([hookRun]);
    expect(await ids('journeyId=hook-j&status=running')).toEqual([]);
  });

  it('names the field of every invalid list query', async () => {
    const cases: [string, string][] = [
      ['stuck=maybe', 'query.stuck'],
      ['stuck=true&status=completed', 'query.status'],
      ['stuck=true&minAttempts=0', 'query.minAttempts'],
      ['inspectLimit=5000', 'query.inspectLimit'],
      ['graceSeconds=-1', 'query.graceSeconds'],
      ['cursor=not-ours', 'query.cursor'],
    ];
    for (const [qs, path] of cases) {
      const res = await ops(request(stack.app).get(`/v1/runs?${qs}`)).expect(400);
      expect(res.body.errors, qs).toContainEqual(expect.objectContaining({ path }));
    }
  });

  it('cancels a run gracefully: the workflow records cancelled in the projection', async () => {
    await ops(request(stack.app).post('/v1/runs/nope/cancel')).expect(404);
    const res = await ops(request(stack.app).post(`/v1/runs/${encodeURIComponent(freshRun)}/cancel`)).expect(202);
    expect(res.body).toEqual({ workflowId: freshRun, status: 'cancelling' });
    await status(freshRun, 'cancelled');
    const row = await projection(freshRun);
    expect(row!.endedAt).not.toBeNull();
    expect(row!.currentStep).toBe('hold');
    // The run writes `cancelled` to the projection before it ends; Temporal closes it a moment later.
    const d = await until(`${freshRun} closed in Temporal`, async () => {
      const x = await stack.temporal.client.workflow.getHandle(freshRun).describe();
      return x.status.name === 'RUNNING' ? undefined : x;
    });
    expect(d.status.name).toBe('CANCELLED');
    const detail = (await ops(request(stack.app).get(`/v1/runs/${encodeURIComponent(freshRun)}`)).expect(200)).body;
    expect(detail.timeline.map((e: { kind: string }) => e.kind)).toEqual(expect.arrayContaining(['timer_started', 'cancel_requested', 'cancelled']));
    expect(detail.timeline.find((e: { kind: string }) => e.kind === 'timer_started').fireAt).toEqual(expect.any(String));
    // Who cancelled is in the run's history.
    expect(detail.timeline.find((e: { kind: string }) => e.kind === 'cancel_requested')).toMatchObject({ by: 'test ops' });
    const again = await ops(request(stack.app).post(`/v1/runs/${encodeURIComponent(freshRun)}/cancel`)).expect(409);
    expect(again.body.code).toBe('conflict');
  });

  it('terminates a run with a reason and sets the projection', async () => {
    const missing = await ops(request(stack.app).post(`/v1/runs/${encodeURIComponent(lateRun)}/terminate`).send({})).expect(400);
    expect(missing.body.errors).toContainEqual(expect.objectContaining({ path: 'reason' }));
    await ops(request(stack.app).post('/v1/runs/nope/terminate').send({ reason: 'x' })).expect(404);
    const res = await ops(request(stack.app).post(`/v1/runs/${encodeURIComponent(lateRun)}/terminate`).send({ reason: 'stuck in test' })).expect(200);
    expect(res.body).toMatchObject({ workflowId: lateRun, status: 'terminated', endedAt: expect.any(String) });
    expect((await projection(lateRun))!.status).toBe('terminated');
    const d = await stack.temporal.client.workflow.getHandle(lateRun).describe();
    expect(d.status.name).toBe('TERMINATED');
    const detail = (await ops(request(stack.app).get(`/v1/runs/${encodeURIComponent(lateRun)}`)).expect(200)).body;
    expect(detail.timeline.at(-1)).toMatchObject({ kind: 'terminated', reason: expect.stringContaining('stuck in test') });
    await ops(request(stack.app).post(`/v1/runs/${encodeURIComponent(lateRun)}/terminate`).send({ reason: 'again' })).expect(409);
  });

  it('cancels every run a filter selects in the background, with progress to done (and a dry run first)', async () => {
    const runs = [await post('signup.bulk', 'c-b1'), await post('signup.bulk', 'c-b2'), await post('signup.bulk', 'c-b3')];
    for (const r of runs) await inStep(r, 'hold');

    const follow = async (bulkId: string) =>
      until(
        `bulk ${bulkId} done`,
        async () => {
          const res = await ops(request(stack.app).get(`/v1/runs/bulk/${bulkId}`)).expect(200);
          return res.body.status === 'running' ? undefined : res.body;
        },
        60_000,
      );

    const dry = await ops(request(stack.app).post('/v1/runs/bulk').send({ action: 'cancel', filter: { journeyId: 'bulk-j' }, dryRun: true, pageSize: 2 })).expect(202);
    expect(dry.headers.location).toBe(`/v1/runs/bulk/${dry.body.bulkId}`);
    const dryDone = await follow(dry.body.bulkId);
    expect(dryDone).toMatchObject({ status: 'completed', dryRun: true, total: 3, scanned: 3, matched: 3, succeeded: 0, pages: 2 });
    for (const r of runs) expect((await projection(r))!.status).toBe('running');

    const started = await ops(request(stack.app).post('/v1/runs/bulk').send({ action: 'cancel', filter: { journeyId: 'bulk-j', step: 'hold' }, pageSize: 2 })).expect(202);
    expect(started.body).toMatchObject({ action: 'cancel', status: 'running' });
    const done = await follow(started.body.bulkId);
    expect(done).toMatchObject({ status: 'completed', dryRun: false, total: 3, scanned: 3, matched: 3, succeeded: 3, skipped: 0, failed: 0, errors: [] });
    for (const r of runs) await status(r, 'cancelled');
  });

  it('refuses invalid bulk requests naming the field, and unknown bulk ids', async () => {
    const cases: [unknown, string][] = [
      [{ action: 'explode', filter: { journeyId: 'bulk-j' } }, 'action'],
      [{ action: 'terminate', filter: { journeyId: 'bulk-j' } }, 'reason'],
      [{ action: 'cancel', filter: {} }, 'filter'],
      [{ action: 'cancel', filter: { journeyId: 'bulk-j', status: 'completed' } }, 'filter.status'],
      [{ action: 'cancel', filter: { journeyId: 'bulk-j', colour: 'red' } }, 'filter'],
    ];
    for (const [body, path] of cases) {
      const res = await ops(request(stack.app).post('/v1/runs/bulk').send(body as object)).expect(400);
      expect(res.body.errors, JSON.stringify(body)).toContainEqual(expect.objectContaining({ path }));
    }
    await ops(request(stack.app).get('/v1/runs/bulk/bulk_nope')).expect(404);
    // A journey run is not a bulk action.
    await ops(request(stack.app).get(`/v1/runs/bulk/${encodeURIComponent(hookRun)}`)).expect(404);
  });

  it("replays a journey's runs against the current workflow code", async () => {
    const res = await ops(request(stack.app).post('/v1/journeys/wait-j/replay').send({ limit: 10 })).expect(200);
    expect(res.body.journeyId).toBe('wait-j');
    expect(res.body.results).toHaveLength(2);
    expect(res.body.results.map((r: { workflowId: string }) => r.workflowId).sort()).toEqual([freshRun, lateRun].sort());
    for (const r of res.body.results) expect(r, JSON.stringify(r)).toMatchObject({ status: 'ok', version: 1, runId: expect.any(String) });
    expect(res.body.totals).toEqual({ ok: 2, nondeterministic: 0, failed: 0, unavailable: 0, notReplayed: 0 });
    expect(res.body.timedOut).toBe(false);

    const hook = await ops(request(stack.app).post('/v1/journeys/hook-j/replay').send({ limit: 1 })).expect(200);
    expect(hook.body.results).toEqual([expect.objectContaining({ workflowId: hookRun, status: 'ok' })]);

    await ops(request(stack.app).post('/v1/journeys/no-such-journey/replay').send({})).expect(404);
    for (const [body, path] of [[{ limit: 0 }, 'limit'], [{ limit: 201 }, 'limit'], [{ version: 'one' }, 'version']] as const) {
      const bad = await ops(request(stack.app).post('/v1/journeys/wait-j/replay').send(body)).expect(400);
      expect(bad.body.errors).toContainEqual(expect.objectContaining({ path }));
    }
  });

  it('keeps the ops actions to ops and admin', async () => {
    for (const role of ['marketer', 'integration'] as const) {
      const res = await request(stack.app).post(`/v1/runs/${encodeURIComponent(hookRun)}/cancel`).set('Authorization', `Bearer ${stack.keys[role]}`).expect(403);
      expect(res.body.code).toBe('forbidden');
    }
    // Admin is let through (the run has ended, so the answer is a conflict, not a refusal).
    await request(stack.app).post(`/v1/runs/${encodeURIComponent(hookRun)}/cancel`).set('Authorization', `Bearer ${stack.keys.admin}`).expect(409);
  });
});
