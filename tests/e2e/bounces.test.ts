import http, { type Server } from 'node:http';
import { execFileSync } from 'node:child_process';
import { createHmac, createPrivateKey, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq } from 'drizzle-orm';
import { contacts, emailFeedback, events, messages, suppressions } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { snsStringToSign, type SnsEnvelope } from '../../src/deliverability/providers/ses';
import { sendgridPublicKey } from '../../src/deliverability/providers/sendgrid';
import { localOutbound } from '../helpers/outbound';
import { freePort } from '../helpers/ports';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';
import { arf, dsn } from '../helpers/reports';
import nodemailer from 'nodemailer';
import { applyRawReport } from '../../src/deliverability/intake';
import { startBounceListener } from '../../src/deliverability/smtp-listener';
import { ingestDeps } from '../../src/wiring/ingest';
import { messageOfVerpAddress } from '../../src/deliverability/verp';
import { TEST_SECRETS } from '../helpers/stack';

const VERP_DOMAIN = 'bounces.itinera.test';
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:ses-feedback';
const MAILGUN_KEY = 'key-mailgun-webhook-signing-0123456789';
const POSTMARK = { user: 'postmark', password: 'postmark-webhook-password-0123' };

/**
 * Amazon SNS as far as a subscriber sees it: a certificate served over HTTP (here on loopback; only the test's
 * explicit allowUrl lets the app fetch it), messages signed with its key (SignatureVersion 2, SHA256withRSA), and a
 * SubscribeURL that records its confirmation.
 */
