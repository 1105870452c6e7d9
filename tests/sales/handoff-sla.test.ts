import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { eq } from 'drizzle-orm';
import { contacts, messages, salesHandoffs } from '../../src/db/schema';
import { publishJourney } from '../../src/engine/journeys';
import { parseSalesConfig } from '../../src/sales';
import { startTestStack, type TestStack } from '../helpers/stack';
import { json, startHttp, type TestHttp } from '../channels/support/http';
import { until } from '../helpers/until';
import { scaledSeconds } from '../helpers/timing';

const SALES = `
teams:
  east:
    name: East
    manager: { id: mgr.east, name: Boss, chat: { wecom: WxBoss } }
    reps:
      - { id: li.na, name: Li Na, capacity: 10, chat: { wecom: WxLiNa } }
`;

/**
 * The SLA is 3 s for the escalation test; the journey itself ends at once, the escalation must not depend on the run.
 * The test whose CRM answers in time has to post that answer before the SLA is due, so it gets a journey of its own
 * with 6 s stretched by TIME_SCALE: with 3 s a busy machine could let the SLA pass first.
 */
const journey = (id: string, event: string, sla: string) => `
id: ${id}
name: SLA hand-off (${id})
triggers: [{ type: event, event: ${event} }]
entry: { re_entry: always, max_concurrent: 5 }
start: assign
steps:
  assign:
    type: handoff_to_sales
    assignment: { strategy: round_robin, team: east }
    sla: { after: ${sla}, channel: wecom }
    next: done
    on_failure: done
  done: { type: exit }
`;
const JOURNEY = journey('sla-handoff', 'lead.mql', '3s');
const ANSWERED = journey('sla-handoff-answered', 'lead.qualified', `${scaledSeconds(6)}s`);

describe('hand-off SLA: escalate to the manager when sales has not answered in time', () => {
  let stack: TestStack;
  let robot: TestHttp;
  beforeAll(async () => {
    robot = await startHttp((_req, res) => json(res, 200, { errcode: 0, errmsg: 'ok' }));
    stack = await startTestStack({
      sales: { directory: parseSalesConfig(SALES, 'sales.yaml') },
      chatWebhooks: { wecom: { default: `${robot.url}/cgi-bin/webhook/send?key=k`, groups: {} } },
    });
    await publishJourney(stack.db.db, JOURNEY, {});
    await publishJourney(stack.db.db, ANSWERED, {});
  });
  afterAll(async () => {
    await stack?.stop();
    await robot?.close();
  });
  const mql = async (id: string, ext: string, type = 'lead.mql') => {
    await request(stack.app).post('/v1/events').set('Authorization', `Bearer ${stack.keys.integration}`).send({ id, type, contact: { externalId: ext, firstName: 'Wei', company: 'ACME' } }).expect(202);
    const [c] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, ext));
    return until(`the hand-off of ${ext}`, async () => (await stack.db.db.select().from(salesHandoffs).where(eq(salesHandoffs.contactId, c!.id)))[0]);
  };

  it('a pending hand-off is escalated once, and the manager is @-mentioned', async () => {
    const h = await mql('sla-1', 'sla-lead-1');
    expect(h.status).toBe('pending');
    const escalated = await until('the escalation', async () => {
      const [row] = await stack.db.db.select().from(salesHandoffs).where(eq(salesHandoffs.id, h.id));
      return row?.status === 'escalated' ? row : undefined;
    });
    expect(escalated.escalatedAt!.getTime() - h.createdAt.getTime()).toBeGreaterThanOrEqual(2500);
    const chat = await until('the manager message', async () => robot.requests.find((r) => r.body.includes('SLA passed')));
    expect(JSON.parse(chat.body)).toMatchObject({ msgtype: 'text', text: { content: expect.stringContaining('Wei'), mentioned_list: ['WxBoss'] } });
    expect(JSON.parse(chat.body).text.content).toContain('Li Na');
    const sent = await stack.db.db.select().from(messages).where(eq(messages.idempotencyKey, `handoff-sla:${h.id}`));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.status).toBe('sent');
    const result = await stack.temporal.client.workflow.getHandle(`handoff-sla:${h.id}`).result();
    expect(result.escalated).toBe(true);
  });

  it('a hand-off the CRM accepted in time is not escalated', async () => {
    const h = await mql('sla-2', 'sla-lead-2', 'lead.qualified');
    await request(stack.app).post(`/v1/handoffs/${h.id}/feedback`).set('Authorization', `Bearer ${stack.keys.integration}`).send({ outcome: 'accepted' }).expect(200);
    const result = await stack.temporal.client.workflow.getHandle(`handoff-sla:${h.id}`).result();
    expect(result).toEqual({ escalated: false, reason: 'the CRM answered in time (accepted)' });
    const [row] = await stack.db.db.select().from(salesHandoffs).where(eq(salesHandoffs.id, h.id));
    expect(row!.escalatedAt).toBeNull();
    expect(await stack.db.db.select().from(messages).where(eq(messages.idempotencyKey, `handoff-sla:${h.id}`))).toEqual([]);
  });
});
