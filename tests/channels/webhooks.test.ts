import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  classifyHttpStatus,
  deliverWebhook,
  generateWebhookSecret,
  signWebhook,
  verifyWebhook,
  WebhookPermanentError,
  WebhookTransientError,
} from '../../src/channels/webhooks';
import { startHttp, type TestHttp } from './support/http';
import { deadPort } from './support/smtp';
import { scaled } from '../helpers/timing';
import { localOutbound } from '../helpers/outbound';

const OLD = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const NEW = generateWebhookSecret();

describe('signWebhook / verifyWebhook', () => {
  it('matches the Standard Webhooks reference vector', () => {
    // Test vector from the standard-webhooks reference libraries.
    const h = signWebhook({
      id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      timestamp: 1614265330,
      body: '{"test": 2432232314}',
      secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    });
    expect(h).toEqual({
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    });
  });

  it('verifies, and names the failure reason', () => {
    const now = 1_700_000_000;
    const body = '{"event":"journey.completed"}';
    const h = signWebhook({ id: 'msg_1', timestamp: now, body, secrets: [OLD] });
    const at = now * 1000;
    expect(verifyWebhook(h, body, [OLD], { now: at })).toEqual({ ok: true, id: 'msg_1', timestamp: now });
    expect(verifyWebhook(h, body.replace('completed', 'exited'), [OLD], { now: at })).toEqual({ ok: false, reason: 'tampered' });
    expect(verifyWebhook(h, body, [NEW], { now: at })).toEqual({ ok: false, reason: 'tampered' });
    expect(verifyWebhook(h, body, [OLD], { now: at + 301_000 })).toEqual({ ok: false, reason: 'expired' });
    expect(verifyWebhook(h, body, [OLD], { now: at + 299_000 }).ok).toBe(true);
    expect(verifyWebhook(h, body, [OLD], { now: at - 301_000 })).toEqual({ ok: false, reason: 'future' });
    expect(verifyWebhook(h, body, [OLD], { now: at + 3_000_000, toleranceSeconds: 3600 }).ok).toBe(true);
    expect(verifyWebhook({ 'webhook-id': 'x' }, body, [OLD], { now: at })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verifyWebhook({ ...h, 'webhook-timestamp': '1e9' }, body, [OLD], { now: at })).toEqual({ ok: false, reason: 'invalid_timestamp' });
    // replaying the signature under a different id fails
    expect(verifyWebhook({ ...h, 'webhook-id': 'msg_2' }, body, [OLD], { now: at })).toEqual({ ok: false, reason: 'tampered' });
    // works with a fetch Headers object and upper-case names
    expect(verifyWebhook(new Headers(h as unknown as Record<string, string>), body, [OLD], { now: at }).ok).toBe(true);
    expect(verifyWebhook({ 'Webhook-Id': h['webhook-id'], 'WEBHOOK-TIMESTAMP': h['webhook-timestamp'], 'webhook-signature': h['webhook-signature'] }, body, [OLD], { now: at }).ok).toBe(true);
  });

  it('rotation: two signatures, a receiver with either secret accepts', () => {
    const h = signWebhook({ id: 'msg_r', timestamp: 1000, body: 'b', secrets: [NEW, OLD] });
    const sigs = h['webhook-signature'].split(' ');
    expect(sigs).toHaveLength(2);
    expect(sigs.every((s) => s.startsWith('v1,'))).toBe(true);
    expect(verifyWebhook(h, 'b', [OLD], { now: 1_000_000 }).ok).toBe(true);
    expect(verifyWebhook(h, 'b', [NEW], { now: 1_000_000 }).ok).toBe(true);
    expect(verifyWebhook(h, 'b', [generateWebhookSecret()], { now: 1_000_000 }).ok).toBe(false);
  });

  it('rejects bad secrets and ids', () => {
    expect(() => signWebhook({ id: 'a', timestamp: 1, body: '', secrets: ['whsec_'] })).toThrow(/secret/);
    expect(() => signWebhook({ id: 'a', timestamp: 1, body: '', secrets: ['whsec_not base64!!'] })).toThrow(/secret/);
    expect(() => signWebhook({ id: 'a.b', timestamp: 1, body: '', secrets: [OLD] })).toThrow(/id/);
    expect(() => signWebhook({ id: 'a', timestamp: 1, body: '', secrets: [] })).toThrow(/secret/);
  });

  it('signature is HMAC-SHA256 over "id.timestamp.body" with the decoded key', () => {
    const key = Buffer.from(OLD.slice(6), 'base64');
    const expected = createHmac('sha256', key).update('id9.42.hello').digest('base64');
    expect(signWebhook({ id: 'id9', timestamp: 42, body: 'hello', secrets: [OLD] })['webhook-signature']).toBe(`v1,${expected}`);
  });

  it('classifyHttpStatus', () => {
    expect([200, 204, 299].map(classifyHttpStatus)).toEqual(['ok', 'ok', 'ok']);
    expect([408, 429, 500, 503].map(classifyHttpStatus)).toEqual(['transient', 'transient', 'transient', 'transient']);
    expect([301, 400, 401, 404, 410, 422].map(classifyHttpStatus)).toEqual(Array(6).fill('permanent'));
  });
});

