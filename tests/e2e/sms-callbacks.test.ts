import http from 'node:http';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq } from 'drizzle-orm';
import { createTwilioSmsSender } from '../../src/channels/sms';
import { twilioSignature } from '../../src/channels/twilio-webhooks';
import { contacts, events, messages, smsProviderEvents, suppressions } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { localOutbound } from '../helpers/outbound';
import { freePort } from '../helpers/ports';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

const SID = 'AC0123456789abcdef0123456789abcdef';
const TOKEN = 'twilio-auth-token-for-tests-0123';
const FROM = '+15005550006';
const HELP = 'Reply STOP to unsubscribe. 回复 TD 退订。';

/**
 * Twilio as far as we use it: the Messages API takes a send (form-encoded, Basic auth) and later posts the message's
 * statuses to the StatusCallback it was given; a phone's reply is posted to the number's inbound webhook. Every post
 * is form-encoded and signed with X-Twilio-Signature, as Twilio signs them.
 */
async function startTwilio(inboundUrl: () => string) {
  const sent: { sid: string; to: string; body: string; statusCallback: string | null }[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const form = new URLSearchParams(raw);
      const sid = `SM${(sent.length + 1).toString(16).padStart(32, '0')}`;
      sent.push({ sid, to: form.get('To') ?? '', body: form.get('Body') ?? '', statusCallback: form.get('StatusCallback') });
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ sid, status: 'queued', to: form.get('To'), account_sid: SID }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const post = async (url: string, params: Record<string, string>, signature = twilioSignature(TOKEN, url, params)) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature, 'user-agent': 'TwilioProxy/1.1' },
      body: new URLSearchParams(params).toString(),
    });
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  };
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    sent,
    /** The status callback Twilio posts for a message it was given. */
    report(sid: string, status: string, extra: Record<string, string> = {}, signature?: string) {
      const m = sent.find((s) => s.sid === sid)!;
      const params = { AccountSid: SID, ApiVersion: '2010-04-01', From: FROM, MessageSid: sid, SmsSid: sid, MessageStatus: status, SmsStatus: status, To: m.to, ...extra };
      return post(m.statusCallback!, params, signature);
    },
    /** An inbound SMS from `from`. */
    reply(from: string, body: string, sid: string, signature?: string) {
      const params = { AccountSid: SID, ApiVersion: '2010-04-01', Body: body, From: from, FromCountry: 'CN', MessageSid: sid, NumMedia: '0', NumSegments: '1', SmsMessageSid: sid, SmsSid: sid, SmsStatus: 'received', To: FROM };
      return post(inboundUrl(), params, signature);
    },
    statusUrl: (sid: string) => sent.find((s) => s.sid === sid)!.statusCallback!,
    close: () => new Promise((r) => server.close(r)),
  };
}

const JOURNEY = `
id: sms-rx
name: SMS receipts
triggers: [{ type: event, event: promo.due }]
start: text
steps:
  text: { type: send_sms, body: "Spring offer for {{contact.first_name}}", next: wait }
  wait: { type: wait_for_event, event: sms.delivered, timeout: 1h, on_event: mark, on_timeout: done }
  mark: { type: tag, tags: [sms-delivered], next: done }
  done: { type: exit }
`;

