import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq } from 'drizzle-orm';
import { generateWebhookSecret, verifyWebhook } from '../../src/channels/webhooks';
import { contacts, journeyRuns, salesHandoffs } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { parseSalesConfig } from '../../src/sales';
import { startTestStack, type TestStack } from '../helpers/stack';
import { json, startHttp, type TestHttp } from '../channels/support/http';
import { until } from '../helpers/until';

const SALES = `
teams:
  east:
    name: East
    manager: { id: mgr.east, name: Boss, chat: { wecom: WxBoss } }
    reps:
      - { id: li.na, name: Li Na, capacity: 10, chat: { wecom: WxLiNa } }
      - { id: chen.hao, name: Chen Hao, capacity: 10, chat: { wecom: WxChenHao } }
  holiday:
    name: Everyone away
    reps: [{ id: away.1, name: Away, capacity: 0 }]
`;

const journey = (id: string, event: string, team: string) => `
id: ${id}
name: ${id}
triggers:
  - type: event
    event: ${event}
start: assign
steps:
  assign:
    type: handoff_to_sales
    assignment: { strategy: round_robin, team: ${team} }
    task: { title: "Call {{contact.first_name}} about {{journey.id}}", due: 2d }
    next: tell-rep
    on_failure: unassigned
  tell-rep:
    type: notify
    channel: wecom
    to: owner
    template: mql-assigned
    next: wait-answer
  wait-answer:
    type: wait_for_event
    event: handoff.accepted
    timeout: 1h
    on_event: accepted
    on_timeout: no-answer
  accepted:
    type: goal
    goal: accepted
  no-answer:
    type: exit
    reason: no-answer
  unassigned:
    type: exit
    reason: unassigned
`;

describe('a journey hands a lead to sales, the CRM accepts, and the run reacts (Temporal, Postgres, HTTP)', () => {
  const secret = generateWebhookSecret();
  let stack: TestStack;
  let crm: TestHttp;
  let robot: TestHttp;

  beforeAll(async () => {
    [crm, robot] = await Promise.all([
      startHttp((_req, res) => json(res, 200, { received: true })),
      startHttp((_req, res) => json(res, 200, { errcode: 0, errmsg: 'ok' })),
    ]);
    stack = await startTestStack({
      sales: { directory: parseSalesConfig(SALES, 'sales.yaml'), crmWebhook: { url: `${crm.url}/crm/handoffs`, secrets: [secret] } },
      chatWebhooks: { wecom: { default: `${robot.url}/cgi-bin/webhook/send?key=k`, groups: {} } },
    });
    await publishJourney(stack.db.db, journey('e2e-handoff', 'lead.mql', 'east'), {});
    await publishJourney(stack.db.db, journey('e2e-handoff-full', 'lead.overflow', 'holiday'), {});
  });
  afterAll(async () => {
    await stack?.stop();
    await crm?.close();
    await robot?.close();
  });

  const ingest = (body: object) => request(stack.app).post('/v1/events').set('Authorization', `Bearer ${stack.keys.integration}`).send(body).expect(202);
  const runOf = (journeyId: string, contactId: string) =>
    until(`a finished ${journeyId} run`, async () => {
      const [run] = await stack.db.db.select().from(journeyRuns).where(and(eq(journeyRuns.journeyId, journeyId), eq(journeyRuns.contactId, contactId)));
      return run && run.status !== 'running' ? run : undefined;
    });

  it('assigns the rep, signs the CRM webhook, @-mentions the rep, and reaches the goal on handoff.accepted', async () => {
    await ingest({ id: 'mql-1', type: 'lead.mql', contact: { externalId: 'lead-1', email: 'wang.wei@example.cn', firstName: 'Wei' } });
    const [c] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'lead-1'));

    const hook = await until('the CRM webhook', async () => crm.requests[0]);
    expect(verifyWebhook(hook.headers, hook.body, [secret])).toMatchObject({ ok: true });
    const payload = JSON.parse(hook.body) as { handoff: { id: string; status: string; dueAt: string }; rep: { id: string; name: string }; contact: { id: string } };
    // The task title is rendered for the contact and reaches the CRM with its due time (2 days after the hand-off).
    expect(payload).toMatchObject({ handoff: { status: 'pending', taskTitle: 'Call Wei about e2e-handoff' }, rep: { id: 'li.na', name: 'Li Na' }, contact: { id: c!.id } });
    expect(Date.parse(payload.handoff.dueAt) - Date.now()).toBeGreaterThan(47 * 3600_000);
    expect(hook.headers['webhook-id']).toMatch(new RegExp(`^journey:e2e-handoff:${c!.id}.*:assign:\\d+$`));

    const chat = await until('the chat notification', async () => robot.requests[0]);
    // The rep's name from the directory in the text, their WeCom handle as the mention.
    expect(JSON.parse(chat.body)).toMatchObject({ msgtype: 'text', text: { content: expect.stringMatching(/^New MQL for Li Na: Wei /), mentioned_list: ['WxLiNa'] } });
    const [owner] = await stack.db.db.select({ ownerId: contacts.ownerId }).from(contacts).where(eq(contacts.id, c!.id));
    expect(owner!.ownerId).toBe('li.na');

    // The run is now waiting for the CRM's answer.
    const waiting = await until('the run waiting for the answer', async () => {
      const [run] = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.contactId, c!.id));
      return run?.currentStep === 'wait-answer' ? run : undefined;
    });
    const res = await request(stack.app)
      .post(`/v1/handoffs/${payload.handoff.id}/feedback`)
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ outcome: 'accepted', opportunityId: 'opp-1' })
      .expect(200);
    expect(res.body.event.runs).toEqual([waiting.workflowId]);
    const run = await runOf('e2e-handoff', c!.id);
    expect(run.status).toBe('goal');
    const [after] = await stack.db.db.select().from(contacts).where(eq(contacts.id, c!.id));
    expect(after!.lifecycleStage).toBe('sql');
    expect(crm.requests).toHaveLength(1);
  });

  it('takes the on_failure path when every rep of the team is at capacity', async () => {
    await ingest({ id: 'over-1', type: 'lead.overflow', contact: { externalId: 'lead-2', email: 'li.lei@example.cn' } });
    const [c] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'lead-2'));
    const run = await runOf('e2e-handoff-full', c!.id);
    expect(run).toMatchObject({ status: 'completed', currentStep: 'unassigned' });
    expect(await stack.db.db.select().from(salesHandoffs).where(eq(salesHandoffs.contactId, c!.id))).toEqual([]);
    expect(crm.requests).toHaveLength(1);
  });
});
