import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { createApiKey } from '../../src/api/auth';
import { messages } from '../../src/db/schema';
import { createTestDatabase } from '../helpers/db';
import { freePort } from '../helpers/ports';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp';
import { scaled } from '../helpers/timing';
import { until } from '../helpers/until';

/**
 * The product's own processes — `npm run worker` and `npm run api`, as deployed — on the shared Temporal dev server, a
 * fresh Postgres database and an SMTP server that refuses some recipients, at LOG_LEVEL=debug (a superset of the
 * default `info`; the SDK's own lines are at WARN either way). Everything either process writes, stdout and stderr,
 * is searched for every email address and phone number the run used, in every form.
 */
const CONTACTS = [
  { externalId: 'pii-ok', email: 'Ada.Lovelace.Pii@Pii-Example.com', phone: '+44 20 7946 0958', country: 'GB', forms: ['+442079460958', '442079460958', '020 7946 0958', '2079460958', '7946 0958'] },
  // 550: a hard bounce (the server's reply quotes the address, as real servers do).
  { externalId: 'pii-refused', email: 'refused.reader.pii@pii-example.com', phone: '(415) 555-0173', country: 'US', forms: ['+14155550173', '14155550173', '4155550173', '555-0173', '415-555-0173'] },
  // 451: a transient refusal, retried by Temporal, whose failure the SDK logs at WARN.
  { externalId: 'pii-later', email: 'later.reader.pii@pii-example.com', phone: '138 0013 8000', country: 'CN', forms: ['+8613800138000', '8613800138000', '13800138000', '138 0013 8000'] },
];
const INVALID = { email: 'bad..address.pii@@pii-example.com', phone: '+1 (212) 555-01999999' };
const DUPLICATE = { externalId: 'pii-duplicate', email: 'ada.lovelace.pii@pii-example.com', phone: '+44 (0)20 7946 0958' };

const JOURNEY = `
id: pii-welcome
name: PII log check
triggers:
  - type: event
    event: pii.signed_up
start: welcome
steps:
  welcome:
    type: send_email
    template: welcome
    next: done
  done:
    type: exit
    reason: finished
`;

type Proc = { child: ChildProcess; out: string[] };

function start(script: string, env: Record<string, string>): Proc {
  const child = spawn(path.resolve('node_modules/.bin/tsx'), [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  child.stdout!.on('data', (c: Buffer) => out.push(String(c)));
  child.stderr!.on('data', (c: Buffer) => out.push(String(c)));
  return { child, out };
}

async function stop(p: Proc | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, scaled(20_000)))]);
  if (p.child.exitCode === null) p.child.kill('SIGKILL');
}

