/**
 * Where one `sendEmail` activity's time goes, without Temporal: the email scenario's sends (the `welcome` template,
 * opted-in contacts, pooled SMTP to an in-process sink) called directly as the worker calls them, every SQL statement
 * counted and timed by its shape, and the phases of a send timed (render, SMTP) around the production mailer and
 * renderer. Then raw pooled nodemailer sends a message of the same size through the same pool size, as the scenario's
 * baseline does, so the CPU per email of both is printed side by side.
 *   npx tsx bench/email-profile.ts [--emails 2000] [--concurrency 50] [--smtp-pool 5] [--db-pool 20] [--cpu-prof file] [--cpu-prof-raw file] [--sample-text]
 * Round trips per send = statements / sends when every statement is its own round trip; the send statements are
 * group-committed (src/db/batch.ts), so "statements per send" falls below the round trips one send waits for, which are
 * printed too (awaited database calls per send, from the activity's point of view). A diagnostic, not a benchmark:
 * `npm run bench -- --only email` is the measure of record.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import inspector from 'node:inspector';
import nodemailer from 'nodemailer';
import { createTestDatabase } from '../tests/helpers/db';
import { createActivities } from '../src/activities';
import { contacts } from '../src/db/schema';
import { loadConfig } from '../src/config';
import { activityDeps } from '../src/wiring/activities';
import { createMailer, createRenderer } from '../src/wiring/channels';
import { SAMPLE_TEXT } from './bare/activities';
import { backendCpuSeconds, mapLimit, startMailSink } from './lib/stack';
import { installStatementTimer } from './lib/statement-timer';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const count = opt('emails', 2000);
const concurrency = opt('concurrency', 50);
/** `--cpu-prof file`: a V8 CPU profile of the itinera phase only (not start-up, not the raw baseline). */
const cpuProfileFile = args.includes('--cpu-prof') ? args[args.indexOf('--cpu-prof') + 1] : undefined;
/** `--cpu-prof-raw file`: the same for the raw nodemailer phase. */
const rawProfileFile = args.includes('--cpu-prof-raw') ? args[args.indexOf('--cpu-prof-raw') + 1] : undefined;

async function startCpuProfile(): Promise<() => Promise<object>> {
  const session = new inspector.Session();
  session.connect();
  const post = <T>(method: string) => new Promise<T>((resolve, reject) => session.post(method, (err, res) => (err ? reject(err) : resolve(res as T))));
  await post('Profiler.enable');
  await post('Profiler.start');
  return async () => {
    const { profile } = await post<{ profile: object }>('Profiler.stop');
    session.disconnect();
    return profile;
  };
}

const timer = installStatementTimer({ shapeLength: 110, counting: false });
const { bySql } = timer;

