/**
 * How journeyWorkflow executes against the real Temporal dev server, Postgres and SMTP: exits while a run sleeps,
 * events that arrive before the wait that awaits them, quiet hours in the contact's zone, frequency caps,
 * continue-as-new, and visibility. Days-long waits are asserted from the timers recorded in workflow history.
 */
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq } from 'drizzle-orm';
import { temporal as proto } from '@temporalio/proto';
import { contacts, journeyRuns, journeyRunSteps, messages, scoreEvents } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { ContactIdKey, JourneyIdKey, JourneyStepKey, JourneyVersionKey, journeyWorkflowId, type JourneyWorkflowInput, type JourneyWorkflowResult } from '../../src/contracts';
import { startTestStack, type TestStack } from '../helpers/stack';
import { startHttp, type TestHttp } from '../channels/support/http';
import { until } from '../helpers/until';
import { runWatch } from '../helpers/runs';
import { scaled, scaledSeconds } from '../helpers/timing';
import { LOCAL_ALLOW } from '../helpers/outbound';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Latency between a step's entry and its timer command on a busy machine. */
const SLACK = 2 * MINUTE;

/** Wall-clock hour and minute in a zone, with Intl only (independent of src/journey/time.ts). */
function localHm(t: number, timeZone: string): { hour: number; minute: number } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit' }).formatToParts(t);
  return { hour: Number(parts.find((p) => p.type === 'hour')!.value), minute: Number(parts.find((p) => p.type === 'minute')!.value) };
}
const pad = (n: number) => String(n).padStart(2, '0');

