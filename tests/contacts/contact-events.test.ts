/**
 * Contact changes are events (issue 15, items 1 and 3): every write stores one contact.updated in its own transaction
 * and routes it; consent withdrawn stores contact.unsubscribed, which ends running journeys; events carry contacts
 * through the same pipeline as PUT; settings.unknown_contact decides whether an event may create a contact. Real
 * Postgres, the real Temporal dev server and worker.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq, sql } from 'drizzle-orm';
import { contacts, events } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { loadScoringModel } from '../../src/scoring/model';
import { SCORING_MODEL_FILE } from '../../src/paths';
import { signToken } from '../../src/channels/tokens';
import { recordContactChange } from '../../src/contacts/changes';
import { sweepUnroutedEvents } from '../../src/contacts/outbox';
import { ingestDeps } from '../../src/wiring/ingest';
import type { JourneyWorkflowResult } from '../../src/contracts';
import { startTestStack, TEST_SECRETS, type TestStack } from '../helpers/stack';
import { runWatch } from '../helpers/runs';
import { until } from '../helpers/until';

const JOURNEYS_DIR = path.join(import.meta.dirname, '../../journeys');

const journey = (id: string, event: string, unknown?: 'create' | 'reject') => `
id: ${id}
name: ${id}
triggers: [{ type: event, event: ${event} }]
${unknown ? `settings: { unknown_contact: ${unknown} }` : ''}
start: hold
steps:
  hold: { type: wait, duration: 1h, next: done }
  done: { type: exit, reason: done }
`;

describe('contact changes are events', () => {
  let stack: TestStack;
  let n = 0;
  beforeAll(async () => {
    stack = await startTestStack({ scoring: await loadScoringModel(SCORING_MODEL_FILE), unknownContact: 'honour' });
    const templates = await loadTemplateCatalog(TEMPLATES_DIR);
    await publishJourney(stack.db.db, readFileSync(path.join(JOURNEYS_DIR, 'new-lead-nurture.yaml'), 'utf8'), { templates });
    await publishJourney(stack.db.db, journey('uc-reject', 'uc.reject'), {});
    await publishJourney(stack.db.db, journey('uc-create', 'uc.create', 'create'), {});
    await publishJourney(stack.db.db, journey('uc-both-reject', 'uc.both', 'reject'), {});
    await publishJourney(stack.db.db, journey('uc-both-create', 'uc.both', 'create'), {});
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const put = (id: string, body: object) =>
    request(stack.app).put(`/v1/contacts/${id}`).set('Authorization', `Bearer ${stack.keys.integration}`).send(body);
  const post = async (type: string, contact: Record<string, unknown>, properties: Record<string, unknown> = {}) => {
    const res = await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id: `ce-${++n}-${Date.now()}`, type, contact, properties })
      .expect(202);
    expect(res.body.rejected).toEqual([]);
    return res.body.accepted[0] as { id: string; runs: string[]; notEntered?: { journeyId: string; reason: string }[] };
  };
  const updates = (contactId: string) =>
    stack.db.db.select().from(events).where(and(eq(events.contactId, contactId), eq(events.type, 'contact.updated'))).orderBy(events.receivedAt);
  const bySource = async (contactId: string, source: string) =>
    (await updates(contactId)).filter((e) => (e.properties as { source: string }).source === source);
  const { atStep, ended } = runWatch(() => stack);

  it('PUT: one contact.updated per write with every changed field, none when nothing changed, routed', async () => {
    const { body: c } = await put('ce-1', { email: 'ce.one@example.com', firstName: 'Ce' }).expect(201);
    const created = await bySource(c.id, 'api');
    expect(created).toHaveLength(1);
    expect(created[0]!.properties).toMatchObject({ source: 'api', changes: { email: { from: null, to: 'ce.one@example.com' }, first_name: { from: null, to: 'Ce' } } });

    const moved = await put('ce-1', { lifecycleStage: 'mql', attributes: { plan: 'pro' } }).expect(200);
    expect(moved.body.changes).toMatchObject({ lifecycle_stage: { from: 'lead', to: 'mql' }, 'attributes.plan': { from: null, to: 'pro' } });
    const api = await bySource(c.id, 'api');
    expect(api).toHaveLength(2);
    expect(api[1]!.properties).toEqual({ source: 'api', changes: { lifecycle_stage: { from: 'lead', to: 'mql' }, 'attributes.plan': { from: null, to: 'pro' } } });
    expect(api[1]!.id).toMatch(new RegExp(`^contact\\.updated:${c.id}:`));
    expect(api[1]!.source).toBe('system');
    // Routed after the commit through ingestEvent.
    expect(api[1]!.routedAt).not.toBeNull();

    // The same PUT again changes nothing: no event.
    const same = await put('ce-1', { lifecycleStage: 'mql', attributes: { plan: 'pro' } }).expect(200);
    expect(same.body.changes).toEqual({});
    expect(await bySource(c.id, 'api')).toHaveLength(2);
  });

  it('a journey step retried with the same idempotency key emits once, naming its run', async () => {
    const { body: c } = await put('ce-2', { email: 'ce.two@example.com' }).expect(201);
    const input = { idempotencyKey: 'wf-ce-2:mark', contactId: c.id, actor: 'journey:x', workflowId: 'journey:x:wf-ce-2', stage: 'mql' };
    await stack.activities.setLifecycleStage(input);
    await stack.activities.setLifecycleStage(input);
    await stack.activities.tagContact({ ...input, idempotencyKey: 'wf-ce-2:tag', tags: ['hot'] });
    const journeyEvents = await bySource(c.id, 'journey');
    expect(journeyEvents.map((e) => e.properties)).toEqual([
      { source: 'journey', workflowId: 'journey:x:wf-ce-2', changes: { lifecycle_stage: { from: 'lead', to: 'mql' } } },
      { source: 'journey', workflowId: 'journey:x:wf-ce-2', changes: { tags: { from: [], to: ['hot'] } } },
    ]);
    expect(journeyEvents[0]!.id).toBe(`contact.updated:${c.id}:wf-ce-2:mark`);
    expect(journeyEvents.every((e) => e.routedAt !== null)).toBe(true);
  });

  it('events carry contacts through the PUT pipeline: E.164 phones, merges, and updates of known contacts (source event)', async () => {
    const first = await post('page.viewed', { externalId: 'ev-1', phone: '138 0013 8000', region: '北京市' });
    expect(first.runs).toEqual([]);
    const [row] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'ev-1'));
    expect(row).toMatchObject({ phone: '+8613800138000', region: 'CN-BJ' });

    // The same phone under another CRM id: merged into the contact this event writes, as PUT would.
    await post('page.viewed', { externalId: 'ev-2', phone: '+86 138-0013-8000', firstName: 'Lei' });
    const [dup] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'ev-1'));
    const [survivor] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'ev-2'));
    expect(dup!.mergedInto).toBe(survivor!.id);
    expect(survivor).toMatchObject({ phone: '+8613800138000', firstName: 'Lei', region: 'CN-BJ' });
    const merges = await bySource(survivor!.id, 'merge');
    expect(merges).toHaveLength(1);
    expect((merges[0]!.properties as { changes: object }).changes).toMatchObject({ region: { from: null, to: 'CN-BJ' } });

    // Fields on an event for a known contact update it: one contact.updated, source event, keyed by the event id.
    const known = await post('page.viewed', { externalId: 'ev-2', company: 'ACME', jobTitle: 'CFO' });
    const fromEvents = await bySource(survivor!.id, 'event');
    const last = fromEvents.at(-1)!;
    expect(last.id).toBe(`contact.updated:${survivor!.id}:event:${known.id}`);
    expect((last.properties as { changes: object }).changes).toEqual({ company: { from: null, to: 'ACME' }, job_title: { from: null, to: 'CFO' } });
    const [after] = await stack.db.db.select().from(contacts).where(eq(contacts.id, survivor!.id));
    expect(after).toMatchObject({ company: 'ACME', jobTitle: 'CFO' });
  });

  it('settings.unknown_contact: reject journeys do not start (reason unknown_contact), create journeys start and create the contact', async () => {
    const rejected = await post('uc.reject', { externalId: 'uc-1', email: 'uc.one@example.com' });
    expect(rejected).toMatchObject({ runs: [], notEntered: [{ journeyId: 'uc-reject', reason: 'unknown_contact' }] });
    expect(await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'uc-1'))).toEqual([]);

    const createdRun = await post('uc.create', { externalId: 'uc-2' });
    expect(createdRun.runs).toHaveLength(1);
    expect(createdRun.runs[0]).toMatch(/^journey:uc-create:/);
    expect(await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'uc-2'))).toHaveLength(1);

    // Both kinds on one event: the contact is created for the journey that allows it, the other does not start.
    const both = await post('uc.both', { externalId: 'uc-3' });
    expect(both.runs).toHaveLength(1);
    expect(both.runs[0]).toMatch(/^journey:uc-both-create:/);
    expect(both.notEntered).toEqual([{ journeyId: 'uc-both-reject', reason: 'unknown_contact' }]);

    // Its first routing failed (the row is still unrouted) and the sender retries: the refusing journey still does not
    // start, although the contact now exists.
    await stack.db.db.update(events).set({ routedAt: null }).where(eq(events.id, both.id));
    const retried = await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id: both.id, type: 'uc.both', contact: { externalId: 'uc-3' } })
      .expect(202);
    expect(retried.body.accepted[0].runs.some((r: string) => r.startsWith('journey:uc-both-reject:'))).toBe(false);
    expect(retried.body.accepted[0].notEntered).toEqual(expect.arrayContaining([{ journeyId: 'uc-both-reject', reason: 'unknown_contact' }]));

    // A known contact enters a reject journey normally.
    await put('uc-4', { email: 'uc.four@example.com' }).expect(201);
    const knownRun = await post('uc.reject', { externalId: 'uc-4' });
    expect(knownRun.runs).toHaveLength(1);
    expect(knownRun.notEntered).toBeUndefined();
  });

  it('one-click unsubscribe stores and routes contact.unsubscribed; a running new-lead-nurture run exits with reason unsubscribed', async () => {
    // new-lead-nurture keeps quiet hours (21:00–08:00) in the contact's zone: give the contact one where it is day now,
    // so the welcome email goes at once whatever time the suite runs.
    const daytime = ['Asia/Shanghai', 'Europe/Berlin', 'America/New_York', 'America/Los_Angeles', 'Pacific/Auckland'].find((tz) => {
      const hour = Number(new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour: '2-digit', hourCycle: 'h23' }).format(new Date()));
      return hour >= 9 && hour < 19;
    });
    const started = await post('lead.created', { externalId: 'nurture-1', email: 'nurture.one@example.com', phone: '139 1111 2222', timezone: daytime });
    const workflowId = started.runs[0]!;
    expect(workflowId).toMatch(/^journey:new-lead-nurture:/);
    const run = await atStep(workflowId, 'wait-click');
    const token = signToken(TEST_SECRETS, { k: 'u', m: `${workflowId}:welcome`, c: run.contactId, l: 'newsletter' }, 3600, Date.now());
    await request(stack.app).post(`/u/${token}`).type('form').send({ 'List-Unsubscribe': 'One-Click' }).expect(200);

    const unsub = await until('contact.unsubscribed routed', async () => {
      const [e] = await stack.db.db.select().from(events).where(and(eq(events.contactId, run.contactId), eq(events.type, 'contact.unsubscribed')));
      return e?.routedAt ? e : undefined;
    });
    expect(unsub.properties).toEqual({ channel: 'email', topic: 'newsletter', source: 'unsubscribe_link' });
    // email.unsubscribed is still recorded for email stats and scoring.
    expect(await stack.db.db.select().from(events).where(and(eq(events.contactId, run.contactId), eq(events.type, 'email.unsubscribed')))).toHaveLength(1);

    const done = await ended(workflowId);
    expect(done.status).toBe('exited');
    const result: JourneyWorkflowResult = await stack.temporal.client.workflow.getHandle(workflowId).result();
    expect(result).toEqual({ status: 'exited', reason: 'unsubscribed' });
    // The SMS step after the silent week is never reached.
    expect(stack.smtp.messages.filter((m) => m.envelopeTo.includes('nurture.one@example.com'))).toHaveLength(1);
  });

  it('PUT withdrawing consent stores contact.unsubscribed for that channel (and none when it was already withdrawn)', async () => {
    const { body: c } = await put('ce-consent', { phone: '139 2222 3333', consent: { sms: 'opted_in' } }).expect(201);
    await put('ce-consent', { consent: { sms: 'opted_out' } }).expect(200);
    await put('ce-consent', { consent: { sms: 'opted_out' } }).expect(200);
    const unsub = await stack.db.db.select().from(events).where(and(eq(events.contactId, c.id), eq(events.type, 'contact.unsubscribed')));
    expect(unsub.map((e) => e.properties)).toEqual([{ channel: 'sms', source: 'api' }]);
    expect(unsub[0]!.routedAt).not.toBeNull();
    // Consent is not a journey field: no contact.updated for it.
    expect(await bySource(c.id, 'api')).toHaveLength(1);
  });

  it('the outbox sweeper routes a contact.updated whose writer died before routing it, and leaves young rows to their writer', async () => {
    const { body: c } = await put('sweep-1', { email: 'sweep@example.com' }).expect(201);
    const [before] = await stack.db.db.select().from(contacts).where(eq(contacts.id, c.id));
    // A write that committed its outbox row, then the process died: nothing routed it.
    const stored = await stack.db.db.transaction(async (tx) => {
      const [after] = await tx.update(contacts).set({ industry: 'Retail' }).where(eq(contacts.id, c.id)).returning();
      return (await recordContactChange(tx, { before: before!, after: after!, source: 'api', key: 'died-before-routing' })).events;
    });
    expect(stored).toHaveLength(1);
    const id = stored[0]!.id;
    const ingest = ingestDeps({ db: stack.db.db, temporal: stack.temporal.client, taskQueue: stack.temporal.taskQueue });
    const routedAt = async () => (await stack.db.db.select({ at: events.routedAt }).from(events).where(eq(events.id, id)))[0]!.at;

    expect(await sweepUnroutedEvents(ingest, { olderThanMs: 60_000 })).toBe(0);
    expect(await routedAt()).toBeNull();
    await stack.db.db.update(events).set({ receivedAt: sql`now() - interval '2 minutes'` }).where(eq(events.id, id));
    expect(await sweepUnroutedEvents(ingest, { olderThanMs: 60_000 })).toBe(1);
    expect(await routedAt()).not.toBeNull();
    expect(await sweepUnroutedEvents(ingest, { olderThanMs: 60_000 })).toBe(0);
  });
});