async function startSns() {
  const dir = mkdtempSync(path.join(tmpdir(), 'sns-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem'), '-days', '2', '-subj', '/CN=sns.amazonaws.com'], { stdio: 'ignore' });
  const cert = readFileSync(path.join(dir, 'c.pem'), 'utf8');
  const key = createPrivateKey(readFileSync(path.join(dir, 'k.pem')));
  rmSync(dir, { recursive: true, force: true });
  const confirmations: string[] = [];
  let certFetches = 0;
  const server = http.createServer((req, res) => {
    if (req.url?.endsWith('.pem')) {
      certFetches++;
      res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(cert);
    } else if (req.url?.startsWith('/confirm')) {
      confirmations.push(req.url);
      res.writeHead(200, { 'content-type': 'text/xml' }).end('<ConfirmSubscriptionResponse/>');
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const envelope = (type: SnsEnvelope['Type'], message: string, extra: Partial<SnsEnvelope> = {}): SnsEnvelope => {
    const m = {
      Type: type, MessageId: randomUUID(), TopicArn: TOPIC, Message: message, Timestamp: new Date().toISOString(), SignatureVersion: '2' as const,
      SigningCertURL: `${origin}/SimpleNotificationService-0123456789abcdef.pem`, Signature: '', ...extra,
    };
    return { ...m, Signature: sign('sha256', Buffer.from(snsStringToSign(m)), key).toString('base64') };
  };
  return { origin, confirmations, envelope, certFetches: () => certFetches, close: () => new Promise((r) => server.close(r)) };
}

const BOUNCE_FLOW = `
id: bounce-flow
name: Bounce flow
triggers: [{ type: event, event: signup.done }]
start: send
steps:
  send: { type: send_email, template: welcome, category: marketing, next: wait }
  wait: { type: wait_for_event, event: email.bounced, timeout: 1h, on_event: bounced, on_timeout: done }
  bounced: { type: tag, tags: [bounced], next: done }
  done: { type: exit }
`;
const simple = (id: string, event: string, category: 'marketing' | 'transactional') => `
id: ${id}
name: ${id}
triggers: [{ type: event, event: ${event} }]
start: send
steps:
  send: { type: send_email, template: renewal-reminder, category: ${category}, next: done }
  done: { type: exit }
`;

describe('bounces and complaints end to end', () => {
  let stack: TestStack;
  let sns: Awaited<ReturnType<typeof startSns>>;
  let server: Server;
  let base: string;
  const sendgridKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  beforeAll(async () => {
    sns = await startSns();
    stack = await startTestStack({
      mailRelay: 'postmark',
      verpDomain: VERP_DOMAIN,
      emailFeedback: {
        deliverability: { softBounceLimit: 2, softBounceWindowMs: 86_400_000 },
        reportMaxBytes: 64 * 1024,
        ses: { topicArns: [TOPIC], http: localOutbound, allowUrl: (u) => u.origin === sns.origin },
        mailgun: { signingKey: MAILGUN_KEY },
        sendgrid: { publicKey: sendgridPublicKey(sendgridKeys.publicKey.export({ format: 'der', type: 'spki' }).toString('base64')) },
        postmark: POSTMARK,
      },
    });
    const templates = await loadTemplateCatalog(TEMPLATES_DIR);
    await publishJourney(stack.db.db, BOUNCE_FLOW, { templates });
    await publishJourney(stack.db.db, simple('receipt', 'order.placed', 'transactional'), { templates });
    await publishJourney(stack.db.db, simple('promo', 'promo.due', 'marketing'), { templates });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = stack.app.listen(port, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await sns?.close();
    await stack?.stop();
  });

  const integration = () => `Bearer ${stack.keys.integration}`;
  const contact = async (externalId: string, email: string) =>
    (await request(stack.app).put(`/v1/contacts/${externalId}`).set('Authorization', integration()).send({ email, firstName: 'Bo', consent: { email: 'opted_in' } }).expect(201)).body.id as string;
  const post = (type: string, externalId: string) =>
    request(stack.app).post('/v1/events').set('Authorization', integration()).send({ id: randomUUID(), type, contact: { externalId } }).expect(202);
  const settled = (contactId: string, journeyId: string) =>
    until(`the ${journeyId} message of ${contactId}`, async () => {
      const [m] = await stack.db.db.select().from(messages).where(and(eq(messages.contactId, contactId), eq(messages.journeyId, journeyId)));
      return m && !['reserved', 'sending'].includes(m.status) ? m : undefined;
    });
  const suppressionOf = async (address: string) => (await stack.db.db.select().from(suppressions).where(eq(suppressions.address, address)))[0]?.reason;
  const eventsOf = async (contactId: string, type: string) => stack.db.db.select().from(events).where(and(eq(events.contactId, contactId), eq(events.type, type)));
  const postJson = (p: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: await r.json().catch(() => null) }));

  it('a DSN hard bounce suppresses the contact, fires the journey wait on email.bounced, refuses the next send; a redelivery is applied once', async () => {
    const id = await contact('b-1', 'bob@receiver.example');
    await post('signup.done', 'b-1');
    const [mail] = await stack.smtp.waitFor(1);
    const sent = await settled(id, 'bounce-flow');
    expect(sent.status).toBe('sent');
    expect(mail!.parsed.messageId).toBe(sent.providerMessageId);
    // The mailer tells the relay (Postmark here) our key, so its events find the message.
    expect(mail!.parsed.headers.get('x-pm-metadata-itinera_key')).toBe(sent.idempotencyKey);

    const report = dsn({ messageId: sent.providerMessageId!, status: '5.1.1', diagnostic: '550 5.1.1 <bob@receiver.example>: Recipient address rejected: User unknown' });
    const postReport = (raw: Buffer, auth = integration(), type = 'message/rfc822') =>
      fetch(`${base}/v1/email/reports`, { method: 'POST', headers: { 'content-type': type, authorization: auth }, body: raw }).then(async (r) => ({ status: r.status, body: await r.json() }));

    // Not authenticated, not a report, too large: refused, nothing changes.
    expect((await postReport(report, '')).status).toBe(401);
    expect((await postReport(Buffer.from('Subject: hello\r\n\r\nhi'))).status).toBe(422);
    expect((await postReport(Buffer.concat([report, Buffer.alloc(70 * 1024, 'a')]))).status).toBe(413);
    expect(await suppressionOf('bob@receiver.example')).toBeUndefined();

    const first = await postReport(report);
    expect(first).toMatchObject({ status: 200, body: { results: [{ matched: true, duplicate: false, outcome: 'suppressed', messageId: sent.id }] } });
    const again = await postReport(report);
    expect(again).toMatchObject({ status: 200, body: { results: [{ matched: true, duplicate: true, outcome: 'suppressed' }] } });

    expect(await suppressionOf('bob@receiver.example')).toBe('bounced');
    expect((await stack.db.db.select().from(messages).where(eq(messages.id, sent.id)))[0]).toMatchObject({ status: 'bounced' });
    expect(await stack.db.db.select().from(emailFeedback).where(eq(emailFeedback.messageId, sent.id))).toHaveLength(1);
    const bounced = await eventsOf(id, 'email.bounced');
    expect(bounced).toHaveLength(1);
    expect(bounced[0]!.properties).toMatchObject({ message_key: sent.idempotencyKey, kind: 'hard', code: '5.1.1', provider: 'dsn', step_id: 'send' });

    // The run waiting on email.bounced took its event branch.
    await until('the run tagged the contact', async () => {
      const [c] = await stack.db.db.select().from(contacts).where(eq(contacts.id, id));
      return c?.tags.includes('bounced') ? c : undefined;
    });

    // A hard bounce stops transactional mail too: the receipt is refused at send and never reaches SMTP.
    await post('order.placed', 'b-1');
    expect(await settled(id, 'receipt')).toMatchObject({ status: 'suppressed' });
    expect(stack.smtp.messages).toHaveLength(1);

    // The journey's stats count it.
    const stats = await request(stack.app).get('/v1/journeys/bounce-flow/stats').set('Authorization', `Bearer ${stack.keys.marketer}`).expect(200);
    expect(stats.body.messages).toMatchObject({ bounced: 1, complained: 0, bounceRate: 1, complaintRate: 0 });
    expect(stats.body.deliverability).toEqual([{ stepId: 'send', sent: 1, bounced: 1, hard: 1, soft: 0, policy: 0, complained: 0, bounceRate: 1, complaintRate: 0 }]);

    // A report for a message we never sent is recorded as unmatched, and changes nothing.
    const unknown = await postReport(dsn({ messageId: '<nobody@itinera.test>', status: '5.1.1', diagnostic: 'unknown', reportId: '<other-report@mx>' }));
    expect(unknown).toMatchObject({ status: 202, body: { results: [{ matched: false, outcome: 'unmatched' }] } });
  });

  it('an ARF complaint suppresses marketing only; transactional mail still goes', async () => {
    const id = await contact('a-1', 'carol@mailbox.example');
    await post('promo.due', 'a-1');
    const sent = await settled(id, 'promo');
    const res = await fetch(`${base}/v1/email/reports`, { method: 'POST', headers: { 'content-type': 'message/rfc822', authorization: integration() }, body: arf({ messageId: sent.providerMessageId! }) });
    expect(res.status).toBe(200);
    expect(await suppressionOf('carol@mailbox.example')).toBe('complaint');
    expect(await eventsOf(id, 'email.complained')).toHaveLength(1);
    await post('order.placed', 'a-1');
    expect(await settled(id, 'receipt')).toMatchObject({ status: 'sent' });
  });

  it('Amazon SES through SNS: subscription confirmed, signature and certificate URL checked, a permanent bounce suppresses, once', async () => {
    const id = await contact('s-1', 'sam@ses.example');
    await post('promo.due', 's-1');
    const sent = await settled(id, 'promo');

    const sub = sns.envelope('SubscriptionConfirmation', 'You have chosen to subscribe…', { Token: 'tok-1', SubscribeURL: `${sns.origin}/confirm?Action=ConfirmSubscription&Token=tok-1` });
    expect((await postJson('/v1/email/ses', sub, { 'content-type': 'text/plain; charset=UTF-8' })).status).toBe(200);
    expect(sns.confirmations).toEqual(['/confirm?Action=ConfirmSubscription&Token=tok-1']);

    const notification = {
      notificationType: 'Bounce',
      bounce: {
        feedbackId: '0100018c-feedback-0001', bounceType: 'Permanent', bounceSubType: 'General', timestamp: new Date().toISOString(),
        bouncedRecipients: [{ emailAddress: 'sam@ses.example', action: 'failed', status: '5.1.1', diagnosticCode: 'smtp; 550 5.1.1 user unknown' }],
        reportingMTA: 'dsn; a8-70.smtp-out.amazonses.com',
      },
      mail: {
        timestamp: new Date().toISOString(), source: 'journeys@itinera.test', messageId: '0100018c-ses-id', destination: ['sam@ses.example'], headersTruncated: false,
        headers: [{ name: 'Message-ID', value: sent.providerMessageId! }], commonHeaders: { messageId: sent.providerMessageId!, subject: 'Renewal' },
      },
    };
    const env = sns.envelope('Notification', JSON.stringify(notification));
    // Forged: the message changed after signing; another topic; a certificate from anywhere but SNS.
    expect((await postJson('/v1/email/ses', { ...env, Message: env.Message.replace('Permanent', 'Transient') })).status).toBe(403);
    expect((await postJson('/v1/email/ses', sns.envelope('Notification', env.Message, { TopicArn: 'arn:aws:sns:us-east-1:123456789012:other' }))).status).toBe(403);
    const fetches = sns.certFetches();
    expect((await postJson('/v1/email/ses', sns.envelope('Notification', env.Message, { SigningCertURL: 'https://attacker.example/sns.pem' }))).status).toBe(403);
    expect(sns.certFetches()).toBe(fetches);
    expect(await suppressionOf('sam@ses.example')).toBeUndefined();

    expect(await postJson('/v1/email/ses', env, { 'content-type': 'text/plain; charset=UTF-8' })).toMatchObject({ status: 200, body: { results: [{ matched: true, outcome: 'suppressed', duplicate: false }] } });
    // SNS redelivers the same notification (same feedbackId): applied once.
    expect(await postJson('/v1/email/ses', sns.envelope('Notification', env.Message))).toMatchObject({ status: 200, body: { results: [{ duplicate: true }] } });
    expect(await suppressionOf('sam@ses.example')).toBe('bounced');
    expect(await eventsOf(id, 'email.bounced')).toHaveLength(1);
  });

  it('Mailgun: HMAC-signed; soft bounces count and the second in the window suppresses; a complaint is a complaint', async () => {
    const id = await contact('m-1', 'max@mailgun.example');
    await post('promo.due', 'm-1');
    const sent = await settled(id, 'promo');
    const event = (eventId: string, extra: Record<string, unknown>) => {
      const timestamp = String(Math.floor(Date.now() / 1000));
      const token = randomUUID().replace(/-/g, '');
      return {
        signature: { timestamp, token, signature: createHmac('sha256', MAILGUN_KEY).update(timestamp + token).digest('hex') },
        'event-data': {
          id: eventId, timestamp: Date.now() / 1000, 'log-level': 'warn', recipient: 'max@mailgun.example', 'recipient-domain': 'mailgun.example',
          message: { headers: { 'message-id': sent.providerMessageId!.replace(/^<|>$/g, ''), to: 'max@mailgun.example', from: 'journeys@itinera.test', subject: 'Renewal' }, size: 2048 },
          envelope: { transport: 'smtp', sender: 'journeys@itinera.test', targets: 'max@mailgun.example' }, flags: { 'is-authenticated': true }, tags: [], 'user-variables': {},
          ...extra,
        },
      };
    };
    const soft = (eventId: string) => event(eventId, { event: 'failed', severity: 'temporary', reason: 'generic', 'delivery-status': { code: 452, message: '4.2.2 The email account that you tried to reach is over quota.', description: '', 'attempt-no': 1 } });
    const bad = soft('mg-bad');
    bad.signature.signature = createHmac('sha256', 'another-key').update(bad.signature.timestamp + bad.signature.token).digest('hex');
    expect((await postJson('/v1/email/mailgun', bad)).status).toBe(403);
    expect(await postJson('/v1/email/mailgun', soft('mg-1'))).toMatchObject({ status: 200, body: { results: [{ outcome: 'counted' }] } });
    expect(await postJson('/v1/email/mailgun', soft('mg-1'))).toMatchObject({ status: 200, body: { results: [{ outcome: 'counted', duplicate: true }] } });
    expect(await suppressionOf('max@mailgun.example')).toBeUndefined();
    expect(await postJson('/v1/email/mailgun', soft('mg-2'))).toMatchObject({ status: 200, body: { results: [{ outcome: 'suppressed' }] } });
    expect(await suppressionOf('max@mailgun.example')).toBe('bounced');
    const kinds = (await eventsOf(id, 'email.bounced')).map((e) => e.properties.kind);
    expect(kinds).toEqual(['soft', 'soft']);
    expect(await postJson('/v1/email/mailgun', event('mg-3', { event: 'complained' }))).toMatchObject({ status: 200 });
    expect(await eventsOf(id, 'email.complained')).toHaveLength(1);
    // A bounce is never weakened to a complaint.
    expect(await suppressionOf('max@mailgun.example')).toBe('bounced');
  });

  it('SendGrid: ECDSA-signed batches over the raw body; bounce by smtp-id, spamreport by our unique arg; policy blocks never suppress', async () => {
    const id = await contact('g-1', 'gail@sendgrid.example');
    await post('promo.due', 'g-1');
    const sent = await settled(id, 'promo');
    const now = Math.floor(Date.now() / 1000);
    const batch = [
      { email: 'gail@sendgrid.example', timestamp: now, 'smtp-id': sent.providerMessageId, event: 'processed', sg_event_id: 'sg-p-1', sg_message_id: 'x.filter-1' },
      { email: 'gail@sendgrid.example', timestamp: now, 'smtp-id': sent.providerMessageId, event: 'bounce', type: 'blocked', status: '5.7.1', reason: '550 5.7.1 blocked by policy', bounce_classification: 'Reputation', sg_event_id: 'sg-b-1', sg_message_id: 'x.filter-1' },
    ];
    const signed = (body: string, timestamp = String(now)) => ({
      'x-twilio-email-event-webhook-timestamp': timestamp,
      'x-twilio-email-event-webhook-signature': sign('sha256', Buffer.from(timestamp + body), sendgridKeys.privateKey).toString('base64'),
    });
    const body = JSON.stringify(batch);
    // A signature over other bytes (the same JSON re-serialised with spaces) does not verify.
    expect((await postJson('/v1/email/sendgrid', JSON.stringify(batch, null, 1), signed(body))).status).toBe(403);
    expect(await postJson('/v1/email/sendgrid', body, signed(body))).toMatchObject({ status: 200, body: { results: [{ outcome: 'reported' }] } });
    expect(await suppressionOf('gail@sendgrid.example')).toBeUndefined();
    const spam = JSON.stringify([{ email: 'gail@sendgrid.example', timestamp: now, event: 'spamreport', sg_event_id: 'sg-s-1', sg_message_id: 'x.filter-1', itinera_key: sent.idempotencyKey }]);
    expect(await postJson('/v1/email/sendgrid', spam, signed(spam))).toMatchObject({ status: 200, body: { results: [{ matched: true, outcome: 'suppressed' }] } });
    expect(await postJson('/v1/email/sendgrid', spam, signed(spam))).toMatchObject({ status: 200, body: { results: [{ duplicate: true }] } });
    expect(await suppressionOf('gail@sendgrid.example')).toBe('complaint');
    expect((await eventsOf(id, 'email.bounced')).map((e) => e.properties.kind)).toEqual(['policy']);
  });

  it('Postmark: Basic credentials; a hard bounce found by the metadata the mailer added', async () => {
    const id = await contact('p-1', 'pat@postmark.example');
    await post('promo.due', 'p-1');
    const sent = await settled(id, 'promo');
    const bounce = {
      RecordType: 'Bounce', ID: 4323372036, Type: 'HardBounce', TypeCode: 1, Name: 'Hard bounce', Tag: '', MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
      ServerID: 23, MessageStream: 'outbound', Description: 'The server was unable to deliver your message (ex: unknown user, mailbox not found).',
      Details: 'smtp;550 5.1.1 The email account that you tried to reach does not exist.', Email: 'pat@postmark.example', From: 'journeys@itinera.test',
      BouncedAt: new Date().toISOString(), DumpAvailable: true, Inactive: true, CanActivate: true, Subject: 'Renewal', Metadata: { itinera_key: sent.idempotencyKey },
    };
    const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    expect((await postJson('/v1/email/postmark', bounce)).status).toBe(403);
    expect((await postJson('/v1/email/postmark', bounce, basic(POSTMARK.user, 'wrong-password-0123456789'))).status).toBe(403);
    expect((await postJson('/v1/email/postmark', { ...bounce, ID: 'x'.repeat(500) }, basic(POSTMARK.user, POSTMARK.password))).status).toBe(400);
    expect(await postJson('/v1/email/postmark', bounce, basic(POSTMARK.user, POSTMARK.password))).toMatchObject({ status: 200, body: { results: [{ matched: true, outcome: 'suppressed' }] } });
    expect(await suppressionOf('pat@postmark.example')).toBe('bounced');
    expect(await eventsOf(id, 'email.bounced')).toHaveLength(1);
  });
  it('the SMTP bounce mailbox applies a DSN delivered to it, accepts and drops mail that is not a report, refuses one over the size limit', async () => {
    const id = await contact('b-smtp', 'smtp.bounce@receiver.example');
    await post('promo.due', 'b-smtp');
    const sent = await settled(id, 'promo');
    expect(sent.status).toBe('sent');
    const logged: string[] = [];
    const log = { info: (_: object, m: string) => logged.push(m), warn: (_: object, m: string) => logged.push(m), error: (_: object, m: string) => logged.push(m) };
    const ingest = ingestDeps({ db: stack.db.db, temporal: stack.temporal.client, taskQueue: stack.temporal.taskQueue });
    const options = { softBounceLimit: 2, softBounceWindowMs: 86_400_000 };
    const listener = await startBounceListener({ host: '127.0.0.1', port: 0, maxBytes: 64 * 1024, apply: (raw) => applyRawReport({ db: stack.db.db, ingest, options }, raw), log });
    const mta = nodemailer.createTransport({ host: '127.0.0.1', port: listener.port, secure: false, ignoreTLS: true });
    try {
      const envelope = { from: '', to: 'bounces@itinera.example' };
      // An auto-reply reaching the bounce mailbox: accepted (refusing it would bounce a bounce), nothing changes.
      await mta.sendMail({ envelope, raw: 'From: someone@receiver.example\r\nTo: bounces@itinera.example\r\nSubject: Out of office\r\n\r\nBack on Monday.\r\n' });
      expect(await suppressionOf('smtp.bounce@receiver.example')).toBeUndefined();
      // Over INBOUND_REPORT_MAX_BYTES: 552, nothing applied.
      const report = dsn({ messageId: sent.providerMessageId!, status: '5.1.1', diagnostic: '550 5.1.1 <smtp.bounce@receiver.example>: User unknown', reportId: 'smtp-1' });
      await expect(mta.sendMail({ envelope, raw: Buffer.concat([report, Buffer.alloc(70 * 1024, 'a')]) })).rejects.toMatchObject({ responseCode: 552 });
      expect(await suppressionOf('smtp.bounce@receiver.example')).toBeUndefined();

      const accepted = await mta.sendMail({ envelope, raw: report });
      expect(accepted.response).toMatch(/^250/);
      expect(await suppressionOf('smtp.bounce@receiver.example')).toBe('bounced');
      expect((await stack.db.db.select().from(messages).where(eq(messages.id, sent.id)))[0]).toMatchObject({ status: 'bounced' });
      expect(await eventsOf(id, 'email.bounced')).toHaveLength(1);
      // The same report delivered again (an MTA retry): applied once.
      await mta.sendMail({ envelope, raw: report });
      expect(await eventsOf(id, 'email.bounced')).toHaveLength(1);
      expect(logged).toContain('mail to the bounce mailbox that is not a delivery report: accepted and dropped');
    } finally {
      mta.close();
      await listener.close();
    }
  });
  it('VERP: the envelope sender names the message; a DSN without Message-ID is matched by the address it reached (SMTP RCPT TO, or X-Original-To over HTTP); a tampered token is unmatched', async () => {
    const smtpId = await contact('v-smtp', 'verp.smtp@receiver.example');
    const httpId = await contact('v-http', 'verp.http@receiver.example');
    await post('promo.due', 'v-smtp');
    await post('promo.due', 'v-http');
    const [smtpSent, httpSent] = [await settled(smtpId, 'promo'), await settled(httpId, 'promo')];
    const envelopeOf = (address: string) => stack.smtp.messages.find((m) => m.envelopeTo.includes(address))!;
    const smtpMail = envelopeOf('verp.smtp@receiver.example');
    const httpMail = envelopeOf('verp.http@receiver.example');
    // What the SMTP server saw: MAIL FROM is bounces+<token>@BOUNCE_VERP_DOMAIN naming the messages row; the From
    // header is unchanged.
    for (const [mail, sent] of [[smtpMail, smtpSent], [httpMail, httpSent]] as const) {
      expect(mail.envelopeFrom).toMatch(/^bounces\+[a-z2-7]{42}@bounces\.itinera\.test$/);
      expect(mail.envelopeFrom.length - VERP_DOMAIN.length - 1).toBeLessThanOrEqual(64); // RFC 5321 local-part limit
      expect(messageOfVerpAddress(TEST_SECRETS, mail.envelopeFrom)).toBe(sent.id);
      expect(mail.parsed.from?.value[0]?.address).toBe('journeys@itinera.test');
    }
    expect(smtpMail.envelopeFrom).not.toBe(httpMail.envelopeFrom);
    const verp = smtpMail.envelopeFrom;
    // One character to the next in the token's alphabet.
    const bump = (address: string, at: number) => `${address.slice(0, at)}${BASE32[(BASE32.indexOf(address[at]!) + 1) % 32]}${address.slice(at + 1)}`;
    const tampered = bump(verp, verp.indexOf('@') - 1); // the signature's last character
    const feedbackOf = async (messageId: string) => stack.db.db.select().from(emailFeedback).where(eq(emailFeedback.messageId, messageId));

    // Through the bounce mailbox: a DSN that returns no original headers, delivered to the VERP address.
    const report = (reportId: string, to: string, extraHeaders: string[] = []) =>
      dsn({ status: '5.1.1', diagnostic: '550 5.1.1 User unknown', reportId, to, extraHeaders });
    const ingest = ingestDeps({ db: stack.db.db, temporal: stack.temporal.client, taskQueue: stack.temporal.taskQueue });
    const options = { softBounceLimit: 2, softBounceWindowMs: 86_400_000 };
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const listener = await startBounceListener({
      host: '127.0.0.1', port: 0, maxBytes: 64 * 1024, log,
      apply: (raw, recipients) => applyRawReport({ db: stack.db.db, ingest, options, secrets: TEST_SECRETS }, raw, recipients),
    });
    const mta = nodemailer.createTransport({ host: '127.0.0.1', port: listener.port, secure: false, ignoreTLS: true });
    try {
      // The token changed in one character: delivered (250), recorded as unmatched, nothing else changes.
      await mta.sendMail({ envelope: { from: '', to: tampered }, raw: report('<verp-tampered@mx>', 'postmaster@itinera.test') });
      const [unmatched] = await stack.db.db.select().from(emailFeedback).where(eq(emailFeedback.eventId, '<verp-tampered@mx>'));
      expect(unmatched).toMatchObject({ outcome: 'unmatched', messageId: null });
      expect(await suppressionOf('verp.smtp@receiver.example')).toBeUndefined();

      const accepted = await mta.sendMail({ envelope: { from: '', to: verp }, raw: report('<verp-smtp@mx>', 'postmaster@itinera.test') });
      expect(accepted.response).toMatch(/^250/);
      expect(await suppressionOf('verp.smtp@receiver.example')).toBe('bounced');
      expect((await stack.db.db.select().from(messages).where(eq(messages.id, smtpSent.id)))[0]).toMatchObject({ status: 'bounced' });
      expect(await feedbackOf(smtpSent.id)).toHaveLength(1);
      expect((await eventsOf(smtpId, 'email.bounced')).map((e) => e.properties)).toEqual([expect.objectContaining({ message_key: smtpSent.idempotencyKey, kind: 'hard', code: '5.1.1', provider: 'dsn' })]);
    } finally {
      mta.close();
      await listener.close();
    }

    // Over HTTP: the mailbox that received it says where (X-Original-To); a tampered one is 202 unmatched.
    const postReport = (raw: Buffer) =>
      fetch(`${base}/v1/email/reports`, { method: 'POST', headers: { 'content-type': 'message/rfc822', authorization: integration() }, body: raw }).then(async (r) => ({ status: r.status, body: await r.json() }));
    const httpVerp = httpMail.envelopeFrom;
    // The id's last character has two spare bits: the next character decodes to the same id, and must still be refused.
    const httpTampered = bump(httpVerp, 'bounces+'.length + 25);
    expect(await postReport(report('<verp-http-tampered@mx>', httpTampered, [`X-Original-To: ${httpTampered}`]))).toMatchObject({ status: 202, body: { results: [{ matched: false, outcome: 'unmatched' }] } });
    expect(await suppressionOf('verp.http@receiver.example')).toBeUndefined();
    expect(await postReport(report('<verp-http@mx>', 'someone-else@itinera.test', [`X-Original-To: ${httpVerp}`]))).toMatchObject({ status: 200, body: { results: [{ matched: true, outcome: 'suppressed', messageId: httpSent.id }] } });
    expect(await suppressionOf('verp.http@receiver.example')).toBe('bounced');
    expect(await eventsOf(httpId, 'email.bounced')).toHaveLength(1);
  });
});