describe('Twilio delivery receipts and inbound keywords', () => {
  let stack: TestStack;
  let twilio: Awaited<ReturnType<typeof startTwilio>>;
  let server: Server;
  let base: string;
  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    twilio = await startTwilio(() => `${base}/v1/sms/twilio/inbound`);
    stack = await startTestStack({
      sms: createTwilioSmsSender({ baseUrl: twilio.url, accountSid: SID, authToken: TOKEN, from: FROM, statusCallbackUrl: `${base}/v1/sms/twilio/status`, http: localOutbound }),
      twilio: { authToken: TOKEN, publicBaseUrl: base, helpText: HELP },
    });
    await publishJourney(stack.db.db, JOURNEY, { templates: await loadTemplateCatalog(TEMPLATES_DIR) });
    server = stack.app.listen(port, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await twilio?.close();
    await stack?.stop();
  });

  const contact = async (externalId: string, phone: string) => {
    const res = await request(stack.app)
      .put(`/v1/contacts/${externalId}`)
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ phone, firstName: 'Wei', consent: { sms: 'opted_in' } })
      .expect(201);
    return res.body.id as string;
  };
  const textTo = async (externalId: string, eventId: string) => {
    await request(stack.app).post('/v1/events').set('Authorization', `Bearer ${stack.keys.integration}`).send({ id: eventId, type: 'promo.due', contact: { externalId } }).expect(202);
    return until(`the SMS of ${eventId} sent`, async () => {
      const [m] = await stack.db.db.select().from(messages).where(and(eq(messages.channel, 'sms'), eq(messages.idempotencyKey, (await keyOf(externalId))!)));
      return m?.status === 'sent' ? m : undefined;
    });
  };
  const keyOf = async (externalId: string) => {
    const [c] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, externalId));
    const [m] = c ? await stack.db.db.select().from(messages).where(eq(messages.contactId, c.id)) : [];
    return m?.idempotencyKey;
  };
  const statusOf = async (id: string) => (await stack.db.db.select().from(messages).where(eq(messages.id, id)))[0]!;

  it('sets StatusCallback on sends; signed receipts set delivered / undelivered once; bad signatures 403; unknown SIDs recorded as unmatched', async () => {
    await contact('sms-c1', '+8613800000001');
    await contact('sms-c2', '+8613800000002');
    const m1 = await textTo('sms-c1', 'sms-e1');
    const m2 = await textTo('sms-c2', 'sms-e2');
    expect(twilio.sent.map((s) => s.statusCallback)).toEqual([`${base}/v1/sms/twilio/status`, `${base}/v1/sms/twilio/status`]);
    expect(m1.providerMessageId).toBe(twilio.sent.find((s) => s.to === '+8613800000001')!.sid);

    // A forged receipt (signed with another token, or for another URL, or unsigned) is refused and changes nothing.
    const sid1 = m1.providerMessageId!;
    const forged = twilioSignature('another-token', twilio.statusUrl(sid1), { MessageSid: sid1, MessageStatus: 'failed' });
    expect((await twilio.report(sid1, 'failed', {}, forged)).status).toBe(403);
    expect((await twilio.report(sid1, 'failed', {}, '')).status).toBe(403);
    expect((await statusOf(m1.id)).status).toBe('sent');

    // sent, then delivered: the message is delivered; a replay and a late contradicting receipt change nothing.
    expect((await twilio.report(sid1, 'sent')).status).toBe(200);
    expect((await statusOf(m1.id)).status).toBe('sent');
    expect((await twilio.report(sid1, 'delivered')).status).toBe(200);
    expect((await statusOf(m1.id)).status).toBe('delivered');
    expect((await twilio.report(sid1, 'delivered')).status).toBe(200);
    expect((await twilio.report(sid1, 'undelivered', { ErrorCode: '30003' })).status).toBe(200);
    expect(await statusOf(m1.id)).toMatchObject({ status: 'delivered', error: null });
    const recorded = await stack.db.db.select().from(smsProviderEvents).where(eq(smsProviderEvents.providerMessageId, sid1));
    expect(recorded.map((r) => r.status).sort()).toEqual(['delivered', 'sent', 'undelivered']);

    // Undelivered with Twilio's error code.
    expect((await twilio.report(m2.providerMessageId!, 'undelivered', { ErrorCode: '30003' })).status).toBe(200);
    expect(await statusOf(m2.id)).toMatchObject({ status: 'undelivered', error: 'twilio: error 30003' });

    // Journeys hear each message's final status once: sms.delivered reached the run waiting for it.
    const smsEvents = async (contactId: string | null, type: string) => stack.db.db.select().from(events).where(and(eq(events.contactId, contactId!), eq(events.type, type)));
    expect((await smsEvents(m1.contactId, 'sms.delivered')).map((e) => e.properties)).toEqual([{ message_key: m1.idempotencyKey, provider: 'twilio', step_id: 'text' }]);
    expect(await smsEvents(m1.contactId, 'sms.failed')).toHaveLength(0);
    expect((await smsEvents(m2.contactId, 'sms.failed')).map((e) => e.properties)).toEqual([{ message_key: m2.idempotencyKey, provider: 'twilio', step_id: 'text', status: 'undelivered', error_code: '30003' }]);
    await until('the run waiting for sms.delivered tagged the contact', async () => {
      const [c] = await stack.db.db.select().from(contacts).where(eq(contacts.id, m1.contactId!));
      return c?.tags.includes('sms-delivered') ? c : undefined;
    });
    expect((await stack.db.db.select().from(contacts).where(eq(contacts.id, m2.contactId!)))[0]!.tags).not.toContain('sms-delivered');

    // A receipt for a message we never sent: recorded as unmatched, 202, nothing else.
    const url = `${base}/v1/sms/twilio/status`;
    const unknown = { MessageSid: 'SMffffffffffffffffffffffffffffffff', MessageStatus: 'delivered' };
    const res = await request(stack.app).post('/v1/sms/twilio/status').type('form').set('X-Twilio-Signature', twilioSignature(TOKEN, url, unknown)).send(unknown);
    expect(res.status).toBe(202);
    const [unmatched] = await stack.db.db.select().from(smsProviderEvents).where(eq(smsProviderEvents.providerMessageId, unknown.MessageSid));
    expect(unmatched).toMatchObject({ kind: 'status', status: 'delivered', matched: false });

    // Signed but malformed: 400 naming the field; never a 5xx.
    const bad = { MessageSid: 'SM<script>', MessageStatus: 'delivered' };
    const rejected = await request(stack.app).post('/v1/sms/twilio/status').type('form').set('X-Twilio-Signature', twilioSignature(TOKEN, url, bad)).send(bad);
    expect(rejected.status).toBe(400);
    expect(rejected.body.errors[0].path).toBe('MessageSid');
  });

  it('STOP / 退订 / TD opt the sender out of SMS (contact.unsubscribed, channel sms), START / 订阅 back in, HELP is answered', async () => {
    const id = await contact('sms-c3', '+8613800000003');
    const phone = '+8613800000003';
    const consent = async () => (await stack.db.db.select().from(contacts).where(eq(contacts.id, id)))[0]!.consent.sms;
    const suppressed = async () => (await stack.db.db.select().from(suppressions).where(and(eq(suppressions.channel, 'sms'), eq(suppressions.address, phone)))).length;

    // Unsigned: refused, nothing changes.
    expect((await twilio.reply(phone, 'STOP', 'SMin00000000000000000000000000001', 'bm90IGEgc2lnbmF0dXJl')).status).toBe(403);
    expect(await consent()).toBe('opted_in');

    const stop = await twilio.reply(phone, ' 退订 ', 'SMin00000000000000000000000000002');
    expect(stop.status).toBe(200);
    expect(stop.type).toMatch(/xml/);
    expect(stop.text).toContain('<Response></Response>');
    expect(await consent()).toBe('opted_out');
    expect(await suppressed()).toBe(1);
    const unsubscribed = await stack.db.db.select().from(events).where(and(eq(events.contactId, id), eq(events.type, 'contact.unsubscribed')));
    expect(unsubscribed.map((e) => e.properties)).toEqual([expect.objectContaining({ channel: 'sms', source: 'sms_keyword' })]);

    // The same message again (Twilio retries): nothing new.
    await twilio.reply(phone, ' 退订 ', 'SMin00000000000000000000000000002');
    expect(await stack.db.db.select().from(events).where(and(eq(events.contactId, id), eq(events.type, 'contact.unsubscribed')))).toHaveLength(1);

    expect((await twilio.reply(phone, '订阅', 'SMin00000000000000000000000000003')).status).toBe(200);
    expect(await consent()).toBe('opted_in');
    expect(await suppressed()).toBe(0);

    expect((await twilio.reply(phone, 'td', 'SMin00000000000000000000000000004')).status).toBe(200);
    expect(await consent()).toBe('opted_out');
    expect((await twilio.reply(phone, 'Start!', 'SMin00000000000000000000000000005')).status).toBe(200);
    expect(await consent()).toBe('opted_in');

    // Not a keyword: nothing changes.
    await twilio.reply(phone, 'please stop by tomorrow', 'SMin00000000000000000000000000006');
    expect(await consent()).toBe('opted_in');

    const help = await twilio.reply(phone, 'HELP', 'SMin00000000000000000000000000007');
    expect(help.status).toBe(200);
    expect(help.text).toContain(`<Message>${HELP}</Message>`);

    // STOP from a number no contact has: the number is suppressed all the same, recorded unmatched.
    expect((await twilio.reply('+8613800000099', 'STOP', 'SMin00000000000000000000000000008')).status).toBe(200);
    expect((await stack.db.db.select().from(suppressions).where(eq(suppressions.address, '+8613800000099')))[0]).toMatchObject({ channel: 'sms', reason: 'unsubscribed' });
    const [rec] = await stack.db.db.select().from(smsProviderEvents).where(eq(smsProviderEvents.providerMessageId, 'SMin00000000000000000000000000008'));
    expect(rec).toMatchObject({ kind: 'inbound', status: 'stop', matched: false });
  });
});
