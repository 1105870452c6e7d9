/**
 * Contact changes reach journeys (issue 15, item 1): a `contact.updated` routed through ingestEvent starts `change` and
 * enter-on-match `audience` triggers, and running runs that read a changed field re-judge their `when:` exits and goals
 * on the fresh contact — coalesced per contact, never signalled back to the run that made the change. Real Temporal
 * dev server, real Postgres, real SMTP (the new-lead-nurture welcome email).
 *
 * Until every contact write emits the event itself, the test writes the contact row and ingests the event, exactly
 * as the writers do (row first, then the event).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq, sql } from 'drizzle-orm';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal as proto } from '@temporalio/proto';
import { contacts, events, journeyRuns } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { ingestDeps } from '../../src/wiring/ingest';
import { ingestEvent, type IngestDeps } from '../../src/ingest/event';
import { contactRoutingTotals } from '../../src/ingest/contact-routing';
import type { JourneyEventSignal, JourneyWorkflowResult } from '../../src/contracts';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { startTestStack, type TestStack } from '../helpers/stack';
import { runWatch } from '../helpers/runs';
import { LOCAL_ALLOW } from '../helpers/outbound';
import { json, startHttp, type TestHttp } from '../channels/support/http';
import { until } from '../helpers/until';

const wait = (id: string, trigger: string, extra = '') => `
id: ${id}
name: ${id}
triggers: [${trigger}]
${extra}
start: pause
steps:
  pause: { type: wait, duration: 1h, next: done }
  done: { type: exit }
`;

/** A zone where it is daytime (09:00–20:00) now, so new-lead-nurture's welcome is not held for quiet hours. */
function daytimeZone(): string {
  for (let offset = -12; offset <= 14; offset++) {
    const zone = offset === 0 ? 'UTC' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
    const hour = Number(new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', hour: '2-digit' }).format(Date.now()));
    if (hour >= 9 && hour < 20) return zone;
  }
  throw new Error('no daytime zone');
}

describe('contact.updated reaches journeys (real server)', () => {
  let stack: TestStack;
  let ingest: IngestDeps;
  let n = 0;
  // A receiver that holds each request until the test lets it go: the run stays mid-action as long as the test wants.
  let hook: TestHttp;
  let release: () => void = () => undefined;
  const held = new Promise<void>((r) => (release = r));

  beforeAll(async () => {
    hook = await startHttp(async (_req, res) => {
      await held;
      json(res, 200, { ok: true });
    });
    stack = await startTestStack();
    const db = stack.db.db;
    // The worker's and the API's ingest path (one builder for both).
    ingest = ingestDeps({ db, temporal: stack.temporal.client, taskQueue: stack.temporal.taskQueue });
    const templates = await loadTemplateCatalog(TEMPLATES_DIR);
    await publishJourney(db, readFileSync(path.join(import.meta.dirname, '../../journeys/new-lead-nurture.yaml'), 'utf8'), { templates });
    await publishJourney(db, wait('to-manufacturing', '{ type: change, field: industry, to: manufacturing }', 'entry: { re_entry: once }'), {});
    await publishJourney(db, wait('east-vip', '{ type: audience, filter: { all: [{ field: region, eq: east }, { field: score, gte: 50 }] } }', 'entry: { re_entry: always, max_concurrent: 5 }'), {});
    await publishJourney(db, `
id: tagger
name: tagger
triggers: [{ type: event, event: tagger.go }]
exit: [{ when: { tag: never-set }, reason: never }]
start: tag
steps:
  tag: { type: tag, tags: [hot], next: pause }
  pause: { type: wait, duration: 1h, next: done }
  done: { type: exit }
`, {});
    await publishJourney(db, wait('hot-watch', '{ type: event, event: watch.go }', 'goals: [{ id: became-hot, when: { tag: hot } }]'), {});
    await publishJourney(db, `
id: slow-step
name: slow-step
triggers: [{ type: event, event: slow.go }]
exit: [{ when: { field: lifecycle_stage, eq: customer }, reason: became-customer }]
start: call
steps:
  call: { type: webhook, url: "${hook.url}/hook", method: POST, timeout: 60s, next: pause }
  pause: { type: wait, duration: 1h, next: done }
  done: { type: exit }
`, { outboundAllow: LOCAL_ALLOW });
    await publishJourney(db, `
id: wait-west
name: wait-west
triggers: [{ type: event, event: west.go }]
start: w
steps:
  w: { type: wait_for_event, event: contact.updated, where: { changes.region.to: west }, timeout: 1h, on_event: moved, on_timeout: stayed }
  moved: { type: exit, reason: moved-west }
  stayed: { type: exit, reason: stayed }
`, {});
    await publishJourney(db, wait('counter-watch', '{ type: event, event: counter.go }', 'exit: [{ when: { field: attributes.counter, gte: 50 }, reason: reached-50 }]'), {});
  });
  afterAll(async () => {
    release();
    await stack?.stop();
    await hook?.close();
  });

  const post = async (type: string, contact: Record<string, unknown>) => {
    const res = await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id: `cc-${++n}-${Date.now()}`, type, contact })
      .expect(202);
    return res.body.accepted[0] as { runs: string[] };
  };
  const contactId = async (externalId: string) => {
    const [row] = await stack.db.db.insert(contacts).values({ externalId }).onConflictDoNothing().returning({ id: contacts.id });
    if (row) return row.id;
    return (await stack.db.db.select({ id: contacts.id }).from(contacts).where(eq(contacts.externalId, externalId)))[0]!.id;
  };
  /** What every contact writer does: the row, then one contact.updated with the changed paths. */
  const update = async (id: string, set: Partial<typeof contacts.$inferInsert>, changes: Record<string, { from: unknown; to: unknown }>, extra: Record<string, unknown> = {}, eventId = `cu-${++n}`) => {
    if (Object.keys(set).length > 0) await stack.db.db.update(contacts).set(set).where(eq(contacts.id, id));
    return ingestEvent(ingest, { id: eventId, type: 'contact.updated', contactId: id, properties: { changes, source: 'api', ...extra }, occurredAt: new Date(), source: 'system' });
  };
  const runsOf = (journeyId: string, contact: string) =>
    stack.db.db.select().from(journeyRuns).where(and(eq(journeyRuns.journeyId, journeyId), eq(journeyRuns.contactId, contact)));
  /** The contact.updated signals a run received (from its history). */
  const contactSignals = async (workflowId: string) => {
    const history = await stack.temporal.client.workflow.getHandle(workflowId).fetchHistory();
    return (history.events ?? [])
      .filter((e) => e.eventType === proto.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
      .map((e) => defaultPayloadConverter.fromPayload<JourneyEventSignal>(e.workflowExecutionSignaledEventAttributes!.input!.payloads![0]!))
      .filter((s) => s.type === 'contact.updated');
  };
  const { atStep, ended } = runWatch(() => stack);
  const result = (workflowId: string) => stack.temporal.client.workflow.getHandle(workflowId).result() as Promise<JourneyWorkflowResult>;

  it('new-lead-nurture: a lead waiting for a click whose stage becomes sql leaves the journey (already-in-sales)', async () => {
    const started = await post('lead.created', { externalId: 'cc-nurture', email: 'cc.nurture@example.com', locale: 'en', timezone: daytimeZone() });
    const workflowId = started.runs[0]!;
    const run = await atStep(workflowId, 'wait-click');
    const out = await update(run.contactId, { lifecycleStage: 'sql' }, { lifecycle_stage: { from: 'lead', to: 'sql' } });
    expect(out.runs).toEqual([workflowId]);
    expect(await result(workflowId)).toEqual({ status: 'exited', reason: 'already-in-sales' });
    expect((await ended(workflowId)).status).toBe('exited');
    // The signal carried the contact: the run needed no read of its own to see the new stage.
    const [signal] = await contactSignals(workflowId);
    expect(signal?.contact).toMatchObject({ id: run.contactId, lifecycle_stage: 'sql' });
  });

  it('a run in the middle of an action when the contact changes judges the fresh contact as soon as the action ends', async () => {
    const workflowId = (await post('slow.go', { externalId: 'cc-slow' })).runs[0]!;
    const run = await atStep(workflowId, 'call');
    await until('the webhook request', async () => (hook.requests.length > 0 ? true : undefined));
    const out = await update(run.contactId, { lifecycleStage: 'customer' }, { lifecycle_stage: { from: 'lead', to: 'customer' } });
    expect(out.runs).toEqual([workflowId]);
    release();
    expect(await result(workflowId)).toEqual({ status: 'exited', reason: 'became-customer' });
    expect((await ended(workflowId)).currentStep).toBe('pause');
  });

  it('change trigger: industry → manufacturing starts the journey; → retail does not; once means once', async () => {
    const id = await contactId('cc-industry');
    const retail = await update(id, { industry: 'retail' }, { industry: { from: null, to: 'retail' } });
    expect(retail.runs).toEqual([]);
    expect(await runsOf('to-manufacturing', id)).toEqual([]);

    const manufacturing = await update(id, { industry: 'manufacturing' }, { industry: { from: 'retail', to: 'manufacturing' } }, {}, 'cu-industry-m');
    expect(manufacturing.runs).toHaveLength(1);
    const workflowId = manufacturing.runs[0]!;
    expect(workflowId).toMatch(/^journey:to-manufacturing:/);
    await atStep(workflowId, 'pause');
    // The same event again (a sender's retry) is a duplicate; a later change to manufacturing again is not an entry.
    expect(await update(id, {}, { industry: { from: 'retail', to: 'manufacturing' } }, {}, 'cu-industry-m')).toMatchObject({ duplicate: true, runs: [] });
    await update(id, { industry: 'retail' }, { industry: { from: 'manufacturing', to: 'retail' } });
    const again = await update(id, { industry: 'manufacturing' }, { industry: { from: 'retail', to: 'manufacturing' } });
    expect(again.runs.filter((r) => r !== workflowId)).toEqual([]);
    expect(await runsOf('to-manufacturing', id)).toHaveLength(1);
  });

  it('audience trigger: enters when the contact starts matching, not again while it keeps matching', async () => {
    const id = await contactId('cc-audience');
    await stack.db.db.update(contacts).set({ region: 'east', score: 10 }).where(eq(contacts.id, id));
    const below = await update(id, { score: 40 }, { score: { from: 10, to: 40 } });
    expect(below.runs).toEqual([]);
    const crossed = await update(id, { score: 60 }, { score: { from: 40, to: 60 } });
    expect(crossed.runs).toHaveLength(1);
    await until('the east-vip run', async () => ((await runsOf('east-vip', id)).length === 1 ? true : undefined));
    // Still matching (re_entry: always would allow another run): not a new entry.
    const still = await update(id, { score: 80 }, { score: { from: 60, to: 80 } });
    expect(still.runs.filter((r) => r !== crossed.runs[0])).toEqual([]);
    // Leaving and matching again is a new entry.
    await update(id, { region: 'west' }, { region: { from: 'east', to: 'west' } });
    const back = await update(id, { region: 'east' }, { region: { from: 'west', to: 'east' } });
    expect(back.runs.filter((r) => r !== crossed.runs[0])).toHaveLength(1);
    await until('two east-vip runs', async () => ((await runsOf('east-vip', id)).length === 2 ? true : undefined));
  });

  it("a run's own tag change is not signalled back to it; another run that reads tags gets it and reaches its goal", async () => {
    const watch = (await post('watch.go', { externalId: 'cc-tags' })).runs[0]!;
    const watcher = await atStep(watch, 'pause');
    const tagger = (await post('tagger.go', { externalId: 'cc-tags' })).runs[0]!;
    await atStep(tagger, 'pause');
    const [row] = await stack.db.db.select({ tags: contacts.tags }).from(contacts).where(eq(contacts.id, watcher.contactId));
    expect(row!.tags).toContain('hot'); // written by the tag step
    // The tag step's write emitted its contact.updated, naming the run that made it, and routed it.
    const emitted = (await stack.db.db.select().from(events).where(and(eq(events.contactId, watcher.contactId), eq(events.type, 'contact.updated')))).filter(
      (e) => e.properties.source === 'journey',
    );
    expect(emitted).toHaveLength(1);
    expect(emitted[0]!.properties).toMatchObject({ changes: { tags: { from: [], to: ['hot'] } }, source: 'journey', workflowId: tagger });
    expect(await result(watch)).toEqual({ status: 'goal', reason: 'became-hot' });
    expect(await contactSignals(tagger)).toEqual([]);
    expect((await contactSignals(watch)).map((s) => s.contact?.tags)).toEqual([['hot']]);
  });

  it('a run that waits for contact.updated itself gets each update as an event (not folded into one)', async () => {
    const workflowId = (await post('west.go', { externalId: 'cc-west' })).runs[0]!;
    const run = await atStep(workflowId, 'w');
    // West and straight back east, routed together: folded into one (null → east) the awaited change would vanish.
    await stack.db.db.update(contacts).set({ region: 'west' }).where(eq(contacts.id, run.contactId));
    const first = ingestEvent(ingest, { id: `cu-${++n}`, type: 'contact.updated', contactId: run.contactId, properties: { changes: { region: { from: null, to: 'west' } }, source: 'api' }, occurredAt: new Date(), source: 'system' });
    const second = update(run.contactId, { region: 'east' }, { region: { from: 'west', to: 'east' } });
    await Promise.all([first, second]);
    expect(await result(workflowId)).toEqual({ status: 'completed', reason: 'moved-west' });
    // The awaited change arrived as its own event (in either order: the two writers race; the east update may also
    // arrive after the run has ended, and then it is not in the history).
    expect((await contactSignals(workflowId)).map((s) => (s.properties.changes as Record<string, { to: unknown }>).region?.to)).toContain('west');
  });

  it('50 rapid updates of one contact: the run gets far fewer signals, the last with the final value', async () => {
    const workflowId = (await post('counter.go', { externalId: 'cc-counter' })).runs[0]!;
    const run = await atStep(workflowId, 'pause');
    // A second run of the contact whose rules read no attribute: never signalled for these updates.
    const bystander = (await post('watch.go', { externalId: 'cc-counter' })).runs[0]!;
    await atStep(bystander, 'pause');
    const before = { ...contactRoutingTotals, skipped: { ...contactRoutingTotals.skipped } };
    // 50 writers at once, as concurrent API requests would be: each increments the counter, then routes its own change.
    await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const [row] = await stack.db.db
          .update(contacts)
          .set({ attributes: sql`jsonb_set(${contacts.attributes}, '{counter}', to_jsonb(coalesce((${contacts.attributes}->>'counter')::int, 0) + 1))` })
          .where(eq(contacts.id, run.contactId))
          .returning({ attributes: contacts.attributes });
        const to = row!.attributes.counter as number;
        await ingestEvent(ingest, {
          id: `cu-counter-${i}`, type: 'contact.updated', contactId: run.contactId, occurredAt: new Date(), source: 'system',
          properties: { changes: { 'attributes.counter': { from: to - 1, to } }, source: 'api' },
        });
      }),
    );
    expect(await result(workflowId)).toEqual({ status: 'exited', reason: 'reached-50' });
    const signals = await contactSignals(workflowId);
    console.log(`coalescing: 50 updates → ${signals.length} signals to the run that reads the field, ${(await contactSignals(bystander)).length} to the one that does not`);
    expect(signals.length).toBeGreaterThan(0);
    expect(signals.length).toBeLessThan(25);
    expect(signals.at(-1)!.contact?.attributes).toEqual({ counter: 50 });
    expect(await contactSignals(bystander)).toEqual([]);
    expect(contactRoutingTotals.updates - before.updates).toBe(50);
    // Updates folded into a later signal; an update routed after the run had already seen 50 and exited is not counted.
    expect(contactRoutingTotals.coalesced - before.coalesced).toBeGreaterThanOrEqual(25);
    expect((contactRoutingTotals.skipped.reads_no_changed_field ?? 0) - (before.skipped.reads_no_changed_field ?? 0)).toBeGreaterThanOrEqual(signals.length);
  });
});