describe('deliverWebhook against a local receiver', () => {
  let receiver: TestHttp;
  const verified: { path: string; ok: boolean; reason?: string; body: string }[] = [];
  beforeAll(async () => {
    receiver = await startHttp(async (req, res) => {
      const v = verifyWebhook(req.headers, req.body, [OLD]);
      verified.push({ path: req.url, ok: v.ok, ...(v.ok ? {} : { reason: v.reason }), body: req.body });
      if (!v.ok) {
        res.writeHead(401);
        return res.end(`bad signature: ${v.reason}`);
      }
      switch (req.url) {
        case '/ok':
          res.writeHead(202);
          return res.end('accepted');
        case '/500':
          res.writeHead(500);
          return res.end('x'.repeat(5000));
        case '/503':
          res.writeHead(503);
          return res.end('maintenance');
        case '/429':
          res.writeHead(429);
          return res.end('slow down');
        case '/408':
          res.writeHead(408);
          return res.end();
        case '/422':
          res.writeHead(422);
          return res.end('{"error":"unknown contact"}');
        case '/moved':
          res.writeHead(301, { location: '/ok' });
          return res.end();
        case '/slow':
          // Never answers: holds the request until the client gives up and closes the connection.
          return new Promise((r) => res.once('close', r));
      }
      res.writeHead(404);
      res.end('no such hook');
    });
  });
  afterAll(async () => {
    await receiver.close();
  });

  /**
   * The client timeout of every delivery that expects an answer (the timeout test sets its own): the receiver answers
   * in milliseconds, but the first fetch of a process took 400-700 ms with two CPU hogs, past a fixed 300 ms, and the
   * abort can also cut reading the body (an error page keeps its status but loses its body).
   */
  const TIMEOUT_MS = scaled(5000);
  const send = (path: string, over: Partial<Parameters<typeof deliverWebhook>[0]> = {}) =>
    deliverWebhook({
      http: localOutbound,
      url: receiver.url + path,
      body: { event: 'step.completed', contact: 'c1', n: 1 },
      secrets: [NEW, OLD], // receiver only knows OLD: rotation in progress
      id: 'msg_journey_j1_c1_s4',
      timeoutMs: TIMEOUT_MS,
      headers: { 'X-Custom': 'yes', 'webhook-id': 'attacker' },
      ...over,
    });

  it('2xx: delivered, signed, body JSON-serialized once, custom headers kept, signature headers protected', async () => {
    const r = await send('/ok');
    expect(r.status).toBe(202);
    expect(r.body).toBe('accepted');
    const req = receiver.requests.at(-1)!;
    expect(req.method).toBe('POST');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['x-custom']).toBe('yes');
    expect(req.headers['webhook-id']).toBe('msg_journey_j1_c1_s4');
    expect(JSON.parse(req.body)).toEqual({ event: 'step.completed', contact: 'c1', n: 1 });
    expect(verified.at(-1)).toMatchObject({ ok: true });
  });

  it('a body changed in transit fails verification at the receiver', () => {
    const req = receiver.requests.at(-1)!;
    const v = verifyWebhook(req.headers, req.body.replace('"n":1', '"n":2'), [OLD]);
    expect(v).toEqual({ ok: false, reason: 'tampered' });
  });

  it('an old timestamp is rejected by the receiver → 401 → permanent', async () => {
    const err = await send('/ok', { now: Date.now() - 3600_000 }).catch((e: unknown) => e);
    expect(verified.at(-1)).toMatchObject({ ok: false, reason: 'expired' });
    expect(err).toBeInstanceOf(WebhookPermanentError);
    expect((err as WebhookPermanentError).status).toBe(401);
    expect((err as WebhookPermanentError).responseBody).toBe('bad signature: expired');
  });

  it('5xx/408/429 → transient with status and truncated body', async () => {
    for (const [path, status] of [['/500', 500], ['/503', 503], ['/429', 429], ['/408', 408]] as const) {
      const err = await send(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WebhookTransientError);
      expect((err as WebhookTransientError).status).toBe(status);
    }
    const err = (await send('/500').catch((e: unknown) => e)) as WebhookTransientError;
    expect(err.responseBody!.length).toBeLessThan(1100);
    expect(err.responseBody).toMatch(/…\[3976 more chars\]$/);
    expect(err.message.length).toBeLessThan(400);
  });

  it('4xx and redirects → permanent (redirects are not followed)', async () => {
    const e422 = (await send('/422').catch((e: unknown) => e)) as WebhookPermanentError;
    expect(e422).toBeInstanceOf(WebhookPermanentError);
    expect(e422.status).toBe(422);
    expect(e422.responseBody).toBe('{"error":"unknown contact"}');
    const before = receiver.requests.length;
    const moved = (await send('/moved').catch((e: unknown) => e)) as WebhookPermanentError;
    expect(moved).toBeInstanceOf(WebhookPermanentError);
    expect(moved.status).toBe(301);
    expect(receiver.requests.length).toBe(before + 1);
    const e404 = await send('/nope').catch((e: unknown) => e);
    expect(e404).toBeInstanceOf(WebhookPermanentError);
  });

  it('timeout and connection refused → transient without status', async () => {
    // The receiver never answers, so a short timeout is safe however busy the machine is.
    const slow = (await send('/slow', { timeoutMs: 300 }).catch((e: unknown) => e)) as WebhookTransientError;
    expect(slow).toBeInstanceOf(WebhookTransientError);
    expect(slow.status).toBeUndefined();
    expect(slow.message).toMatch(/no response within 300ms/);
    const port = await deadPort();
    const down = (await send('/ok', { url: `http://127.0.0.1:${port}/ok` }).catch((e: unknown) => e)) as WebhookTransientError;
    expect(down).toBeInstanceOf(WebhookTransientError);
    expect(down.message).toMatch(/ECONNREFUSED/);
  });

  it('string bodies are sent byte-for-byte', async () => {
    const raw = '{"b":1,  "a":2}';
    await send('/ok', { body: raw, method: 'PUT' });
    const req = receiver.requests.at(-1)!;
    expect(req.method).toBe('PUT');
    expect(req.body).toBe(raw);
    expect(verified.at(-1)!.ok).toBe(true);
  });
});
