import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOutboxSmsSender,
  createTwilioSmsSender,
  SmsPermanentError,
  SmsTransientError,
  type SmsMessage,
} from '../../src/channels/sms';
import { deadPort } from './support/smtp';
import { json, startHttp, type TestHttp } from './support/http';
import { scaled } from '../helpers/timing';
import { localOutbound } from '../helpers/outbound';

const SID = 'AC0123456789abcdef0123456789abcdef';
const TOKEN = 'secret-auth-token';

/** The subset of Twilio's Messages API we speak, with its real error shapes. */
let twilio: TestHttp;
const byIdempotencyToken = new Map<string, string>();
let seq = 0;
beforeAll(async () => {
  twilio = await startHttp(async (req, res) => {
    const expectedAuth = `Basic ${Buffer.from(`${SID}:${TOKEN}`).toString('base64')}`;
    if (req.method !== 'POST' || req.url !== `/2010-04-01/Accounts/${SID}/Messages.json`) {
      return json(res, 404, { code: 20404, message: 'The requested resource was not found', status: 404 });
    }
    if (req.headers.authorization !== expectedAuth) {
      return json(res, 401, { code: 20003, message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 });
    }
    if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
      return json(res, 400, { code: 20001, message: 'bad content type', status: 400 });
    }
    const form = new URLSearchParams(req.body);
    const to = form.get('To') ?? '';
    if (!form.get('From') && !form.get('MessagingServiceSid')) {
      return json(res, 400, { code: 21603, message: "A 'From' phone number is required.", status: 400 });
    }
    if (!/^\+[1-9]\d{6,14}$/.test(to)) {
      return json(res, 400, { code: 21211, message: `The 'To' number ${to} is not a valid phone number.`, status: 400 });
    }
    if (to === '+15005550429') return json(res, 429, { code: 20429, message: 'Too Many Requests', status: 429 });
    if (to === '+15005550500') return json(res, 500, { code: 20500, message: 'Internal Server Error', status: 500 });
    if (to === '+15005550502') {
      res.writeHead(502, { 'content-type': 'text/html' });
      return res.end('<html>Bad Gateway</html>');
    }
    if (to === '+15005550999') {
      // Never answers: holds the request until the client gives up and closes the connection.
      return new Promise((r) => res.once('close', r));
    }
    const idem = String(req.headers['i-twilio-idempotency-token'] ?? '');
    const existing = idem ? byIdempotencyToken.get(idem) : undefined;
    const sid = existing ?? `SM${String(++seq).padStart(32, '0')}`;
    if (idem) byIdempotencyToken.set(idem, sid);
    json(res, 201, { sid, status: 'queued', to, from: form.get('From'), body: form.get('Body'), account_sid: SID });
  });
});
afterAll(async () => {
  await twilio.close();
});

/**
 * The client timeout of every request that expects an answer: the local server answers in milliseconds, but the first
 * fetch of a process (undici loading, the first connection) took 400-700 ms with two CPU hogs, past a fixed 500 ms.
 */
const TIMEOUT_MS = scaled(5000);
const sender = (timeoutMs = TIMEOUT_MS) =>
  createTwilioSmsSender({ http: localOutbound, baseUrl: twilio.url, accountSid: SID, authToken: TOKEN, from: '+15005550006', timeoutMs });
const sms = (over: Partial<SmsMessage> = {}): SmsMessage => ({
  to: '+8613800138000',
  body: '您的验证码 1234 — hi & bye',
  idempotencyKey: 'journey:j1:c1:sms-1',
  ...over,
});

async function failure(p: Promise<unknown>): Promise<SmsTransientError | SmsPermanentError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeDefined();
  return e as SmsTransientError | SmsPermanentError;
}

