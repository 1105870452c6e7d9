/**
 * Email throughput: emails/s through itinera's send path (the sendEmail activity: reserve in Postgres, render the
 * template with tracking links, pooled SMTP, mark sent) against raw pooled nodemailer sending the same rendered
 * message to the same local SMTP sink, side by side in one run.
 *   npm run bench:email -- [count=2000] [--concurrency 50] [--pool 5]
 * Uses a fresh Postgres database from DATABASE_URL (or PGlite). Not a test; results go to bench/results/email.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { createActivities } from '../src/activities';
import { createSmtpMailer } from '../src/channels/email/mailer';
import { createOutboxSmsSender } from '../src/channels/sms';
import { migrateDatabase, openDatabase, type DatabaseHandle } from '../src/db/client';
import { contacts } from '../src/db/schema';
import { createTextRenderer } from '../src/engine/text-templates';
import { createRenderer, TEMPLATES_DIR } from '../src/services';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const count = Number(args.find((a, i) => /^\d+$/.test(a) && !args[i - 1]?.startsWith('--')) ?? 2000);
const concurrency = flag('concurrency', 50);
const poolSize = flag('pool', 5);

/** A real SMTP server that counts what it accepts (no parsing, so the sink is not what is measured). */
async function startSink(): Promise<{ url: string; received: () => number; keys: Set<string>; close(): Promise<void> }> {
  let received = 0;
  const keys = new Set<string>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      let head = '';
      stream.on('data', (c: Buffer) => {
        if (head.length < 8192) head += c.toString('utf8');
      });
      stream.on('end', () => {
        received++;
        const key = /^X-Itinera-Idempotency-Key:\s*(.+)$/im.exec(head)?.[1]?.trim();
        if (key) keys.add(key);
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;
  return { url: `smtp://127.0.0.1:${port}`, received: () => received, keys, close: () => new Promise((r) => server.close(() => r())) };
}

async function freshDatabase(): Promise<{ handle: DatabaseHandle; drop(): Promise<void>; kind: string }> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const handle = await openDatabase({});
    await migrateDatabase(handle);
    return { handle, drop: () => handle.close(), kind: 'PGlite (in memory)' };
  }
  const name = `itinera_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const u = new URL(url);
  u.pathname = `/${name}`;
  const handle = await openDatabase({ url: u.toString(), poolSize: 20 });
  await migrateDatabase(handle);
  return {
    handle,
    kind: 'Postgres',
    drop: async () => {
      await handle.close();
      const a = new pg.Client({ connectionString: url });
      await a.connect();
      await a.query(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

async function mapLimit(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, n) }, async () => {
    while (next < n) await fn(next++);
  }));
}

async function main() {
  const sink = await startSink();
  const db = await freshDatabase();
  try {
    const rows = await db.handle.db
      .insert(contacts)
      .values(Array.from({ length: count }, (_, i) => ({ externalId: `e${i}`, email: `reader${i}@bench.test`, firstName: 'Reader', consent: { email: 'opted_in' as const } })))
      .returning({ id: contacts.id });
    const mailer = createSmtpMailer({ url: sink.url, pool: { maxConnections: poolSize, maxMessages: Infinity } });
    const activities = createActivities({
      db: db.handle.db,
      mailer,
      renderer: createRenderer(),
      text: createTextRenderer(TEMPLATES_DIR),
      sms: createOutboxSmsSender(async () => 'outbox'),
      smsProvider: 'outbox',
      defaultFrom: 'bench <bench@itinera.test>',
      tracking: { baseUrl: 'http://itinera.test', secrets: ['bench-secret-0123456789abcdef0123456789abcdef'], physicalAddress: 'ACME · 1 Bench Road' },
    });

    // Warm both paths (connections, template compilation) before timing.
    await activities.sendEmail({ idempotencyKey: 'warm', contactId: rows[0]!.id, journeyId: 'bench', workflowId: 'bench', stepId: 'warm', template: 'welcome', category: 'marketing' });
    const t0 = performance.now();
    await mapLimit(count, concurrency, async (i) => {
      const r = await activities.sendEmail({ idempotencyKey: `bench:${i}`, contactId: rows[i]!.id, journeyId: 'bench', workflowId: `bench-${i}`, stepId: 'welcome', template: 'welcome', category: 'marketing' });
      if (r.status !== 'sent') throw new Error(`send ${i}: ${r.status}`);
    });
    const oursMs = performance.now() - t0;
    await mailer.close?.();
    const oursReceived = sink.received();

    // Baseline: the same size of message, pre-rendered, straight through pooled nodemailer.
    const sample = { from: 'bench <bench@itinera.test>', subject: 'Welcome', html: `<p>${'Hello reader. '.repeat(150)}</p>`, text: 'Hello reader. '.repeat(150) };
    const raw = nodemailer.createTransport({ pool: true, url: sink.url, maxConnections: poolSize, maxMessages: Infinity });
    await raw.sendMail({ ...sample, to: 'warm@bench.test' });
    const t1 = performance.now();
    await mapLimit(count, concurrency, async (i) => {
      await raw.sendMail({ ...sample, to: `reader${i}@bench.test`, headers: { 'X-Itinera-Idempotency-Key': `raw:${i}` } });
    });
    const rawMs = performance.now() - t1;
    raw.close();

    const ours = count / (oursMs / 1000);
    const baseline = count / (rawMs / 1000);
    const out = {
      scenario: 'email-throughput',
      metric: 'emails_per_second',
      value: Math.round(ours),
      unit: 'emails/s',
      baseline: Math.round(baseline),
      ratio: Math.round((ours / baseline) * 100) / 100,
      delivered: { ours: oursReceived - 1, distinctIdempotencyKeys: [...sink.keys].filter((k) => k.startsWith('bench:')).length },
      params: { count, concurrency, smtpPool: poolSize, database: db.kind },
      machine: { cpus: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
      date: new Date().toISOString(),
    };
    console.table({ itinera: `${out.value} emails/s`, 'raw nodemailer': `${out.baseline} emails/s`, ratio: out.ratio });
    const dir = fileURLToPath(new URL('./results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'email.json'), `${JSON.stringify(out, null, 2)}\n`);
    console.log(JSON.stringify(out));
  } finally {
    await db.drop();
    await sink.close();
  }
}

await main();