const toMs = (d: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(d?.seconds ?? 0) * 1000 + Math.floor((d?.nanos ?? 0) / 1e6);
const EventType = proto.api.enums.v1.EventType;

// --- journeys ----------------------------------------------------------------------------------------------------

const EXIT_WHILE_WAITING = `
id: x-exit
name: Exit while waiting
triggers: [{ type: event, event: nap.start }]
exit:
  - { event: contact.unsubscribed, reason: unsubscribed }
start: nap
steps:
  nap: { type: wait, duration: 1h, next: woke }
  woke: { type: tag, tags: [woke], next: done }
  done: { type: exit, reason: slept }
`;

/** The test ends the 2-hour pause itself (ops skip-wait) once the reply is in: no race with a clock. */
const reply = (id: string, start: string, lookback: string, timeout: string) => `
id: ${id}
name: ${id}
triggers: [{ type: event, event: ${start} }]
settings: { event_lookback: ${lookback} }
start: pause
steps:
  pause: { type: wait, duration: 2h, next: wait-reply }
  wait-reply: { type: wait_for_event, event: form.replied, timeout: ${timeout}, on_event: replied, on_timeout: silent }
  replied: { type: tag, tags: [replied-${id}], next: done }
  silent: { type: tag, tags: [silent-${id}], next: done }
  done: { type: exit, reason: finished }
`;

/** The receiver holds the call while the test delivers the reply: the call's timeout must outlast that, however busy. */
const DURING_SEND = (hookUrl: string) => `
id: x-race-send
name: Event during a send
triggers: [{ type: event, event: sync.start }]
settings: { event_lookback: 10m }
start: sync
steps:
  sync:
    type: webhook
    url: "${hookUrl}/contacts/{{contact.id}}"
    body: { email: "{{contact.email}}", campaign: "{{event.campaign}}", fixed: 7 }
    timeout: ${scaledSeconds(60)}s
    retries: 0
    next: wait-reply
  wait-reply: { type: wait_for_event, event: form.replied, timeout: 1h, on_event: replied, on_timeout: silent }
  replied:
    type: notify
    channel: wecom
    to: { group: sales-ops }
    message: "{{contact.first_name}} replied to {{event.campaign}}"
    next: done
  silent: { type: tag, tags: [silent], next: done }
  done: { type: exit, reason: finished }
`;

const send = (id: string, start: string, settings: string, after = 'done') => `
id: ${id}
name: ${id}
triggers: [{ type: event, event: ${start} }]
settings: ${settings}
start: hello
steps:
  hello: { type: send_email, template: welcome, next: ${after} }
${after === 'capped' ? '  capped: { type: tag, tags: [cap-skipped], next: done }\n' : ''}  done: { type: exit, reason: finished }
`;

const LOOPS = 12;
const LOOP = `
id: x-loop
name: Loop past the history budget
triggers: [{ type: event, event: loop.start }]
start: pause
steps:
  pause: { type: wait, duration: 1s, next: bump }
  bump: { type: update_score, delta: 1, reason: loop, next: mark }
  mark: { type: tag, tags: [looped], next: check }
  check:
    type: branch
    conditions:
      - { when: { field: score, gte: ${LOOPS} }, next: done }
    else: pause
  done: { type: exit, reason: looped }
`;

const VISIBLE = `
id: x-visible
name: Visible steps
triggers: [{ type: event, event: visible.start }]
exit:
  - { event: visible.stop, reason: stopped }
start: await-go
steps:
  await-go: { type: wait_for_event, event: visible.go, timeout: 1h, on_event: hold, on_timeout: done }
  hold: { type: wait, duration: 1h, next: done }
  done: { type: exit, reason: finished }
`;

describe('journey execution against the real server', () => {
  let stack: TestStack;
  let hook: TestHttp;
  /** Responses the webhook receiver holds until the test releases them. */
  const held: ServerResponse[] = [];
  let quiet: { start: number; end: number };
  let n = 0;

  beforeAll(async () => {
    hook = await startHttp((_req, res) => {
      held.push(res);
    });
    stack = await startTestStack();
    const templates = await loadTemplateCatalog(TEMPLATES_DIR);
    // Quiet hours around "now" in New York (from the hour before to two hours after), which in Shanghai — the
    // journey's own zone, 12–13 hours ahead — is broad daylight: only the contact's zone can defer the send.
    const h = localHm(Date.now(), 'America/New_York').hour;
    quiet = { start: (h + 23) % 24, end: (h + 2) % 24 };
    const quietSettings = `{ timezone: Asia/Shanghai, quiet_hours: { start: "${pad(quiet.start)}:00", end: "${pad(quiet.end)}:00" } }`;
    for (const source of [
      EXIT_WHILE_WAITING,
      reply('x-race-wait', 'reply.start', '30m', '1h'),
      reply('x-race-short', 'reply.start', '5m', '2s'),
      DURING_SEND(hook.url),
      send('x-quiet', 'quiet.start', quietSettings),
      send('x-cap-defer', 'capd.start', '{ frequency_caps: { email: { max: 2, per: 1d, on_cap: defer } } }'),
      send('x-cap-skip', 'caps.start', '{ frequency_caps: { email: { max: 2, per: 1d, on_cap: skip } } }', 'capped'),
      LOOP,
      VISIBLE,
    ]) {
      expect(await publishJourney(stack.db.db, source, { templates, outboundAllow: LOCAL_ALLOW })).toMatchObject({ version: 1, created: true });
    }
  });
  afterAll(async () => {
    for (const res of held) if (!res.writableEnded) res.end();
    await stack?.stop();
    await hook?.close();
  });

  const post = async (type: string, contact: Record<string, unknown>, properties: Record<string, unknown> = {}, occurredAt?: Date) => {
    const res = await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id: `exec-${++n}-${Date.now()}`, type, contact, properties, ...(occurredAt ? { occurredAt: occurredAt.toISOString() } : {}) })
      .expect(202);
    expect(res.body.rejected).toEqual([]);
    return res.body.accepted[0] as { runs: string[] };
  };
  const putContact = async (externalId: string, body: Record<string, unknown>) =>
    (await request(stack.app).put(`/v1/contacts/${externalId}`).set('Authorization', `Bearer ${stack.keys.integration}`).send(body)).body as { id: string };
  const { runOf, atStep, ended } = runWatch(() => stack);
  const history = async (workflowId: string, runId?: string) =>
    (await stack.temporal.client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
  const firstTimer = (workflowId: string) =>
    until(`a timer of ${workflowId}`, async () => {
      const e = (await history(workflowId)).find((x) => x.eventType === EventType.EVENT_TYPE_TIMER_STARTED);
      if (!e) return undefined;
      const timeoutMs = toMs(e.timerStartedEventAttributes!.startToFireTimeout);
      return { timeoutMs, firesAt: toMs(e.eventTime) + timeoutMs };
    });
  const contactRow = async (id: string) => (await stack.db.db.select().from(contacts).where(eq(contacts.id, id)))[0]!;
  const mailsTo = (address: string) => stack.smtp.messages.filter((m) => m.envelopeTo.includes(address));
  const settle = () => new Promise((r) => setTimeout(r, 1500));

  it('exit while waiting: a run asleep in a 1-hour wait receives the unsubscribe and ends as exited', async () => {
    const started = await post('nap.start', { externalId: 'ex-1' });
    const workflowId = started.runs[0]!;
    await atStep(workflowId, 'nap');
    const timer = await firstTimer(workflowId);
    expect(timer.timeoutMs).toBeGreaterThan(HOUR - SLACK);
    expect(timer.timeoutMs).toBeLessThanOrEqual(HOUR);

    const unsubscribed = await post('contact.unsubscribed', { externalId: 'ex-1' });
    expect(unsubscribed.runs).toEqual([workflowId]);
    const done = await ended(workflowId);
    expect(done).toMatchObject({ status: 'exited', currentStep: 'nap' });
    expect(done.endedAt).not.toBeNull();
    const result: JourneyWorkflowResult = await stack.temporal.client.workflow.getHandle(workflowId).result();
    expect(result).toEqual({ status: 'exited', reason: 'unsubscribed' });
    // It left from the wait: the step after it never ran, and the timer never fired.
    expect((await contactRow(done.contactId)).tags).toEqual([]);
    expect((await history(workflowId)).some((e) => e.eventType === EventType.EVENT_TYPE_TIMER_FIRED)).toBe(false);
  });

  it('event during an in-flight send: a reply that arrives while the webhook step runs counts for the wait after it', async () => {
    await putContact('race-1', { email: 'race.one@example.com', firstName: 'Rui' });
    const started = await post('sync.start', { externalId: 'race-1' }, { campaign: 'spring-fair' });
    const workflowId = started.runs[0]!;
    // The webhook call is in flight (the receiver holds its response) …
    const req = await until('the webhook request', async () => hook.requests[0]);
    const contactId = (await runOf(workflowId)).contactId as string;
    expect(req.url).toBe(`/contacts/${contactId}`);
    expect(JSON.parse(req.body)).toEqual({ email: 'race.one@example.com', campaign: 'spring-fair', fixed: 7 });
    expect((await runOf(workflowId)).currentStep).toBe('sync');
    // … when the reply comes in. It reaches the run, which has not begun waiting for it yet.
    const replied = await post('form.replied', { externalId: 'race-1' });
    expect(replied.runs).toEqual([workflowId]);
    await until('the signal to be recorded', async () =>
      (await history(workflowId)).filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED).length >= 2 ? true : undefined,
    );
    held.shift()!.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');

    const done = await ended(workflowId);
    expect(done).toMatchObject({ status: 'completed', currentStep: 'done' });
    const steps = await stack.db.db.select().from(journeyRunSteps).where(eq(journeyRunSteps.workflowId, workflowId));
    expect(steps.sort((a, b) => a.seq - b.seq).map((s) => s.stepId)).toEqual(['sync', 'wait-reply', 'replied', 'done']);
    const chat = await stack.db.db.select().from(messages).where(and(eq(messages.workflowId, workflowId), eq(messages.channel, 'chat')));
    expect(chat).toMatchObject([{ stepId: 'replied', status: 'stored', body: 'Rui replied to spring-fair' }]);
    expect((await contactRow(contactId)).tags).toEqual([]);
  });

  it('event during an earlier wait: it counts when it occurred within the lookback (30m), not when outside it (5m)', async () => {
    const started = await post('reply.start', { externalId: 'race-2' });
    expect(started.runs).toHaveLength(2);
    const long = started.runs.find((r) => r.startsWith('journey:x-race-wait:'))!;
    const short = started.runs.find((r) => r.startsWith('journey:x-race-short:'))!;
    await atStep(long, 'pause');
    await atStep(short, 'pause');
    // Replied ten minutes ago (a CRM delivering late), received while both runs are still in their pause …
    const replied = await post('form.replied', { externalId: 'race-2' }, {}, new Date(Date.now() - 10 * MINUTE));
    expect(replied.runs.sort()).toEqual([long, short].sort());
    expect((await runOf(long)).currentStep).toBe('pause');
    // … which then ends (as a 2-hour pause would, much later).
    for (const run of [long, short]) {
      await request(stack.app).post(`/v1/runs/${encodeURIComponent(run)}/skip-wait`).set('Authorization', `Bearer ${stack.keys.ops}`).expect(200);
    }

    const [a, b] = await Promise.all([ended(long), ended(short)]);
    expect([a.status, b.status]).toEqual(['completed', 'completed']);
    expect((await contactRow(a.contactId)).tags.sort()).toEqual(['replied-x-race-wait', 'silent-x-race-short']);
    // The 30m-lookback run matched the reply the moment it reached the wait: it never armed the 1-hour timeout (its
    // only timers are the 2-hour pause's).
    const timers = (await history(long)).filter((e) => e.eventType === EventType.EVENT_TYPE_TIMER_STARTED).map((e) => toMs(e.timerStartedEventAttributes!.startToFireTimeout));
    expect(timers.length).toBeGreaterThan(0);
    expect(timers.every((t) => t > HOUR)).toBe(true);
  });

  it('quiet hours in the contact zone (America/New_York): the send waits for the local end of quiet hours, nothing is sent yet', async () => {
    const email = 'ny.lead@example.com';
    const started = await post('quiet.start', { externalId: 'ny-1', email, firstName: 'Sam', locale: 'en', timezone: 'America/New_York' });
    const workflowId = started.runs[0]!;
    await atStep(workflowId, 'hello');
    const timer = await firstTimer(workflowId);
    // The next minute New York's wall clock shows the end of quiet hours, found by walking the clock.
    let expected = Math.ceil(Date.now() / MINUTE) * MINUTE;
    for (;;) {
      const l = localHm(expected, 'America/New_York');
      if (l.hour === quiet.end && l.minute === 0) break;
      expected += MINUTE;
    }
    expect(Math.abs(timer.firesAt - expected)).toBeLessThan(SLACK);
    expect(timer.timeoutMs).toBeGreaterThan(HOUR - SLACK);
    await settle();
    expect(mailsTo(email)).toEqual([]);
    expect(await stack.db.db.select().from(messages).where(eq(messages.workflowId, workflowId))).toEqual([]);
    expect((await runOf(workflowId)).status).toBe('running');
  });

  it('quiet hours ending within the minute: the deferred send goes out when the timer fires, at the local end of quiet hours', { timeout: scaled(180_000) }, async () => {
    // Quiet hours from an hour ago until the next whole minute at least 20 s away (stretched by TIME_SCALE: the run
    // must reach its send before they end, or it sends at once and arms no timer), New York time.
    const now = Date.now();
    const endAt = Math.ceil((now + scaled(20_000)) / MINUTE) * MINUTE;
    const end = localHm(endAt, 'America/New_York');
    const start = localHm(now - HOUR, 'America/New_York');
    const settings = `{ timezone: Asia/Shanghai, quiet_hours: { start: "${pad(start.hour)}:${pad(start.minute)}", end: "${pad(end.hour)}:${pad(end.minute)}" } }`;
    await publishJourney(stack.db.db, send('x-quiet-soon', 'quiet.soon', settings), { templates: await loadTemplateCatalog(TEMPLATES_DIR) });
    const email = 'ny.soon@example.com';
    const started = await post('quiet.soon', { externalId: 'ny-2', email, firstName: 'Kim', locale: 'en', timezone: 'America/New_York' });
    const workflowId = started.runs[0]!;
    const timer = await firstTimer(workflowId);
    expect(Math.abs(timer.firesAt - endAt)).toBeLessThan(30_000);
    const [mail] = await until('the deferred email', async () => (mailsTo(email).length ? mailsTo(email) : undefined), 120_000);
    expect(mail!.parsed.subject).toBe('Welcome to itinera, Kim');
    // The sink has the mail as soon as SMTP says 250; the activity records sent_at just after.
    const sent = await until('the message recorded as sent', async () => {
      const [row] = await stack.db.db.select().from(messages).where(eq(messages.workflowId, workflowId));
      return row?.sentAt ? row : undefined;
    }, 30_000);
    expect(sent.sentAt!.getTime()).toBeGreaterThanOrEqual(endAt);
    expect(await ended(workflowId)).toMatchObject({ status: 'completed', currentStep: 'done' });
  });

  const seedSent = async (externalId: string, email: string, agesMs: number[]) => {
    const c = await putContact(externalId, { email, firstName: 'Capped', locale: 'en' });
    const now = Date.now();
    await stack.db.db.insert(messages).values(
      agesMs.map((age, i) => ({
        idempotencyKey: `seed:${externalId}:${i}`,
        channel: 'email',
        contactId: c.id,
        journeyId: 'another-journey',
        recipient: email,
        template: 'welcome',
        status: 'sent',
        sentAt: new Date(now - age),
      })),
    );
    return { contactId: c.id, oldest: now - Math.max(...agesMs) };
  };

  it('frequency cap, on_cap defer: two emails in the last day → the send waits until the older one leaves the window', async () => {
    const email = 'capped.defer@example.com';
    const { oldest } = await seedSent('cap-1', email, [2 * HOUR, 1 * HOUR]);
    const started = await post('capd.start', { externalId: 'cap-1' });
    const workflowId = started.runs[0]!;
    await atStep(workflowId, 'hello');
    const timer = await firstTimer(workflowId);
    expect(Math.abs(timer.firesAt - (oldest + DAY))).toBeLessThan(SLACK);
    await settle();
    expect(mailsTo(email)).toEqual([]);
    expect(await stack.db.db.select().from(messages).where(eq(messages.workflowId, workflowId))).toEqual([]);
    expect((await runOf(workflowId)).status).toBe('running');
  });

  it('frequency cap, on_cap skip: the send is skipped and the run goes on', async () => {
    const email = 'capped.skip@example.com';
    const { contactId } = await seedSent('cap-2', email, [3 * HOUR, 30 * MINUTE]);
    const started = await post('caps.start', { externalId: 'cap-2' });
    const workflowId = started.runs[0]!;
    const done = await ended(workflowId);
    expect(done).toMatchObject({ status: 'completed', currentStep: 'done' });
    expect((await contactRow(contactId)).tags).toEqual(['cap-skipped']);
    expect(mailsTo(email)).toEqual([]);
    expect(await stack.db.db.select().from(messages).where(eq(messages.workflowId, workflowId))).toEqual([]);
  });

  it('continue-as-new: a looping run passes its history budget, continues as new several times, keeps its state and finishes', async () => {
    const { id: contactId } = await putContact('loop-1', { email: 'loop@example.com' });
    const workflowId = journeyWorkflowId('x-loop', contactId);
    const input: JourneyWorkflowInput = { v: 1, journeyId: 'x-loop', version: 1, contactId, historyBudget: 60 };
    const handle = await stack.temporal.client.workflow.start('journeyWorkflow', {
      workflowId,
      taskQueue: stack.temporal.taskQueue,
      args: [input],
      typedSearchAttributes: [
        { key: JourneyIdKey, value: 'x-loop' },
        { key: JourneyVersionKey, value: 1 },
        { key: ContactIdKey, value: contactId },
        { key: JourneyStepKey, value: 'start' },
      ],
    });
    const firstRunId = handle.firstExecutionRunId;
    const projected = await until('the run projection', async () => (await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.workflowId, workflowId)))[0]);

    const result: JourneyWorkflowResult = await stack.temporal.client.workflow.getHandle(workflowId).result();
    expect(result).toEqual({ status: 'completed', reason: 'looped' });

    // The chain: each run's history ends in WorkflowExecutionContinuedAsNew naming the next run.
    const chain = [firstRunId];
    for (;;) {
      const last = (await history(workflowId, chain.at(-1))).at(-1)!;
      if (last.eventType !== EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW) {
        expect(last.eventType).toBe(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED);
        break;
      }
      chain.push(last.workflowExecutionContinuedAsNewEventAttributes!.newExecutionRunId!);
    }
    expect(chain.length).toBeGreaterThanOrEqual(3);
    const described = await stack.temporal.client.workflow.getHandle(workflowId).describe();
    expect(described.runId).toBe(chain.at(-1));
    expect(described.runId).not.toBe(firstRunId);
    expect(described.status.name).toBe('COMPLETED');
    expect(described.typedSearchAttributes.get(JourneyIdKey)).toBe('x-loop');
    expect(described.typedSearchAttributes.get(JourneyStepKey)).toBe('done');

    // State carried over: the score counted every loop exactly once, from the contact row to the journal.
    const c = await contactRow(contactId);
    expect(c.score).toBe(LOOPS);
    expect(c.tags).toEqual(['looped']);
    expect(await stack.db.db.select().from(scoreEvents).where(eq(scoreEvents.contactId, contactId))).toHaveLength(LOOPS);
    const steps = (await stack.db.db.select().from(journeyRunSteps).where(eq(journeyRunSteps.workflowId, workflowId))).sort((a, b) => a.seq - b.seq);
    const loop = ['pause', 'bump', 'mark', 'check'];
    expect(steps.map((s) => s.stepId)).toEqual([...Array.from({ length: LOOPS }, () => loop).flat(), 'done']);
    expect(steps.map((s) => s.seq)).toEqual(steps.map((_, i) => i + 1));
    expect(new Set(steps.map((s) => s.runId))).toEqual(new Set([firstRunId]));
    const [run] = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.workflowId, workflowId));
    expect(run).toMatchObject({ runId: firstRunId, status: 'completed', currentStep: 'done' });
    expect(run!.startedAt.getTime()).toBe(projected.startedAt.getTime());
  });

  it('visibility: the JourneyStep search attribute and the run projection follow the run', async () => {
    const tq = stack.temporal.taskQueue;
    const started = await post('visible.start', { externalId: 'vis-1' });
    const workflowId = started.runs[0]!;
    const where = (step: string) => `JourneyStep = "${step}" AND TaskQueue = "${tq}" AND JourneyId = "x-visible"`;
    const idsAt = async (step: string) => {
      const ids: string[] = [];
      for await (const w of stack.temporal.client.workflow.list({ query: where(step) })) ids.push(w.workflowId);
      return ids;
    };
    const countAt = async (step: string) => (await stack.temporal.client.workflow.count(where(step))).count;

    await until('the run listed at await-go', async () => ((await idsAt('await-go')).includes(workflowId) ? true : undefined));
    expect(await countAt('await-go')).toBe(1);
    expect((await runOf(workflowId)).currentStep).toBe('await-go');

    await post('visible.go', { externalId: 'vis-1' });
    await until('the run listed at hold', async () => ((await idsAt('hold')).includes(workflowId) ? true : undefined));
    await until('the run gone from await-go', async () => ((await countAt('await-go')) === 0 ? true : undefined));
    expect(await countAt('hold')).toBe(1);
    expect(await runOf(workflowId)).toMatchObject({ currentStep: 'hold', status: 'running' });

    await post('visible.stop', { externalId: 'vis-1' });
    expect(await ended(workflowId)).toMatchObject({ status: 'exited', currentStep: 'hold' });
    // A closed run keeps the step it ended in, so "where did runs stop" is a visibility query too.
    await until('the closed run at hold', async () => ((await stack.temporal.client.workflow.count(`${where('hold')} AND ExecutionStatus = "Completed"`)).count === 1 ? true : undefined));
  });
});
