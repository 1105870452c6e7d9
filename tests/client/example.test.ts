import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { eq } from 'drizzle-orm';
import { acceptHandoff, createItineraClient, dryRunImport, handoffReceiver, syncLead } from '../../client/example';
import type { HandoffCreated } from '../../client/src/index';
import { generateWebhookSecret, signWebhook } from '../../src/channels/webhooks';
import { contacts, journeyRuns, salesHandoffs } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { parseSalesConfig } from '../../src/sales';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

const SALES = `
teams:
  east:
    name: East
    reps:
      - { id: li.na, name: Li Na, capacity: 10 }
`;

const JOURNEY = `
id: crm-mql
name: MQL to sales
triggers:
  - type: event
    event: lead.mql
start: assign
steps:
  assign:
    type: handoff_to_sales
    assignment: { strategy: round_robin, team: east }
    task: { title: "Call {{contact.first_name}}", due: 2d }
    next: wait-answer
    on_failure: gone
  wait-answer:
    type: wait_for_event
    event: handoff.accepted
    timeout: 1h
    on_event: won
    on_timeout: gone
  won:
    type: goal
    goal: accepted
  gone:
    type: exit
    reason: no-answer
`;

const listen = (s: Server) => new Promise<string>((resolve) => s.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)));
const close = (s: Server | undefined) => new Promise<void>((resolve) => (s?.listening ? s.close(() => resolve()) : resolve()));

describe('the typed client README example against a live server (HTTP API, Temporal, Postgres)', () => {
  const secret = generateWebhookSecret();
  const received: { h: HandoffCreated; id: string }[] = [];
  let receiver: Server;
  let api: Server;
  let stack: TestStack;
  let receiverUrl: string;
  let apiUrl: string;

  beforeAll(async () => {
    receiver = handoffReceiver([secret], (h, id) => received.push({ h, id }));
    receiverUrl = await listen(receiver);
    stack = await startTestStack({ sales: { directory: parseSalesConfig(SALES, 'sales.yaml'), crmWebhook: { url: `${receiverUrl}/crm/handoffs`, secrets: [secret] } } });
    await publishJourney(stack.db.db, JOURNEY, {});
    api = (await import('node:http')).createServer(stack.app);
    apiUrl = await listen(api);
  });
  afterAll(async () => {
    await close(api);
    await close(receiver);
    await stack?.stop();
  });

  it('upserts, posts the event, verifies the signed hand-off webhook and accepts it', async () => {
    const client = createItineraClient({ baseUrl: apiUrl, apiKey: stack.keys.integration });
    const { contactId, runs } = await syncLead(client, 'crm-42');
    const [c] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'crm-42'));
    // Normalized by the one contact pipeline, as PUT always does.
    expect(c).toMatchObject({ id: contactId, email: 'li.na@example.cn', phone: '+8613800138000', region: 'CN-BJ' });
    expect(runs).toHaveLength(1);

    const hook = await until('the verified hand-off webhook', async () => received[0]);
    expect(hook.h).toMatchObject({ type: 'handoff.created', rep: { id: 'li.na' }, contact: { id: contactId, externalId: 'crm-42', firstName: 'Na' }, handoff: { taskTitle: 'Call Na' } });
    expect(hook.id).toMatch(/^journey:crm-mql:/);

    await until('the run waiting for the answer', async () => {
      const [r] = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.contactId, contactId));
      return r?.currentStep === 'wait-answer' ? r : undefined;
    });
    expect(await acceptHandoff(client, hook.h.handoff.id, 'opp-7731')).toBe('accepted');
    const run = await until('the goal', async () => {
      const [r] = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.contactId, contactId));
      return r?.status === 'goal' ? r : undefined;
    });
    expect(run.workflowId).toBe(runs[0]);
    const [h] = await stack.db.db.select().from(salesHandoffs).where(eq(salesHandoffs.id, hook.h.handoff.id));
    expect(h!.status).toBe('accepted');
  });

  it('uploads a CSV as a dry run through the typed client and reads its counts', async () => {
    // Imports are a marketer's (or admin's) job, not the CRM integration's.
    const client = createItineraClient({ baseUrl: apiUrl, apiKey: stack.keys.marketer });
    const done = await dryRunImport(client, 'crm_id,email,first_name\ncrm-42,li.na@example.cn,Na\ncrm-43,not-an-email,Lei\ncrm-44,wang@example.cn,Wei\n');
    expect(done).toMatchObject({ status: 'completed', dryRun: true, totalRows: 3, rejected: 1, created: 1, updated: 1 });
  });

  it('the receiver refuses a webhook not signed with its secret, and one replayed too late', async () => {
    const body = JSON.stringify({ type: 'handoff.created', handoff: { id: 'forged' } });
    const send = (headers: Record<string, string>) => fetch(`${receiverUrl}/crm/handoffs`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const before = received.length;
    const forged = await send(signWebhook({ id: 'msg-1', timestamp: new Date(), body, secrets: [generateWebhookSecret()] }));
    expect([forged.status, await forged.text()]).toEqual([401, 'tampered']);
    const stale = await send(signWebhook({ id: 'msg-2', timestamp: new Date(Date.now() - 3600_000), body, secrets: [secret] }));
    expect([stale.status, await stale.text()]).toEqual([401, 'expired']);
    const unsigned = await send({});
    expect([unsigned.status, await unsigned.text()]).toEqual([401, 'missing_headers']);
    const good = await send(signWebhook({ id: 'msg-3', timestamp: new Date(), body, secrets: [secret] }));
    expect(good.status).toBe(200);
    expect(received.length).toBe(before + 1);
  });
});
