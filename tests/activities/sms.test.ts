import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import { createOutboxSmsSender, createTwilioSmsSender } from '../../src/channels/sms';
import { findMessageByKey, upsertContactByExternalId } from '../../src/db/queries';
import { suppressions } from '../../src/db/schema';
import { createTextRenderer } from '../../src/templates/text';
import { sampleRenderer } from '../helpers/renderer';
import { TEMPLATES_DIR } from '../../src/paths';
import type { Mailer } from '../../src/activities/deps';
import { createTestDatabase } from '../helpers/db';
import { localOutbound } from '../helpers/outbound';

/** Speaks the subset of Twilio's Messages API we use, including its error bodies and idempotency token. */
async function startTwilioLike() {
  const received: { to: string; body: string; token: string | undefined; auth: string | undefined }[] = [];
  const seenTokens = new Map<string, string>();
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const form = new URLSearchParams(raw);
      const to = form.get('To') ?? '';
      const token = req.headers['i-twilio-idempotency-token'] as string | undefined;
      res.setHeader('content-type', 'application/json');
      if (req.headers.authorization !== `Basic ${Buffer.from('AC123:secret').toString('base64')}`) {
        res.statusCode = 401;
        return res.end(JSON.stringify({ code: 20003, message: 'Authenticate', status: 401 }));
      }
      if (to === '+15005550001') {
        res.statusCode = 400;
        return res.end(JSON.stringify({ code: 21211, message: "The 'To' number is not a valid phone number.", status: 400 }));
      }
      if (token && seenTokens.has(token)) return res.end(JSON.stringify({ sid: seenTokens.get(token), status: 'queued' }));
      const sid = `SM${received.length.toString().padStart(32, '0')}`;
      if (token) seenTokens.set(token, sid);
      received.push({ to, body: form.get('Body') ?? '', token, auth: req.headers.authorization });
      res.statusCode = 201;
      res.end(JSON.stringify({ sid, status: 'queued' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, received, close: () => new Promise((r) => server.close(r)) };
}

const renderer = await sampleRenderer();

describe('sendSms activity', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let twilio: Awaited<ReturnType<typeof startTwilioLike>>;
  const unusedMailer: Mailer = { send: async () => Promise.reject(new Error('no email here')), close: async () => undefined };
  const acts = (provider: 'twilio' | 'outbox') =>
    createActivities({
      db: db.db,
      mailer: unusedMailer,
      renderer,
      text: createTextRenderer(TEMPLATES_DIR),
      sms:
        provider === 'twilio'
          ? createTwilioSmsSender({ baseUrl: twilio.url, accountSid: 'AC123', authToken: 'secret', from: '+15005550006', http: localOutbound })
          : createOutboxSmsSender(async () => 'outbox-1'),
      smsProvider: provider,
      defaultFrom: 'x@y.z',
      tracking: { baseUrl: 'http://t', secrets: ['x'.repeat(32)], physicalAddress: 'addr' },
    });
  const input = (contactId: string, key: string) => ({
    idempotencyKey: key,
    contactId,
    journeyId: 'j',
    workflowId: 'w',
    stepId: 's',
    body: 'Your demo is confirmed.',
    category: 'marketing' as const,
  });
  let n = 0;
  const contact = async (phone: string | undefined, sms: 'opted_in' | 'opted_out' | null = 'opted_in') =>
    (await upsertContactByExternalId(db.db, { externalId: `s${++n}`, phone, consent: sms ? { sms } : {} })).id;

  beforeAll(async () => {
    [db, twilio] = await Promise.all([createTestDatabase(), startTwilioLike()]);
  });
  afterAll(async () => {
    await twilio.close();
    await db.drop();
  });

  it('sends through a Twilio-style API once, with the idempotency token, and records the provider id', async () => {
    const id = await contact('+8613800138000');
    const r1 = await acts('twilio').sendSms(input(id, 'sms-1'));
    const r2 = await acts('twilio').sendSms(input(id, 'sms-1'));
    expect(r1).toMatchObject({ status: 'sent', duplicate: false });
    expect(r2).toMatchObject({ status: 'sent', duplicate: true });
    expect(twilio.received).toEqual([
      expect.objectContaining({ to: '+8613800138000', body: 'Your demo is confirmed.', token: 'sms-1' }),
    ]);
    expect(await findMessageByKey(db.db, 'sms-1')).toMatchObject({ status: 'sent', provider: 'twilio', body: 'Your demo is confirmed.' });
  });

  it('marks an invalid number as failed (permanent), without retrying', async () => {
    const id = await contact('+15005550001');
    const r = await acts('twilio').sendSms(input(id, 'sms-bad'));
    expect(r).toMatchObject({ status: 'failed' });
    expect((r as { error: string }).error).toMatch(/21211|not a valid phone/);
  });

  it('requires opt-in for marketing SMS and honours suppression', async () => {
    expect(await acts('twilio').sendSms(input(await contact('+8613900139000', null), 'sms-c'))).toMatchObject({ status: 'no_consent' });
    expect(await acts('twilio').sendSms(input(await contact(undefined), 'sms-n'))).toMatchObject({ status: 'no_address' });
    await db.db.insert(suppressions).values({ channel: 'sms', address: '+8613700137000', reason: 'manual' });
    expect(await acts('twilio').sendSms(input(await contact('+8613700137000'), 'sms-s'))).toMatchObject({ status: 'suppressed' });
  });

  it('sends transactional SMS to an opted-out, unsubscribed number, but never to one suppressed by hand', async () => {
    const sent = twilio.received.length;
    const optedOut = await contact('+8613500135000', 'opted_out');
    await db.db.insert(suppressions).values({ channel: 'sms', address: '+8613500135000', reason: 'unsubscribed' });
    expect(await acts('twilio').sendSms({ ...input(optedOut, 'sms-t1'), category: 'transactional' })).toMatchObject({ status: 'sent' });
    expect(await acts('twilio').sendSms(input(optedOut, 'sms-t2'))).toMatchObject({ status: 'no_consent' });
    expect(twilio.received.slice(sent).map((r) => r.to)).toEqual(['+8613500135000']);
    const manual = await contact('+8613400134000');
    await db.db.insert(suppressions).values({ channel: 'sms', address: '+8613400134000', reason: 'manual' });
    expect(await acts('twilio').sendSms({ ...input(manual, 'sms-t3'), category: 'transactional' })).toMatchObject({ status: 'suppressed' });
  });

  it('stores SMS in the outbox by default', async () => {
    const id = await contact('+8613600136000');
    expect(await acts('outbox').sendSms(input(id, 'sms-o'))).toMatchObject({ status: 'sent', providerMessageId: 'outbox-1' });
    expect(await findMessageByKey(db.db, 'sms-o')).toMatchObject({ provider: 'outbox', body: 'Your demo is confirmed.', recipient: '+8613600136000' });
  });
});