describe('no personal data in the logs of a full run', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let smtp: SmtpSink;
  let worker: Proc | undefined;
  let api: Proc | undefined;
  let base: string;
  let dataDir: string;
  let admin: string;

  beforeAll(async () => {
    [db, smtp] = await Promise.all([
      createTestDatabase(),
      startSmtpSink({
        onRcptTo(address, _session, callback) {
          const to = address.address;
          if (to.startsWith('refused.')) return callback(Object.assign(new Error(`5.1.1 <${to}>: Recipient address rejected: User unknown`), { responseCode: 550 }));
          if (to.startsWith('later.')) return callback(Object.assign(new Error(`4.2.0 <${to}>: Recipient address rejected: try again later`), { responseCode: 451 }));
          callback();
        },
      }),
    ]);
    dataDir = mkdtempSync(path.join(tmpdir(), 'itinera-pii-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'debug',
      DATABASE_URL: db.url ?? '',
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: `test-pii-${port}`,
      SMTP_URL: smtp.url,
      SIGNING_SECRET: 'pii-test-signing-secret-0123456789abcdef',
      MAIL_PHYSICAL_ADDRESS: 'ACME Ltd · 100 Century Ave · Shanghai',
      PUBLIC_BASE_URL: base,
      PORT: String(port),
      DATA_DIR: dataDir,
    };
    admin = (await createApiKey(db.db, { name: 'pii admin', role: 'admin' })).key;
    worker = start('src/worker-main.ts', env);
    api = start('src/api/server.ts', env);
    await until('the API to be ready', async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.ok || undefined, 120_000);
    await until('the worker to run', async () => (worker!.out.join('').includes('worker running') ? true : undefined), 180_000);
  }, scaled(300_000));

  afterAll(async () => {
    await Promise.all([stop(worker), stop(api)]);
    await smtp?.close();
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const call = (method: string, url: string, body?: unknown, type = 'application/json') =>
    fetch(`${base}${url}`, {
      method,
      headers: { Authorization: `Bearer ${admin}`, 'content-type': type },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });

  it('sends, bounces, retries and refuses bad input without writing a contact detail to any log', async () => {
    expect((await call('POST', '/v1/journeys', JOURNEY, 'application/yaml')).status).toBe(201);
    expect((await call('POST', '/v1/journeys/pii-welcome/publish')).status).toBe(201);

    for (const c of CONTACTS) {
      const put = await call('PUT', `/v1/contacts/${c.externalId}`, { email: c.email, phone: c.phone, country: c.country, firstName: 'Pii' });
      expect(put.status, await put.clone().text()).toBeLessThan(300);
      const ev = await call('POST', '/v1/events', { id: `pii-${c.externalId}`, type: 'pii.signed_up', contact: { externalId: c.externalId, email: c.email } });
      expect(ev.status).toBe(202);
    }
    // Invalid input: refused with the field named (the answer may echo it; the logs may not).
    expect((await call('PUT', '/v1/contacts/pii-invalid', { email: INVALID.email })).status).toBe(400);
    expect((await call('PUT', '/v1/contacts/pii-invalid', { phone: INVALID.phone })).status).toBe(400);
    expect((await call('POST', '/v1/events', { id: 'pii-bad', type: 'pii.signed_up', contact: { externalId: 'pii-invalid', email: INVALID.email } })).status).toBe(400);
    // A second record with the same email and phone: merged into the first.
    const dup = await call('PUT', `/v1/contacts/${DUPLICATE.externalId}`, { email: DUPLICATE.email, phone: DUPLICATE.phone, country: 'GB' });
    expect(dup.status).toBeLessThan(300);
    // The same event twice: stored once.
    expect((await call('POST', '/v1/events', { id: 'pii-pii-ok', type: 'pii.signed_up', contact: { externalId: 'pii-ok' } })).status).toBe(202);
    // Failed authentication and a flood of it, with an email where a key should be.
    for (let i = 0; i < 3; i++) await fetch(`${base}/v1/runs`, { headers: { Authorization: `Bearer ${CONTACTS[0]!.email}` } });

    await smtp.waitFor(1, 120_000);
    expect(smtp.messages[0]!.envelopeTo).toEqual([CONTACTS[0]!.email.toLowerCase()]);
    await until('the hard bounce to be recorded', async () => {
      const rows = await db.db.select().from(messages).where(eq(messages.channel, 'email'));
      return rows.some((r) => r.status === 'bounced') ? true : undefined;
    }, 120_000);
    // The 451 fails an attempt; the SDK logs it ("Activity failed", WARN) with the error, which quotes the address.
    await until('the transient refusal to be logged by the worker', async () => (worker!.out.join('').includes('Activity failed') ? true : undefined), 120_000);
    await Promise.all([stop(worker), stop(api)]);

    const log = [...worker!.out, ...api!.out].join('');
    // Something was logged by both, including the failures: the search below is over a real log.
    expect(worker!.out.join('')).toContain('"msg":"worker running"');
    expect(api!.out.join('')).toContain('"msg":"API listening"');
    const failure = log.split('\n').find((l) => l.includes('"msg":"Activity failed"') && l.includes('"responseCode":451'));
    expect(failure, 'the SMTP refusal logged by the SDK').toBeDefined();
    expect(JSON.parse(failure!)).toMatchObject({ level: 40, activityType: 'sendEmail', error: { type: 'SmtpTransientError', code: 'EENVELOPE', message: expect.stringContaining('<[email]>') } });

    const forms = new Set<string>();
    for (const c of [...CONTACTS, { ...DUPLICATE, forms: [] }, { ...INVALID, forms: [] }]) {
      for (const e of [c.email, c.email.toLowerCase(), c.email.split('@')[0]!.toLowerCase()]) forms.add(e);
      for (const p of [c.phone, ...c.forms]) forms.add(p);
    }
    const found = [...forms].filter((f) => log.toLowerCase().includes(f.toLowerCase()));
    expect(found, found.map((f) => log.split('\n').find((l) => l.toLowerCase().includes(f.toLowerCase()))).join('\n')).toEqual([]);
  }, scaled(400_000));
});
