/**
 * Audience launch: time to enrol N contacts into a journey (every run parks on a 1-hour timer), the time until every
 * run has reached that timer, and the in-process worker's peak RSS while it happens.
 *   npm run bench:launch -- [count=10000] [--rate 1000] [--page 500]
 * Starts its own file-backed dev server (WAL pragmas) and uses a fresh Postgres database from DATABASE_URL (or
 * PGlite). Not a test: the numbers depend on the machine; results go to bench/results/launch-<count>.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { and, eq, sql } from 'drizzle-orm';
import { createActivities } from '../src/activities';
import { createFileMailer } from '../src/channels/email/mailer';
import { createOutboxSmsSender } from '../src/channels/sms';
import { createTestDatabase } from '../tests/helpers/db';
import { contacts, journeyRuns } from '../src/db/schema';
import { publishJourney } from '../src/publishing/journeys';
import { createTextRenderer } from '../src/templates/text';
import { createRenderer } from '../src/wiring/channels';
import { TEMPLATES_DIR } from '../src/paths';
import { resolveTemporalBinary } from '../src/temporal/cli-binary';
import { startDevServer } from '../src/temporal/dev-server';
import { createWorker } from '../src/wiring/worker';
import { batchTaskQueue, type LaunchProgress, launchProgressQuery } from '../src/contracts';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const count = Number(args.find((a, i) => /^\d+$/.test(a) && !args[i - 1]?.startsWith('--')) ?? 10_000);
const rate = flag('rate', 1000);
const pageSize = flag('page', 500);

const JOURNEY = `
id: bench-launch
name: Launch benchmark
triggers: [{ type: audience, filter: { field: region, exists: true } }]
entry: { re_entry: once }
start: hold
steps:
  hold: { type: wait, duration: 1h, next: done }
  done: { type: exit }
`;

/** A fresh Postgres database (DATABASE_URL) or in-memory PGlite, dropped at the end. */
const scratchDatabase = () => createTestDatabase({ poolSize: 20, prefix: 'itinera_bench' });

const secs = (ms: number) => Math.round(ms / 100) / 10;

async function main() {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'itinera-bench-launch-'));
  const bin = await resolveTemporalBinary();
  if (bin.kind !== 'path') throw new Error('the benchmark needs a local temporal binary (npm run temporal:bin)');
  const server = await startDevServer({ binary: bin.path, dataDir: tmp, port: 7300 + Math.floor(Math.random() * 500), headless: true, logLevel: 'error' });
  const db = await scratchDatabase();
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 250);
  try {
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const taskQueue = 'bench-launch';
    await publishJourney(db.db, JOURNEY, {});
    process.stdout.write(`seeding ${count.toLocaleString('en-US')} contacts into ${(db.kind === 'postgres' ? 'Postgres' : 'PGlite (in memory)')}…\n`);
    for (let i = 0; i < count; i += 5000) {
      const n = Math.min(5000, count - i);
      await db.db.insert(contacts).values(Array.from({ length: n }, (_, k) => ({ externalId: `b${i + k}`, region: ['east', 'north', 'south'][(i + k) % 3]! })));
    }
    const activities = createActivities({
      db: db.db,
      mailer: createFileMailer(path.join(tmp, 'mail')),
      renderer: await createRenderer(),
      text: createTextRenderer(TEMPLATES_DIR),
      sms: createOutboxSmsSender(async () => 'outbox'),
      smsProvider: 'outbox',
      defaultFrom: 'bench <bench@itinera.test>',
      tracking: { baseUrl: 'http://itinera.test', secrets: ['bench-secret-0123456789abcdef0123456789abcdef'], physicalAddress: 'bench' },
      temporal: { client, taskQueue },
    });
    const { worker, connection: workerConnection } = await createWorker({ address: server.address, namespace: 'default', taskQueue, activities });
    const running = worker.run();
    const baseRss = process.memoryUsage().rss;

    const t0 = Date.now();
    const handle = await client.workflow.start('audienceLaunchWorkflow', {
      workflowId: `launch_bench_${randomBytes(4).toString('hex')}`,
      taskQueue: batchTaskQueue(taskQueue),
      args: [{ v: 1, journeyId: 'bench-launch', ratePerSecond: rate, pageSize, filter: { consent: null } }],
    });
    const progress = setInterval(() => {
      handle
        .query(launchProgressQuery)
        .then((p) => process.stdout.write(`  ${secs(Date.now() - t0)} s: ${p.scanned.toLocaleString('en-US')} scanned, ${p.enrolled.toLocaleString('en-US')} enrolled\n`))
        .catch(() => undefined);
    }, 10_000);
    const result = (await handle.result()) as LaunchProgress;
    const launchMs = Date.now() - t0;
    clearInterval(progress);
    process.stdout.write(`launch ${result.status}: ${result.enrolled.toLocaleString('en-US')} enrolled in ${secs(launchMs)} s; waiting for every run to park…\n`);
    let parked = 0;
    while (parked < result.enrolled) {
      await new Promise((r) => setTimeout(r, 1000));
      const [row] = await db.db.select({ n: sql<number>`count(*)::int` }).from(journeyRuns).where(and(eq(journeyRuns.journeyId, 'bench-launch'), eq(journeyRuns.currentStep, 'hold')));
      parked = row!.n;
    }
    const parkedMs = Date.now() - t0;
    worker.shutdown();
    await running;
    await workerConnection.close();
    await connection.close();

    const out = {
      scenario: 'audience-launch',
      contacts: count,
      enrolled: result.enrolled,
      launchSeconds: secs(launchMs),
      enrolPerSecond: Math.round(result.enrolled / (launchMs / 1000)),
      allParkedSeconds: secs(parkedMs),
      workerPeakRssMiB: Math.round(peakRss / 2 ** 20),
      workerBaseRssMiB: Math.round(baseRss / 2 ** 20),
      params: { rate, pageSize, database: (db.kind === 'postgres' ? 'Postgres' : 'PGlite (in memory)'), temporal: 'dev server (SQLite, WAL)' },
      machine: { cpus: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
      date: new Date().toISOString(),
    };
    console.table(out);
    const dir = fileURLToPath(new URL('./results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `launch-${count}.json`), `${JSON.stringify(out, null, 2)}\n`);
  } finally {
    clearInterval(sampler);
    await db.drop();
    await server.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
