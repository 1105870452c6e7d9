import { createHmac } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contacts, journeyRuns, messages } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';
import { json, startHttp, type TestHttp } from './support/http';

/**
 * A Feishu custom bot (open.feishu.cn/open-apis/bot/v2/hook/<token>) with 签名校验, speaking the real protocol: each
 * bot token has its own secret; the server recomputes base64(HMAC-SHA256(key = `${timestamp}\n${secret}`, "")) and
 * answers HTTP 200 with `{ code, msg }`. `rotated` is a bot whose secret was changed in Feishu (ours no longer matches);
 * `flaky` fails with a 503 gateway page once, then works.
 */
const SECRET = 'fs-journey-secret';
const BOT_SECRETS: Record<string, string> = { ops: SECRET, flaky: SECRET, rotated: 'changed-in-feishu' };
let flakyFailures = 1;

function feishuBot() {
  return startHttp((req, res) => {
    const token = /^\/open-apis\/bot\/v2\/hook\/([^/?]+)$/.exec(req.url)?.[1];
    const secret = token ? BOT_SECRETS[token] : undefined;
    if (!secret) return json(res, 200, { code: 19001, data: {}, msg: 'param invalid: incoming webhook access token invalid' });
    if (token === 'flaky' && flakyFailures-- > 0) {
      res.writeHead(503, { 'content-type': 'text/html' });
      return res.end('<html><body>503 Service Temporarily Unavailable</body></html>');
    }
    const p = JSON.parse(req.body) as { timestamp?: string; sign?: string; msg_type?: string };
    const want = createHmac('sha256', `${p.timestamp}\n${secret}`).update('').digest('base64');
    if (p.sign !== want || Math.abs(Date.now() / 1000 - Number(p.timestamp)) > 3600) {
      return json(res, 200, { code: 19021, data: {}, msg: 'sign match fail or timestamp is not within one hour from current time' });
    }
    if (p.msg_type !== 'text' && p.msg_type !== 'post') return json(res, 200, { code: 19002, data: {}, msg: 'params error, msg_type need' });
    json(res, 200, { StatusCode: 0, StatusMessage: 'success', code: 0, data: {}, msg: 'success' });
  });
}

const journey = (id: string, event: string, group: string) => `
id: ${id}
name: ${id}
triggers:
  - type: event
    event: ${event}
start: tell
steps:
  tell:
    type: notify
    channel: feishu
    to: { group: ${group} }
    message: "New lead {{contact.first_name}}"
    next: told
    on_failure: not-told
  told:
    type: goal
    goal: told
  not-told:
    type: exit
    reason: not-told
`;

describe('notify through a Feishu/Lark custom bot (Temporal, Postgres, HTTP)', () => {
  let stack: TestStack;
  let bot: TestHttp;

  beforeAll(async () => {
    bot = await feishuBot();
    const hook = (token: string) => `${bot.url}/open-apis/bot/v2/hook/${token}`;
    stack = await startTestStack({
      chatWebhooks: { feishu: { default: hook('ops'), groups: { ops: hook('ops'), rotated: hook('rotated'), flaky: hook('flaky') }, secret: SECRET } },
    });
    await publishJourney(stack.db.db, journey('fs-ok', 'feishu.ok', 'ops'), {});
    await publishJourney(stack.db.db, journey('fs-sign', 'feishu.sign', 'rotated'), {});
    await publishJourney(stack.db.db, journey('fs-flaky', 'feishu.flaky', 'flaky'), {});
  });
  afterAll(async () => {
    await stack?.stop();
    await bot?.close();
  });

  const enter = async (event: string, externalId: string) => {
    await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id: `${event}-${externalId}`, type: event, contact: { externalId, email: `${externalId}@example.cn`, firstName: 'Wei' } })
      .expect((r) => expect(r.status, JSON.stringify(r.body)).toBe(202));
    return until(`contact ${externalId}`, async () => (await stack.db.db.select().from(contacts).where(eq(contacts.externalId, externalId)))[0]);
  };
  const finished = (journeyId: string, contactId: string) =>
    until(`a finished ${journeyId} run`, async () => {
      const [run] = await stack.db.db.select().from(journeyRuns).where(and(eq(journeyRuns.journeyId, journeyId), eq(journeyRuns.contactId, contactId)));
      return run && run.status !== 'running' ? run : undefined;
    });
  const chatMessage = async (contactId: string) => (await stack.db.db.select().from(messages).where(and(eq(messages.contactId, contactId), eq(messages.channel, 'chat'))))[0];

  it('sends a signed text message; code 0 marks it sent and the journey goes on', async () => {
    const c = await enter('feishu.ok', 'fs-1');
    expect(await finished('fs-ok', c.id)).toMatchObject({ status: 'goal' });
    const req = bot.requests.find((r) => r.url === '/open-apis/bot/v2/hook/ops')!;
    const body = JSON.parse(req.body) as Record<string, unknown>;
    expect(body).toMatchObject({ msg_type: 'text', content: { text: 'New lead Wei' } });
    expect(body.sign).toBe(createHmac('sha256', `${String(body.timestamp)}\n${SECRET}`).update('').digest('base64'));
    expect(await chatMessage(c.id)).toMatchObject({ provider: 'feishu', status: 'sent', recipient: 'feishu:{"group":"ops"}' });
  });

  it('code 19021 (sign match fail) on HTTP 200 fails the step permanently: message failed, on_failure taken, no retry', async () => {
    const c = await enter('feishu.sign', 'fs-2');
    expect(await finished('fs-sign', c.id)).toMatchObject({ status: 'completed', currentStep: 'not-told' });
    const msg = await chatMessage(c.id);
    expect(msg).toMatchObject({ provider: 'feishu', status: 'failed', attempts: 1 });
    expect(msg!.error).toContain('errcode 19021');
    expect(msg!.error).not.toContain(SECRET);
    expect(bot.requests.filter((r) => r.url === '/open-apis/bot/v2/hook/rotated')).toHaveLength(1);
  });

  it('HTTP 503 is retried and the retry is delivered', async () => {
    const c = await enter('feishu.flaky', 'fs-3');
    expect(await finished('fs-flaky', c.id)).toMatchObject({ status: 'goal' });
    expect(bot.requests.filter((r) => r.url === '/open-apis/bot/v2/hook/flaky')).toHaveLength(2);
    expect(await chatMessage(c.id)).toMatchObject({ provider: 'feishu', status: 'sent', attempts: 2 });
  });
});
