import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { createSmtpMailer } from '../../src/channels/email/mailer';
import type { Mailer } from '../../src/activities/deps';
import { findMessageByKey, upsertContactByExternalId } from '../../src/db/queries';
import { contacts, suppressions } from '../../src/db/schema';
import { batched } from '../../src/db/batch';
import { createTestDatabase } from '../helpers/db';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp';
import { emailTestActivities, welcomeSend } from '../helpers/email';

const TRACKING = { baseUrl: 'http://track.test', secrets: ['batch-test-secret-0123456789abcdefghijklmnop'], physicalAddress: 'ACME Ltd · 1 Road' };

describe('batched', () => {
  it('answers every caller of one turn from a single run, in order', async () => {
    const calls: number[][] = [];
    const double = batched<number, number>(async (xs) => {
      calls.push(xs);
      return xs.map((x) => x * 2);
    });
    expect(await Promise.all([1, 2, 3].map(double))).toEqual([2, 4, 6]);
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('retries a failed batch item by item, so only the bad item fails', async () => {
    const calls: number[][] = [];
    const check = batched<number, number>(async (xs) => {
      calls.push(xs);
      if (xs.includes(13)) throw new Error('thirteen');
      return xs;
    });
    const results = await Promise.allSettled([1, 13, 2].map(check));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(calls[0]).toEqual([1, 13, 2]);
    expect(calls.slice(1).sort()).toEqual([[1], [13], [2]]);
  });
});

describe('sendEmail under concurrency (group-committed statements)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let smtp: SmtpSink;
  let mailer: Mailer;
  let n = 0;
  const activities = () => emailTestActivities(db.db, mailer, TRACKING);
  const newContact = (email?: string) => upsertContactByExternalId(db.db, { externalId: `b${++n}`, email: email ?? `batch${n}@example.com`, firstName: 'Lei', locale: 'en' });
  const input = welcomeSend;

  beforeAll(async () => {
    [db, smtp] = await Promise.all([createTestDatabase(), startSmtpSink()]);
    mailer = createSmtpMailer({ url: smtp.url, pool: { maxConnections: 3 } });
  });
  afterAll(async () => {
    await mailer.close();
    await smtp.close();
    await db.drop();
  });
  beforeEach(() => {
    smtp.messages.length = 0;
  });

  it('sends many at once, each once, each row marked sent with its own Message-ID', async () => {
    const people = await Promise.all(Array.from({ length: 30 }, () => newContact()));
    const acts = activities();
    const results = await Promise.all(people.map((c, i) => acts.sendEmail(input(c.id, `many-${i}`))));
    expect(results.every((r) => r.status === 'sent' && !r.duplicate)).toBe(true);
    expect(smtp.messages).toHaveLength(30);
    expect(new Set(smtp.messages.map((m) => m.envelopeTo[0])).size).toBe(30);
    for (const [i, r] of results.entries()) {
      const row = await findMessageByKey(db.db, `many-${i}`);
      expect(row).toMatchObject({ status: 'sent', attempts: 1, recipient: people[i]!.email });
      expect(row?.providerMessageId).toBe((r as { messageId: string }).messageId);
    }
    // Retried together, they all answer from their rows and send nothing.
    const again = await Promise.all(people.map((c, i) => acts.sendEmail(input(c.id, `many-${i}`))));
    expect(again.every((r) => r.status === 'sent' && r.duplicate)).toBe(true);
    expect(smtp.messages).toHaveLength(30);
  });

  it('two attempts of one send running at once in a worker send one email', async () => {
    const c = await newContact();
    const acts = activities();
    const [a, b] = await Promise.all([acts.sendEmail(input(c.id, 'twice')), acts.sendEmail(input(c.id, 'twice'))]);
    expect([a.duplicate, b.duplicate].sort()).toEqual([false, true]);
    expect(smtp.messages).toHaveLength(1);
    expect(await findMessageByKey(db.db, 'twice')).toMatchObject({ status: 'sent', attempts: 1 });
  });

  it('a send for a missing or malformed contact fails alone; the others in its batch are sent', async () => {
    const ok = await newContact();
    const acts = activities();
    const results = await Promise.allSettled([
      acts.sendEmail(input(ok.id, 'with-bad-neighbours')),
      acts.sendEmail(input('00000000-0000-4000-8000-000000000000', 'missing-contact')),
      acts.sendEmail(input('not-a-uuid', 'malformed-contact')),
    ]);
    expect(results[0]).toMatchObject({ status: 'fulfilled', value: { status: 'sent' } });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { type: 'ContactNotFound' } });
    expect(results[2].status).toBe('rejected');
    expect(smtp.messages.map((m) => m.envelopeTo[0])).toEqual([ok.email]);
  });

  it('a merged contact is mailed at its survivor, whose suppression counts', async () => {
    const survivor = await newContact();
    const old = await newContact();
    await db.db.update(contacts).set({ mergedInto: survivor.id }).where(eq(contacts.id, old.id));
    const acts = activities();
    expect(await acts.sendEmail(input(old.id, 'merged-1'))).toMatchObject({ status: 'sent' });
    expect(smtp.messages.map((m) => m.envelopeTo[0])).toEqual([survivor.email]);
    await db.db.insert(suppressions).values({ channel: 'email', address: survivor.email!, reason: 'complaint' });
    expect(await acts.sendEmail(input(old.id, 'merged-2'))).toMatchObject({ status: 'suppressed' });
    expect(smtp.messages).toHaveLength(1);
  });
});
