import http from 'node:http';
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import type { Mailer } from '../../src/activities/deps';
import { aliyunPhone, aliyunSignature, createAliyunSmsSender } from '../../src/channels/aliyun-sms';
import { SmsPermanentError, SmsTransientError } from '../../src/channels/sms';
import { findMessageByKey, upsertContactByExternalId } from '../../src/db/queries';
import { TEMPLATES_DIR } from '../../src/paths';
import { renderInline } from '../../src/templates/inline';
import { createTextRenderer } from '../../src/templates/text';
import { sampleRenderer } from '../helpers/renderer';
import { createTestDatabase } from '../helpers/db';
import { localOutbound } from '../helpers/outbound';

const KEY_ID = 'LTAI5tTestKeyId';
const SECRET = 'aliyun-test-secret';

/**
 * dysmsapi's SendSms as Aliyun answers it: a form POST signed with signature version 1.0 (checked here by its own
 * implementation of the documented algorithm), answered in JSON with Code OK and a BizId, or an error Code.
 */
async function startAliyun() {
  const received: Record<string, string>[] = [];
  const enc = (s: string) => encodeURIComponent(s).replace(/\+/g, '%20').replace(/\*/g, '%2A').replace(/%7E/g, '~').replace(/[!'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const p = Object.fromEntries(new URLSearchParams(raw));
      const { Signature, ...rest } = p;
      const canonical = Object.keys(rest).sort().map((k) => `${enc(k)}=${enc(rest[k]!)}`).join('&');
      const expected = createHmac('sha1', `${SECRET}&`).update(`POST&%2F&${enc(canonical)}`).digest('base64');
      const answer = (status: number, body: object) => res.writeHead(status, { 'content-type': 'application/json;charset=utf-8' }).end(JSON.stringify(body));
      if (Signature !== expected || p.AccessKeyId !== KEY_ID) return answer(400, { RequestId: 'r0', Code: 'SignatureDoesNotMatch', Message: 'Specified signature is not matched with our calculation.' });
      received.push(p);
      if (p.PhoneNumbers === '15300000009') return answer(200, { RequestId: 'r1', Code: 'isv.MOBILE_NUMBER_ILLEGAL', Message: '非法手机号' });
      if (p.PhoneNumbers === '15300000008') return answer(200, { RequestId: 'r2', Code: 'isv.BUSINESS_LIMIT_CONTROL', Message: '触发号码天级流控Permits:10' });
      answer(200, { RequestId: `r-${received.length}`, Message: 'OK', BizId: `90061974693649${received.length}^0`, Code: 'OK' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, received, close: () => new Promise((r) => server.close(r)) };
}

describe('Aliyun SMS', () => {
  let aliyun: Awaited<ReturnType<typeof startAliyun>>;
  const templates = { 'reactivation-reminder': { code: 'SMS_71390007', params: { customer: '{{contact.first_name}}' } } };
  const sender = (secret = SECRET) =>
    createAliyunSmsSender({ endpoint: aliyun.url, accessKeyId: KEY_ID, accessKeySecret: secret, signName: '阿里云短信测试', templates, render: renderInline, http: localOutbound });
  beforeAll(async () => {
    aliyun = await startAliyun();
  });
  afterAll(async () => {
    await aliyun.close();
  });

  it("signs as Aliyun's documented SendSms example", () => {
    const params = {
      AccessKeyId: 'testId', Action: 'SendSms', Format: 'XML', OutId: '123', PhoneNumbers: '15300000001', RegionId: 'cn-hangzhou',
      SignName: '阿里云短信测试专用', SignatureMethod: 'HMAC-SHA1', SignatureNonce: '45e25e9b-0a6f-4070-8c85-2956eda1b466', SignatureVersion: '1.0',
      TemplateCode: 'SMS_71390007', TemplateParam: '{"customer":"test"}', Timestamp: '2017-07-12T02:42:19Z', Version: '2017-05-25',
    };
    expect(aliyunSignature('GET', params, 'testSecret')).toBe('zJDF+Lrzhj/ThnlvIToysFRq6t4=');
    expect(aliyunSignature('GET', { ...params, Signature: 'ignored' }, 'testSecret')).toBe('zJDF+Lrzhj/ThnlvIToysFRq6t4=');
    expect(aliyunSignature('GET', { ...params, OutId: '124' }, 'testSecret')).not.toBe('zJDF+Lrzhj/ThnlvIToysFRq6t4=');
    expect(aliyunPhone('+8613800138000')).toBe('13800138000');
    expect(aliyunPhone('+85261234567')).toBe('85261234567');
  });

  it('sends a mapped template with its rendered variables; refuses text-only steps and unmapped templates', async () => {
    const r = await sender().send({ to: '+8615300000001', body: 'ignored by Aliyun', idempotencyKey: 'k-1', template: 'reactivation-reminder', context: { contact: { first_name: '磊' } } });
    expect(r.providerMessageId).toMatch(/\^0$/);
    expect(aliyun.received.at(-1)).toMatchObject({ Action: 'SendSms', Version: '2017-05-25', PhoneNumbers: '15300000001', SignName: '阿里云短信测试', TemplateCode: 'SMS_71390007', TemplateParam: '{"customer":"磊"}', OutId: 'k-1' });
    await expect(sender().send({ to: '+8615300000001', body: 'hi', idempotencyKey: 'k-2' })).rejects.toBeInstanceOf(SmsPermanentError);
    await expect(sender().send({ to: '+8615300000001', body: 'hi', idempotencyKey: 'k-3', template: 'unmapped' })).rejects.toThrow(/"unmapped" has no TemplateCode/);
  });

  it('classifies Aliyun error codes: an illegal number is permanent, flow control and a bad key are retried', async () => {
    const send = (to: string, secret?: string) => sender(secret).send({ to, body: '', idempotencyKey: `k-${to}`, template: 'reactivation-reminder', context: {} });
    await expect(send('+8615300000009')).rejects.toSatisfy((e: unknown) => e instanceof SmsPermanentError && /isv\.MOBILE_NUMBER_ILLEGAL/.test(e.message));
    await expect(send('+8615300000008')).rejects.toBeInstanceOf(SmsTransientError);
    await expect(send('+8615300000001', 'wrong-secret')).rejects.toSatisfy((e: unknown) => e instanceof SmsTransientError && /SignatureDoesNotMatch/.test(e.message));
  });

  it('the sendSms activity hands Aliyun the step template and the contact context, and records the BizId', async () => {
    const db = await createTestDatabase();
    try {
      const unusedMailer: Mailer = { send: async () => Promise.reject(new Error('no email here')), close: async () => undefined };
      const acts = createActivities({
        db: db.db, mailer: unusedMailer, renderer: await sampleRenderer(), text: createTextRenderer(TEMPLATES_DIR), sms: sender(), smsProvider: 'aliyun',
        defaultFrom: 'x@y.z', tracking: { baseUrl: 'http://t', secrets: ['x'.repeat(32)], physicalAddress: 'addr' },
      });
      const { id } = await upsertContactByExternalId(db.db, { externalId: 'ali-1', phone: '+8615300000002', firstName: 'Lei', consent: { sms: 'opted_in' } });
      const base = { contactId: id, journeyId: 'j', workflowId: 'w', stepId: 's', category: 'marketing' as const };
      const r = await acts.sendSms({ ...base, idempotencyKey: 'ali-k1', template: 'reactivation-reminder' });
      expect(r).toMatchObject({ status: 'sent' });
      expect(aliyun.received.at(-1)).toMatchObject({ PhoneNumbers: '15300000002', TemplateParam: '{"customer":"Lei"}', OutId: 'ali-k1' });
      expect(await findMessageByKey(db.db, 'ali-k1')).toMatchObject({ status: 'sent', provider: 'aliyun', providerMessageId: expect.stringMatching(/\^0$/) });
      expect(await acts.sendSms({ ...base, idempotencyKey: 'ali-k2', body: 'inline text' })).toMatchObject({ status: 'failed', error: expect.stringMatching(/templates only/) });
    } finally {
      await db.drop();
    }
  });
});
