import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq } from 'drizzle-orm';
import { createAliyunSmsSender } from '../../src/channels/aliyun-sms';
import { contacts, events, messages, smsProviderEvents } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { renderInline } from '../../src/templates/inline';
import { TEMPLATES_DIR } from '../../src/paths';
import { localOutbound } from '../helpers/outbound';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

const TOKEN = 'aliyun-callback-token-0123456789';

/** dysmsapi's SendSms as far as the journey needs it: accepts and answers a BizId (its signature is checked in tests/channels). */
async function startAliyun() {
  const sent: { phone: string; bizId: string }[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const p = new URLSearchParams(raw);
      const bizId = `90061974693649${sent.length + 1}^0`;
      sent.push({ phone: p.get('PhoneNumbers') ?? '', bizId });
      res.writeHead(200, { 'content-type': 'application/json;charset=utf-8' }).end(JSON.stringify({ RequestId: `r-${sent.length}`, Message: 'OK', BizId: bizId, Code: 'OK' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, sent, close: () => new Promise((r) => server.close(r)) };
}

const JOURNEY = `
id: aliyun-rx
name: Aliyun receipts
triggers: [{ type: event, event: reminder.due }]
start: text
steps:
  text: { type: send_sms, template: reactivation-reminder, next: wait }
  wait: { type: wait_for_event, event: sms.delivered, timeout: 1h, on_event: mark, on_timeout: done }
  mark: { type: tag, tags: [sms-delivered], next: done }
  done: { type: exit }
`;

describe('Aliyun SMS delivery reports and replies (HTTP batch push)', () => {
  let stack: TestStack;
  let aliyun: Awaited<ReturnType<typeof startAliyun>>;
  beforeAll(async () => {
    aliyun = await startAliyun();
    stack = await startTestStack({
      sms: createAliyunSmsSender({
        endpoint: aliyun.url, accessKeyId: 'LTAI5tTest', accessKeySecret: 'secret', signName: '阿里云短信测试', render: renderInline, http: localOutbound,
        templates: { 'reactivation-reminder': { code: 'SMS_71390007', params: { customer: '{{contact.first_name}}' } } },
      }),
      smsProvider: 'aliyun',
      aliyun: { token: TOKEN },
    });
    await publishJourney(stack.db.db, JOURNEY, { templates: await loadTemplateCatalog(TEMPLATES_DIR) });
  });
  afterAll(async () => {
    await aliyun?.close();
    await stack?.stop();
  });

  const contact = async (externalId: string, phone: string) =>
    (await request(stack.app).put(`/v1/contacts/${externalId}`).set('Authorization', `Bearer ${stack.keys.integration}`).send({ phone, firstName: '伟', consent: { sms: 'opted_in' } }).expect(201)).body.id as string;
  const sentTo = (contactId: string) =>
    until(`the SMS to ${contactId}`, async () => {
      const [m] = await stack.db.db.select().from(messages).where(and(eq(messages.contactId, contactId), eq(messages.channel, 'sms')));
      return m?.status === 'sent' ? m : undefined;
    });
  const report = (token: string, body: unknown) => request(stack.app).post(`/v1/sms/aliyun/report/${token}`).set('content-type', 'application/json').send(JSON.stringify(body));
  const up = (token: string, body: unknown) => request(stack.app).post(`/v1/sms/aliyun/up/${token}`).set('content-type', 'application/json').send(JSON.stringify(body));
  const item = (phone: string, bizId: string, success: boolean, extra: Record<string, unknown> = {}) => ({
    phone_number: phone, send_time: '2026-12-07 10:00:00', report_time: '2026-12-07 10:00:05', success,
    err_code: success ? 'DELIVERED' : 'MK:0001', err_msg: success ? '用户接收成功' : '空号', sms_size: '1', biz_id: bizId, out_id: '', ...extra,
  });

  it('reports set delivered / failed once and reach the run waiting for sms.delivered; a wrong token is refused', async () => {
    const a = await contact('ali-1', '+8615300000001');
    const b = await contact('ali-2', '+8615300000002');
    for (const [ext, id] of [['ali-1', 'e-1'], ['ali-2', 'e-2']]) {
      await request(stack.app).post('/v1/events').set('Authorization', `Bearer ${stack.keys.integration}`).send({ id, type: 'reminder.due', contact: { externalId: ext } }).expect(202);
    }
    const ma = await sentTo(a);
    const mb = await sentTo(b);
    expect(ma.provider).toBe('aliyun');

    expect((await report('wrong-token-0123456789abcdef', [item('15300000001', ma.providerMessageId!, true)])).status).toBe(403);
    expect((await stack.db.db.select().from(messages).where(eq(messages.id, ma.id)))[0]!.status).toBe('sent');

    // One push carries both reports (and one for a BizId we never sent); Aliyun expects {"code":0}.
    const res = await report(TOKEN, [item('15300000001', ma.providerMessageId!, true), item('15300000002', mb.providerMessageId!, false), item('15300000003', '123^0', true)]);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ code: 0, msg: '接收成功' });
    expect((await stack.db.db.select().from(messages).where(eq(messages.id, ma.id)))[0]).toMatchObject({ status: 'delivered' });
    expect((await stack.db.db.select().from(messages).where(eq(messages.id, mb.id)))[0]).toMatchObject({ status: 'failed', error: 'aliyun: MK:0001 空号' });
    expect((await stack.db.db.select().from(smsProviderEvents).where(eq(smsProviderEvents.providerMessageId, '123^0')))[0]).toMatchObject({ provider: 'aliyun', matched: false });

    // Re-pushed (Aliyun retries after 1, 5, 10 minutes) and contradicted: nothing changes, no second event.
    await report(TOKEN, [item('15300000001', ma.providerMessageId!, false)]).expect(200);
    expect((await stack.db.db.select().from(messages).where(eq(messages.id, ma.id)))[0]!.status).toBe('delivered');
    const delivered = await stack.db.db.select().from(events).where(and(eq(events.contactId, a), eq(events.type, 'sms.delivered')));
    expect(delivered.map((e) => e.properties)).toEqual([{ message_key: ma.idempotencyKey, provider: 'aliyun', step_id: 'text' }]);
    const failed = await stack.db.db.select().from(events).where(and(eq(events.contactId, b), eq(events.type, 'sms.failed')));
    expect(failed.map((e) => e.properties)).toEqual([{ message_key: mb.idempotencyKey, provider: 'aliyun', step_id: 'text', status: 'failed', error_code: 'MK:0001' }]);
    await until('the run tagged the delivered contact', async () => {
      const [c] = await stack.db.db.select().from(contacts).where(eq(contacts.id, a));
      return c?.tags.includes('sms-delivered') ? c : undefined;
    });

    // Malformed: 400 naming the field.
    const bad = await report(TOKEN, [{ phone_number: '153', success: 'yes', biz_id: 'x' }]);
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe('0.success');
  });

  it('replies: 退订 / TD opt the number out of SMS once, 订阅 back in', async () => {
    const id = await contact('ali-3', '+8615300000004');
    const consent = async () => (await stack.db.db.select().from(contacts).where(eq(contacts.id, id)))[0]!.consent.sms;
    const reply = (content: string, seq: number) => ({ phone_number: '15300000004', send_time: '2026-12-07 10:01:00', content, sign_name: '阿里云短信测试', dest_code: '1234', sequence_id: seq });
    expect((await up('nope-nope-nope-nope-nope-nope', [reply('退订', 1)])).status).toBe(403);
    expect(await consent()).toBe('opted_in');
    expect((await up(TOKEN, [reply(' 退订 ', 1)])).body).toEqual({ code: 0, msg: '接收成功' });
    expect(await consent()).toBe('opted_out');
    await up(TOKEN, [reply(' 退订 ', 1)]).expect(200);
    const unsubscribed = await stack.db.db.select().from(events).where(and(eq(events.contactId, id), eq(events.type, 'contact.unsubscribed')));
    expect(unsubscribed.map((e) => e.properties)).toEqual([expect.objectContaining({ channel: 'sms', source: 'sms_keyword' })]);
    await up(TOKEN, [reply('订阅', 2)]).expect(200);
    expect(await consent()).toBe('opted_in');
    await up(TOKEN, [reply('TD', 3)]).expect(200);
    expect(await consent()).toBe('opted_out');
  });
});
