import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { createSmtpMailer } from '../../src/channels/email/mailer';
import type { Mailer } from '../../src/activities/deps';
import type { Db } from '../../src/db/client';
import * as schema from '../../src/db/schema';
import { findMessageByKey, upsertContactByExternalId } from '../../src/db/queries';
import { createTestDatabase } from '../helpers/db';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp';
import { emailTestActivities, welcomeSend } from '../helpers/email';

const TRACKING = { baseUrl: 'http://track.test', secrets: ['lane-test-secret-0123456789abcdefghijklmnop'], physicalAddress: 'ACME Ltd · Shanghai' };
const POOL = 2;

/**
 * The `sent` record of an email the server has accepted closes the window in which a crash makes the retry resend it.
 * It goes through the database handle's urgent lane, so a pool busy with other work cannot hold it back.
 */
describe('the sent record of an accepted email does not wait for the shared pool', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let smtp: SmtpSink;
  let real: Mailer;
  let n = 0;

  beforeAll(async () => {
    [db, smtp] = await Promise.all([createTestDatabase({ poolSize: POOL }), startSmtpSink()]);
    real = createSmtpMailer({ url: smtp.url, pool: { maxConnections: 1 } });
  });
  afterAll(async () => {
    await real.close();
    await smtp.close();
    await db.drop();
  });

  /**
   * Sends one email through a mailer that, once the SMTP server has accepted it, fills every connection of the shared
   * pool with a 2-second statement. Answers whether the `sent` record was committed before the first of them ended.
   */
  async function sentBeforePoolFrees(urgentDb: Db | undefined): Promise<boolean> {
    const c = await upsertContactByExternalId(db.db, { externalId: `lane${++n}`, email: `lane${n}@example.com`, locale: 'en' });
    const key = `lane-${n}`;
    let blockers: Promise<unknown> = Promise.resolve();
    let poolFreed = false;
    const blocking: Mailer = {
      async send(msg) {
        const r = await real.send(msg);
        // `poolFreed` as soon as any blocker ends: from then on the shared pool has a connection to give.
        blockers = Promise.all(Array.from({ length: POOL }, () => db.db.execute(sql`select pg_sleep(2)`).then(() => (poolFreed = true))));
        // Every blocker holds its connection before the activity goes on to record the send.
        while (!(await blockersRunning())) await new Promise((done) => setTimeout(done, 20));
        return r;
      },
      close: () => real.close(),
    };
    /** Asked on a connection of its own: the pool's are the ones being filled. */
    const blockersRunning = async () => {
      const probe = new pg.Client({ connectionString: db.url });
      await probe.connect();
      try {
        const res = await probe.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity where datname = current_database() and query = 'select pg_sleep(2)' and state = 'active'`,
        );
        return res.rows[0]!.n >= POOL;
      } finally {
        await probe.end();
      }
    };
    const activities = emailTestActivities(db.db, blocking, TRACKING, urgentDb ? { urgentDb } : {});
    const result = await activities.sendEmail(welcomeSend(c.id, key));
    expect(result).toMatchObject({ status: 'sent', duplicate: false });
    const before = !poolFreed;
    await blockers;
    expect((await findMessageByKey(db.db, key))?.status).toBe('sent');
    return before;
  }

  it('waits out a database outage after the server accepted the email, instead of leaving the retry to resend it', async () => {
    const c = await upsertContactByExternalId(db.db, { externalId: `lane${++n}`, email: `lane${n}@example.com`, locale: 'en' });
    const key = `lane-outage-${n}`;
    // The record's first two attempts fail the way a restarting Postgres answers (57P01 admin_shutdown): at the
    // driver's client, under drizzle, so every way of running a statement (plain or prepared) meets the outage.
    let failures = 2;
    const client = (db.db as unknown as { $client: { query: (...a: unknown[]) => Promise<unknown> } }).$client;
    const flakyClient = new Proxy(client, {
      get(target, prop) {
        if (prop === 'query') {
          return (...args: unknown[]) => {
            if (failures-- > 0) return Promise.reject(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }));
            return target.query(...args);
          };
        }
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const flaky = (db.url
      ? (await import('drizzle-orm/node-postgres')).drizzle(flakyClient as unknown as pg.Pool, { schema })
      : (await import('drizzle-orm/pglite')).drizzle(flakyClient as never, { schema })) as unknown as Db;
    const before = smtp.messages.length;
    const activities = emailTestActivities(db.db, real, TRACKING, { urgentDb: flaky });
    expect(await activities.sendEmail(welcomeSend(c.id, key))).toMatchObject({ status: 'sent', duplicate: false });
    expect(failures).toBeLessThan(0);
    expect((await findMessageByKey(db.db, key))?.status).toBe('sent');
    // A retry of the activity (what Temporal does after a failure) answers from the record and sends nothing.
    expect(await activities.sendEmail(welcomeSend(c.id, key))).toMatchObject({ status: 'sent', duplicate: true });
    await smtp.waitFor(before + 1);
    expect(smtp.messages.length - before).toBe(1);
  });

  it('commits `sent` through the urgent lane while every pooled connection is busy', async () => {
    if (!db.url) {
      // Embedded PGlite runs one statement at a time: there is no second lane, and the handle says so.
      expect(db.urgent).toBe(db.db);
      return;
    }
    expect(db.urgent).not.toBe(db.db);
    expect(await sentBeforePoolFrees(db.urgent)).toBe(true);
    // Control: the same send recorded through the shared pool waits for the blockers.
    expect(await sentBeforePoolFrees(undefined)).toBe(false);
  });
});
