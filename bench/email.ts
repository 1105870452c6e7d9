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
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { createActivities } from '../src/activities';
import { createSmtpMailer } from '../src/channels/email/mailer';
import { createOutboxSmsSender } from '../src/channels/sms';
import { createTestDatabase } from '../tests/helpers/db';
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

/** A fresh Postgres database (DATABASE_URL) or in-memory PGlite, dropped at the end. */
const scratchDatabase = () => createTestDatabase({ poolSize: 20, prefix: 'itinera_bench' });

async function mapLimit(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, n) }, async () => {
    while (next < n) await fn(next++);
  }));
}

async function main() {
  const sink = await startSink();
  const db = await scratchDatabase();
  try {
    const rows = await db.db
      .insert(contacts)
      .values(Array.from({ length: count }, (_, i) => ({ externalId: `e${i}`, email: `reader${i}@bench.test`, firstName: 'Reader', consent: { email: 'opted_in' as const } })))
      .returning({ id: contacts.id });
    const mailer = createSmtpMailer({ url: sink.url, pool: { maxConnections: poolSize, maxMessages: Infinity } });
    const activities = createActivities({
      db: db.db,
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
      params: { count, concurrency, smtpPool: poolSize, database: (db.kind === 'postgres' ? 'Postgres' : 'PGlite (in memory)') },
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
