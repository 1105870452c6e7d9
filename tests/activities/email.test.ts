import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq } from 'drizzle-orm';
import { buildApp } from '../../src/api/app';
import { createSmtpMailer } from '../../src/channels/email/mailer';
import type { Mailer } from '../../src/activities/deps';
import { upsertContactByExternalId, findMessageByKey } from '../../src/db/queries';
import { contacts, emailFeedback, events, suppressions } from '../../src/db/schema';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { createTestDatabase } from '../helpers/db';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp';
import { emailTestActivities, welcomeSend } from '../helpers/email';
import { connectTestTemporal, type TestTemporal } from '../helpers/temporal';
import { ingestDeps } from '../../src/wiring/ingest';

const SECRETS = ['email-test-secret-0123456789abcdefghijklmnop'];
const TRACKING = { baseUrl: 'http://track.test', secrets: SECRETS, physicalAddress: 'ACME Ltd · 88 Century Ave · Shanghai' };

describe('sendEmail activity against a real SMTP server', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let smtp: SmtpSink;
  let temporal: TestTemporal;
  let mailer: Mailer;
  let n = 0;
  const activitiesWith = (m: Mailer) => emailTestActivities(db.db, m, TRACKING);
  const newContact = async (extra: { email?: string; locale?: string; firstName?: string } = {}) =>
    upsertContactByExternalId(db.db, { externalId: `c${++n}`, email: `lead${n}@example.com`, firstName: 'Lei', locale: 'en', ...extra });
  const input = welcomeSend;

  beforeAll(async () => {
    [db, smtp, temporal] = await Promise.all([createTestDatabase(), startSmtpSink(), connectTestTemporal()]);
    mailer = createSmtpMailer({ url: smtp.url, pool: { maxConnections: 2 } });
  });
  afterAll(async () => {
    await mailer.close?.();
    await smtp.close();
    await temporal.close();
    await db.drop();
  });
  beforeEach(() => {
    smtp.messages.length = 0;
  });

  it('sends tracked marketing mail with one-click unsubscribe, and the links work through the API', async () => {
    const c = await newContact();
    const res = await activitiesWith(mailer).sendEmail(input(c.id, 'k-track'));
    expect(res).toMatchObject({ status: 'sent', duplicate: false });
    const [mail] = await smtp.waitFor(1);
    expect(mail!.raw).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r?$/m);
    const unfolded = mail!.raw.replace(/\r?\n[ \t]+/g, ' ');
    const listUnsub = String(unfolded.match(/^List-Unsubscribe: <([^>]+)>/m)?.[1]);
    expect(listUnsub).toMatch(/^http:\/\/track\.test\/u\//);
    expect(mail!.parsed.html).toContain('ACME Ltd · 88 Century Ave · Shanghai');
    const click = String(mail!.parsed.html).match(/href="(http:\/\/track\.test\/t\/c\/[^"]+)"/)?.[1];
    expect(click).toBeDefined();
    expect(String(mail!.parsed.html)).toMatch(/http:\/\/track\.test\/t\/o\//);

    const app = buildApp({ database: db, temporal: temporal.client, taskQueue: temporal.taskQueue, triggers: dbTriggerSource(db.db), signingSecrets: SECRETS });
    const redirect = await request(app).get(new URL(click!).pathname).expect(302);
    expect(redirect.headers.location).toBe('https://itinera.dev/product-a');
    // A tampered token never redirects.
    const path = new URL(click!).pathname;
    const tampered = path.slice(0, -3) + (path.endsWith('AAA') ? 'BBB' : 'AAA');
    const bad = await request(app).get(tampered).expect(400);
    expect(bad.headers.location).toBeUndefined();

    const pixel = await request(app).get(String(mail!.parsed.html).match(/src="http:\/\/track\.test(\/t\/o\/[^"]+)"/)![1]!).expect(200);
    expect(pixel.headers['content-type']).toBe('image/gif');

    // RFC 8058: a POST with List-Unsubscribe=One-Click, no cookies, no confirmation page.
    await request(app).post(new URL(listUnsub).pathname).type('form').send('List-Unsubscribe=One-Click').expect(200);
    const [after] = await db.db.select().from(contacts).where(eq(contacts.id, c.id));
    expect(after!.consent.email).toBe('opted_out');
    const recorded = await db.db.select().from(events).where(eq(events.contactId, c.id));
    // contact.unsubscribed is what journeys exit on; email.unsubscribed feeds email stats and scoring.
    expect(recorded.map((e) => e.type).sort()).toEqual(['contact.unsubscribed', 'email.clicked', 'email.opened', 'email.unsubscribed']);
    expect(recorded.find((e) => e.type === 'contact.unsubscribed')!.properties).toEqual({ channel: 'email', source: 'unsubscribe_link' });
    expect(recorded.find((e) => e.type === 'email.clicked')!.properties).toMatchObject({ link_tag: 'product-a', message_key: 'k-track' });

    // The next marketing send is refused at send time.
    expect(await activitiesWith(mailer).sendEmail(input(c.id, 'k-track-2'))).toMatchObject({ status: 'no_consent' });
    expect((await findMessageByKey(db.db, 'k-track-2'))?.status).toBe('no_consent');
  });

  it('honours the suppression list even for a contact that never unsubscribed', async () => {
    const c = await newContact();
    await db.db.insert(suppressions).values({ channel: 'email', address: c.email!, reason: 'complaint' });
    expect(await activitiesWith(mailer).sendEmail(input(c.id, 'k-supp'))).toMatchObject({ status: 'suppressed' });
    await new Promise((r) => setTimeout(r, 200));
    expect(smtp.messages).toHaveLength(0);
  });

  it('sends once when the activity is retried after a crash that followed the send', async () => {
    const c = await newContact();
    const acts = activitiesWith(mailer);
    await acts.sendEmail(input(c.id, 'k-crash'));
    // The worker died before Temporal recorded completion: the retry runs the activity again.
    const retry = await acts.sendEmail(input(c.id, 'k-crash'));
    expect(retry).toMatchObject({ status: 'sent', duplicate: true });
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.messages).toHaveLength(1);
  });

  it('resends with the same Message-ID when the earlier attempt died inside the SMTP window, and counts it', async () => {
    const c = await newContact();
    // SMTP accepted the message, then the process "died" before recording it.
    const dying: Mailer = {
      send: async (m) => {
        await mailer.send(m);
        throw Object.assign(new Error('worker killed'), { code: 'ECONNRESET' });
      },
      close: async () => undefined,
    };
    await expect(activitiesWith(dying).sendEmail(input(c.id, 'k-window'))).rejects.toThrow();
    expect((await findMessageByKey(db.db, 'k-window'))?.status).toBe('sending');
    await activitiesWith(mailer).sendEmail(input(c.id, 'k-window'));
    await smtp.waitFor(2);
    const ids = smtp.messages.map((m) => m.parsed.messageId);
    expect(ids[0]).toBe(ids[1]);
    const row = await findMessageByKey(db.db, 'k-window');
    expect(row).toMatchObject({ status: 'sent', attempts: 2 });
    expect(row?.error).toMatch(/outcome unknown/);
  });

  it('retries a 4xx refusal and marks a 5xx as bounced and suppressed', async () => {
    const c = await newContact({ email: 'greylisted@example.com' });
    const flaky = await startSmtpSink({
      onRcptTo(address, _s, cb) {
        if (address.address === 'greylisted@example.com' && flaky.messages.length === 0 && !(flaky as { tried?: boolean }).tried) {
          (flaky as { tried?: boolean }).tried = true;
          return cb(Object.assign(new Error('try again later'), { responseCode: 451 }));
        }
        if (address.address.startsWith('gone')) return cb(Object.assign(new Error('no such user'), { responseCode: 550 }));
        cb();
      },
    });
    const flakyMailer = createSmtpMailer({ url: flaky.url, pool: { maxConnections: 1 } });
    try {
      const acts = activitiesWith(flakyMailer);
      await expect(acts.sendEmail(input(c.id, 'k-451'))).rejects.toMatchObject({ name: 'SmtpTransientError' });
      expect((await findMessageByKey(db.db, 'k-451'))?.status).toBe('reserved');
      expect(await acts.sendEmail(input(c.id, 'k-451'))).toMatchObject({ status: 'sent', duplicate: false });
      expect(flaky.messages).toHaveLength(1);

      const gone = await newContact({ email: 'gone@example.com' });
      expect(await acts.sendEmail(input(gone.id, 'k-550'))).toMatchObject({ status: 'bounced' });
      const supp = await db.db.select().from(suppressions).where(eq(suppressions.address, 'gone@example.com'));
      expect(supp).toMatchObject([{ channel: 'email', reason: 'bounced' }]);
      expect(await acts.sendEmail(input(gone.id, 'k-550'))).toMatchObject({ status: 'bounced', duplicate: true });
    } finally {
      await flakyMailer.close?.();
      await flaky.close();
    }
  });

  it('classifies a refusal at send: a policy refusal (5.7.1) never suppresses, soft ones (5.2.2) suppress after the limit', async () => {
    const refusing = await startSmtpSink({
      onRcptTo(address, _s, cb) {
        if (address.address.startsWith('policy')) return cb(Object.assign(new Error('5.7.1 Message rejected as spam by content filtering'), { responseCode: 550 }));
        if (address.address.startsWith('full')) return cb(Object.assign(new Error('5.2.2 Mailbox full'), { responseCode: 552 }));
        cb();
      },
    });
    const refusingMailer = createSmtpMailer({ url: refusing.url, pool: { maxConnections: 1 } });
    const ingest = ingestDeps({ db: db.db, temporal: temporal.client, taskQueue: temporal.taskQueue });
    try {
      const acts = emailTestActivities(db.db, refusingMailer, TRACKING, { ingest, deliverability: { softBounceLimit: 2, softBounceWindowMs: 86_400_000 } });
      const policy = await newContact({ email: 'policy@example.com' });
      expect(await acts.sendEmail(input(policy.id, 'k-571'))).toMatchObject({ status: 'bounced' });
      expect(await db.db.select().from(suppressions).where(eq(suppressions.address, 'policy@example.com'))).toEqual([]);
      expect(await db.db.select({ kind: emailFeedback.kind, bounceClass: emailFeedback.bounceClass, code: emailFeedback.code, outcome: emailFeedback.outcome }).from(emailFeedback).where(eq(emailFeedback.eventId, 'k-571')))
        .toEqual([{ kind: 'bounce', bounceClass: 'policy', code: '5.7.1', outcome: 'reported' }]);
      const bounced = await db.db.select().from(events).where(and(eq(events.contactId, policy.id), eq(events.type, 'email.bounced')));
      expect(bounced.map((e) => e.properties)).toEqual([expect.objectContaining({ kind: 'policy', code: '5.7.1', provider: 'smtp', message_key: 'k-571' })]);

      const full = await newContact({ email: 'full@example.com' });
      expect(await acts.sendEmail(input(full.id, 'k-522-1'))).toMatchObject({ status: 'bounced' });
      expect(await db.db.select().from(suppressions).where(eq(suppressions.address, 'full@example.com'))).toEqual([]);
      expect(await acts.sendEmail(input(full.id, 'k-522-2'))).toMatchObject({ status: 'bounced' });
      expect(await db.db.select().from(suppressions).where(eq(suppressions.address, 'full@example.com'))).toMatchObject([{ reason: 'bounced' }]);
      expect(await acts.sendEmail(input(full.id, 'k-522-3'))).toMatchObject({ status: 'suppressed' });
      expect(refusing.messages).toHaveLength(0);
    } finally {
      await refusingMailer.close?.();
      await refusing.close();
    }
  });

  it('a hard bounce of an unsubscribed address stops transactional mail too; a complaint stops marketing only', async () => {
    const tx = (contactId: string, key: string) => ({ ...input(contactId, key), category: 'transactional' as const });
    const bouncing = await startSmtpSink({
      onRcptTo(address, _s, cb) {
        if (address.address === 'left@example.com') return cb(Object.assign(new Error('no such user'), { responseCode: 550 }));
        cb();
      },
    });
    const bouncingMailer = createSmtpMailer({ url: bouncing.url, pool: { maxConnections: 1 } });
    try {
      const left = await newContact({ email: 'left@example.com' });
      await db.db.insert(suppressions).values({ channel: 'email', address: 'left@example.com', reason: 'unsubscribed' });
      await db.db.update(contacts).set({ consent: { email: 'opted_out' } }).where(eq(contacts.id, left.id));
      // Unsubscribed: the transactional email is attempted, and the server says the mailbox is gone.
      expect(await activitiesWith(bouncingMailer).sendEmail(tx(left.id, 'k-left-1'))).toMatchObject({ status: 'bounced' });
      expect(await db.db.select().from(suppressions).where(eq(suppressions.address, 'left@example.com'))).toMatchObject([{ reason: 'bounced' }]);
      expect(await activitiesWith(bouncingMailer).sendEmail(tx(left.id, 'k-left-2'))).toMatchObject({ status: 'suppressed' });
    } finally {
      await bouncingMailer.close?.();
      await bouncing.close();
    }

    const complained = await newContact();
    await db.db.insert(suppressions).values({ channel: 'email', address: complained.email!, reason: 'complaint' });
    expect(await activitiesWith(mailer).sendEmail(input(complained.id, 'k-compl-1'))).toMatchObject({ status: 'suppressed' });
    expect(await activitiesWith(mailer).sendEmail(tx(complained.id, 'k-compl-2'))).toMatchObject({ status: 'sent' });
    const [receipt] = await smtp.waitFor(1);
    expect(receipt!.parsed.to).toMatchObject({ text: complained.email });
  });

  it('claims before rendering: the record keeps the subject and hosted copy sent; a render that throws leaves the row reserved, not uncertain', async () => {
    const c = await newContact();
    await activitiesWith(mailer).sendEmail(input(c.id, 'k-recorded'));
    const [mail] = await smtp.waitFor(1);
    const sent = await findMessageByKey(db.db, 'k-recorded');
    expect(sent).toMatchObject({ status: 'sent', attempts: 1, recipient: c.email, subject: mail!.parsed.subject });
    expect(sent?.html).toContain('ACME Ltd · 88 Century Ave · Shanghai');

    // No template by that name: the claim was taken, nothing reached the server, and the row says so.
    await expect(activitiesWith(mailer).sendEmail({ ...input(c.id, 'k-no-template'), template: 'no-such-template' })).rejects.toThrow();
    expect(await findMessageByKey(db.db, 'k-no-template')).toMatchObject({ status: 'reserved', attempts: 1, error: null });
    // The retry (here with a template that exists) is an ordinary first send, not a resend of an unknown outcome.
    expect(await activitiesWith(mailer).sendEmail(input(c.id, 'k-no-template'))).toMatchObject({ status: 'sent', duplicate: false });
    expect(await findMessageByKey(db.db, 'k-no-template')).toMatchObject({ status: 'sent', attempts: 2, error: null });
    await smtp.waitFor(2);
    expect(smtp.messages).toHaveLength(2);
  });

  it('a send decided against after the claim records the skip, sends nothing, and answers it again to a retry', async () => {
    const c = await newContact();
    await db.db.update(contacts).set({ consent: { email: 'opted_out' } }).where(eq(contacts.id, c.id));
    const acts = activitiesWith(mailer);
    expect(await acts.sendEmail(input(c.id, 'k-opted-out'))).toMatchObject({ status: 'no_consent', duplicate: false });
    expect(await findMessageByKey(db.db, 'k-opted-out')).toMatchObject({ status: 'no_consent', recipient: c.email });
    // Consent given back later does not turn a recorded decision into an email: the step was decided.
    await db.db.update(contacts).set({ consent: { email: 'opted_in' } }).where(eq(contacts.id, c.id));
    expect(await acts.sendEmail(input(c.id, 'k-opted-out'))).toMatchObject({ status: 'no_consent', duplicate: true });
    await new Promise((r) => setTimeout(r, 200));
    expect(smtp.messages).toHaveLength(0);
  });

  it('renders the contact locale with fallback', async () => {
    const zh = await newContact({ locale: 'zh-CN', firstName: '娜' });
    await activitiesWith(mailer).sendEmail(input(zh.id, 'k-zh'));
    const [mail] = await smtp.waitFor(1);
    expect(mail!.parsed.subject).toContain('欢迎了解 itinera');
    const fr = await newContact({ locale: 'fr-FR' });
    await activitiesWith(mailer).sendEmail(input(fr.id, 'k-fr'));
    const all = await smtp.waitFor(2);
    expect(all[1]!.parsed.subject).toContain('Welcome to itinera');
  });
});