const database = await createTestDatabase({ poolSize: opt('db-pool', 20), prefix: 'itinera_email_prof' });
const sink = await startMailSink();
try {
  const config = loadConfig({
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    SMTP_URL: sink.url,
    SMTP_POOL_SIZE: String(opt('smtp-pool', 5)),
    MAIL_FROM: 'bench <bench@itinera.test>',
    MAIL_PHYSICAL_ADDRESS: 'ACME · 1 Bench Road',
    PUBLIC_BASE_URL: 'http://itinera.test',
    SIGNING_SECRET: 'profile-secret-profile-secret-profile',
  });
  const rows = await database.db
    .insert(contacts)
    .values(Array.from({ length: count + 1 }, (_, i) => ({ externalId: `mail-${i}`, email: `reader${i}@bench.test`, firstName: 'Reader', consent: { email: 'opted_in' as const } })))
    .returning({ id: contacts.id });

  // Phase timers around the production mailer and renderer: wall milliseconds inside each, summed over the sends.
  const phase = { render: 0, smtp: 0 };
  let bodyChars = 0;
  let first: Parameters<typeof smtp.send>[0] | undefined;
  const { mailer: smtp } = createMailer({ config });
  const renderer = await createRenderer();
  const mailer = {
    async send(msg: Parameters<typeof smtp.send>[0]) {
      const t0 = performance.now();
      bodyChars += (msg.html?.length ?? 0) + (msg.text?.length ?? 0);
      first ??= msg;
      try {
        return await smtp.send(msg);
      } finally {
        phase.smtp += performance.now() - t0;
      }
    },
    close: () => smtp.close(),
  };
  const timedRenderer = {
    render(...a: Parameters<typeof renderer.render>) {
      const t0 = performance.now();
      try {
        return renderer.render(...a);
      } finally {
        phase.render += performance.now() - t0;
      }
    },
  };
  const activities = createActivities(activityDeps({ config, database, mailer, renderer: timedRenderer, secrets: [config.signingSecret!] }));
  const send = (i: number, key: string) =>
    activities.sendEmail({ idempotencyKey: key, contactId: rows[i]!.id, journeyId: 'bench', workflowId: `bench-${i}`, stepId: 'welcome', template: 'welcome', category: 'marketing' });
  await send(count, 'warm');

  const backendCpuMs = async () => (await backendCpuSeconds(database.db)) * 1000;
  const pg0 = database.url ? await backendCpuMs() : 0;
  phase.render = 0;
  phase.smtp = 0;
  bodyChars = 0;
  const profile = cpuProfileFile ? await startCpuProfile() : undefined;
  let activityMs = 0;
  timer.counting = true;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await mapLimit(count, concurrency, async (i) => {
    const s0 = performance.now();
    const r = await send(i, `prof:${i}`);
    activityMs += performance.now() - s0;
    if (r.status !== 'sent') throw new Error(`send ${i}: ${r.status}`);
  });
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  timer.counting = false;
  const pgMs = database.url ? (await backendCpuMs()) - pg0 : NaN;
  if (profile) writeFileSync(cpuProfileFile!, JSON.stringify(await profile()));

  // The scenario's baseline: the same mail (the warm-up send's), pre-rendered, through the same pool size; or with
  // --sample-text the 4 KB sample the baseline used to send.
  const raw = nodemailer.createTransport({ pool: true, url: sink.url, maxConnections: config.smtp.poolSize, maxMessages: Infinity });
  const sample = args.includes('--sample-text')
    ? { from: config.smtp.from, subject: 'Welcome', html: `<p>${SAMPLE_TEXT}</p>`, text: SAMPLE_TEXT, headers: {} }
    : { from: first!.from, subject: first!.subject, html: first!.html ?? '', text: first!.text ?? '', headers: first!.headers ?? {} };
  await raw.sendMail({ ...sample, to: 'warm@bench.test' });
  const rawProfile = rawProfileFile ? await startCpuProfile() : undefined;
  const rcpu0 = process.cpuUsage();
  const r0 = performance.now();
  await mapLimit(count, concurrency, async (i) => {
    await raw.sendMail({ ...sample, to: `reader${i}@bench.test`, headers: { ...sample.headers, 'X-Itinera-Idempotency-Key': `raw:${i}` } });
  });
  const rawMs = performance.now() - r0;
  const rcpu = process.cpuUsage(rcpu0);
  if (rawProfile) writeFileSync(rawProfileFile!, JSON.stringify(await rawProfile()));
  raw.close();
  await mailer.close();

  const rowsBy = [...bySql.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const total = rowsBy.reduce((s, [, e]) => s + e.n, 0);
  const sqlMs = rowsBy.reduce((s, [, e]) => s + e.ms, 0);
  const perSend = (ms: number) => (ms / count).toFixed(2);
  const out = (l: string) => process.stdout.write(`${l}\n`);
  out(`itinera: ${count} sends at ${concurrency} in flight in ${(wallMs / 1000).toFixed(2)} s: ${(count / (wallMs / 1000)).toFixed(0)}/s; CPU of this process ${perSend((cpu.user + cpu.system) / 1000)} ms per send (sink included)`);
  out(`raw nodemailer: ${(count / (rawMs / 1000)).toFixed(0)}/s; CPU ${perSend((rcpu.user + rcpu.system) / 1000)} ms per send (sink included); ratio ${(rawMs / wallMs).toFixed(2)}`);
  out(`Postgres backends' CPU: ${perSend(pgMs)} ms per send; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  out(`per send, wall ms inside: the activity ${perSend(activityMs)}, render ${perSend(phase.render)}, SMTP (pool wait + transaction) ${perSend(phase.smtp)}, SQL statements ${perSend(sqlMs)}`);
  out(`message body (html + text): ${(bodyChars / count).toFixed(0)} characters per send against ${sample.html.length + sample.text.length} for raw nodemailer`);
  out(`statements: ${total} (${(total / count).toFixed(2)} per send)`);
  for (const [k, e] of rowsBy.slice(0, 20)) out(`${(e.n / count).toFixed(3).padStart(7)}/send ${e.ms.toFixed(0).padStart(7)} ms ${(e.ms / e.n).toFixed(2).padStart(7)} ms/st  ${k}`);
} finally {
  // The database first: a sink still waiting on a client's QUIT must not leave it behind.
  await database.drop();
  await Promise.race([sink.close(), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
}