describe('createTwilioSmsSender', () => {
  it('posts a form-encoded message with basic auth and returns sid/status', async () => {
    const before = twilio.requests.length;
    const r = await sender().send(sms());
    expect(r.providerMessageId).toMatch(/^SM\d{32}$/);
    expect(r.status).toBe('queued');
    const req = twilio.requests[before]!;
    const form = new URLSearchParams(req.body);
    expect(form.get('To')).toBe('+8613800138000');
    expect(form.get('From')).toBe('+15005550006');
    expect(form.get('Body')).toBe('您的验证码 1234 — hi & bye'); // survives form encoding intact
    expect(req.headers['i-twilio-idempotency-token']).toBe('journey:j1:c1:sms-1');
  });

  it('sends the idempotency token so a retried request maps to the same message', async () => {
    const s = sender();
    const a = await s.send(sms({ idempotencyKey: 'retry-me' }));
    const b = await s.send(sms({ idempotencyKey: 'retry-me' }));
    const c = await s.send(sms({ idempotencyKey: 'other' }));
    expect(b.providerMessageId).toBe(a.providerMessageId);
    expect(c.providerMessageId).not.toBe(a.providerMessageId);
  });

  it('supports a Messaging Service instead of From', async () => {
    const s = createTwilioSmsSender({ http: localOutbound, baseUrl: twilio.url, accountSid: SID, authToken: TOKEN, messagingServiceSid: 'MG123' });
    await s.send(sms({ idempotencyKey: 'mg' }));
    const form = new URLSearchParams(twilio.requests.at(-1)!.body);
    expect(form.get('MessagingServiceSid')).toBe('MG123');
    expect(form.has('From')).toBe(false);
    expect(() => createTwilioSmsSender({ accountSid: SID, authToken: TOKEN })).toThrow(/from or messagingServiceSid/);
  });

  it('invalid number (21211) is permanent, with code and message', async () => {
    const e = await failure(sender().send(sms({ to: '12345' })));
    expect(e).toBeInstanceOf(SmsPermanentError);
    expect(e.status).toBe(400);
    expect(e.providerCode).toBe(21211);
    expect(e.message).toContain('is not a valid phone number');
  });

  it('429 and 5xx (JSON or not) are transient', async () => {
    for (const [to, status, code] of [
      ['+15005550429', 429, 20429],
      ['+15005550500', 500, 20500],
      ['+15005550502', 502, undefined],
    ] as const) {
      const e = await failure(sender().send(sms({ to })));
      expect(e).toBeInstanceOf(SmsTransientError);
      expect(e.status).toBe(status);
      expect(e.providerCode).toBe(code);
    }
  });

  it('wrong credentials: the server rejects them; classified transient (configuration, not the message)', async () => {
    const s = createTwilioSmsSender({ http: localOutbound, baseUrl: twilio.url, accountSid: SID, authToken: 'wrong', from: '+15005550006' });
    const e = await failure(s.send(sms()));
    expect(e).toBeInstanceOf(SmsTransientError);
    expect(e.status).toBe(401);
    expect(e.providerCode).toBe(20003);
  });

  it('timeout and connection refused are transient', async () => {
    // The server never answers, so a short timeout is safe however busy the machine is.
    const slow = await failure(sender(300).send(sms({ to: '+15005550999' })));
    expect(slow).toBeInstanceOf(SmsTransientError);
    expect(slow.message).toMatch(/no response within 300ms/);
    const port = await deadPort();
    const down = createTwilioSmsSender({ http: localOutbound, baseUrl: `http://127.0.0.1:${port}`, accountSid: SID, authToken: TOKEN, from: '+1' });
    const e = await failure(down.send(sms()));
    expect(e).toBeInstanceOf(SmsTransientError);
    expect(e.status).toBeUndefined();
    expect(e.message).toMatch(/ECONNREFUSED/);
  });
});

describe('createOutboxSmsSender', () => {
  it('stores through the callback and returns its id', async () => {
    const stored: SmsMessage[] = [];
    const s = createOutboxSmsSender(async (m) => {
      stored.push(m);
      return `outbox-${stored.length}`;
    });
    expect(await s.send(sms())).toEqual({ providerMessageId: 'outbox-1', status: 'stored' });
    expect(stored).toEqual([sms()]);
  });

  it('propagates store failures', async () => {
    const s = createOutboxSmsSender(async () => {
      throw new Error('db down');
    });
    await expect(s.send(sms())).rejects.toThrow('db down');
  });
});
