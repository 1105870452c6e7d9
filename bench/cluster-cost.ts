// `npm run bench:cluster -- [--runs 500] [--park 500] [--workers 1,2]`: what one journey run costs on the real Temporal
// server (src/temporal/cluster.ts, Postgres persistence and SQL visibility) with production worker processes: history
// events and bytes, bytes in Temporal's two databases, rows and bytes in itinera's, worker CPU ms, runs per second, and
// what the Temporal Postgres wrote for it (WAL records and bytes, commits, buffers written: pg_stat_wal,
// pg_stat_database, pg_stat_bgwriter). Two phases per worker count, on a fresh private Postgres and cluster:
// - journeys: --runs contacts through the chaos suite's journey (tests/chaos/journey.yaml: one email, one signed
//   webhook, one score change);
// - park: --park runs of bench/journeys/parked.yaml, each waiting on a timer until the contact's wake_at: the cost of
//   holding them (taken once all have parked), then of waking and finishing them, and the wake-up lag.
// Writes bench/results/cluster-cost.json; docs/scaling.md cites it.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { ensureCluster } from '../src/temporal/cluster';
import { resolveTemporalServer } from '../src/temporal/server-binary';
import { ensureWorkflowBundle } from '../src/temporal/workflow-bundle';
import { startPgCluster } from '../tests/chaos/harness/postgres';
import { startChaosStack } from '../tests/chaos/harness/stack';
import { freeClusterPort } from '../tests/cluster/ports';
import { and, eq, sql } from 'drizzle-orm';
import { contacts, journeyRuns } from '../src/db/schema';
import { publishJourney } from '../src/publishing/journeys';
import { startJourneyRun } from '../src/ingest/router';
import { loadTemplateCatalog } from '../src/templates/catalog';
import { TEMPLATES_DIR } from '../src/paths';
import { mapLimit, procMemory, sleep } from './lib/stack';
import { percentile } from './lib/report';
import { journeyYaml } from './scenarios/journeys';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const RUNS = Number(arg('runs', '500'));
const PARK = Number(arg('park', '500'));
const IDLE_MS = 30_000;
const WORKER_COUNTS = arg('workers', '1,2').split(',').map(Number);
const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** utime + stime of a process, in ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / TICKS) * 1000;
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

const dbUrl = (base: string, db: string) => {
  const u = new URL(base);
  u.pathname = `/${db}`;
  return u.toString();
};

/** Bytes of the database and its live rows per table (after ANALYZE, so the counts are current). */
async function footprint(url: string): Promise<{ bytes: number; rows: number; tables: Record<string, { rows: number; bytes: number }> }> {
  await query(url, 'analyze');
  const [size] = await query<{ b: string }>(url, 'select pg_database_size(current_database()) as b');
  const tables = await query<{ t: string; rows: string; bytes: string }>(
    url,
    `select relname as t, n_live_tup as rows, pg_total_relation_size(relid) as bytes from pg_stat_user_tables`,
  );
  return {
    bytes: Number(size!.b),
    rows: tables.reduce((n, t) => n + Number(t.rows), 0),
    tables: Object.fromEntries(tables.map((t) => [t.t, { rows: Number(t.rows), bytes: Number(t.bytes) }])),
  };
}

function delta(after: Awaited<ReturnType<typeof footprint>>, before: Awaited<ReturnType<typeof footprint>>, runs: number) {
  const tables: Record<string, { rowsPerRun: number; bytesPerRun: number }> = {};
  for (const [t, a] of Object.entries(after.tables)) {
    const b = before.tables[t] ?? { rows: 0, bytes: 0 };
    if (a.rows !== b.rows || a.bytes !== b.bytes) tables[t] = { rowsPerRun: (a.rows - b.rows) / runs, bytesPerRun: Math.round((a.bytes - b.bytes) / runs) };
  }
  return { bytesPerRun: Math.round((after.bytes - before.bytes) / runs), rowsPerRun: (after.rows - before.rows) / runs, tables };
}

/**
 * What the Temporal Postgres has written so far, cluster-wide (Temporal is its only user): WAL records, full-page
 * images and bytes (pg_stat_wal), commits in Temporal's two databases (pg_stat_database: each one a WAL flush on a
 * disk that syncs, fewer with group commit) and 8 KiB buffers written to data files by checkpoints, the background
 * writer and backends (pg_stat_bgwriter). A CHECKPOINT first, so the pages a phase dirtied are counted in that phase.
 */
async function writeCounters(url: string) {
  await query(url, 'checkpoint');
  const [w] = await query<{ records: string; fpi: string; bytes: string }>(url, 'select wal_records as records, wal_fpi as fpi, wal_bytes as bytes from pg_stat_wal');
  const [d] = await query<{ commits: string }>(url, `select sum(xact_commit) as commits from pg_stat_database where datname in ('temporal', 'temporal_visibility')`);
  const [b] = await query<{ written: string; checkpoints: string }>(
    url,
    'select buffers_checkpoint + buffers_clean + buffers_backend as written, checkpoints_timed + checkpoints_req as checkpoints from pg_stat_bgwriter',
  );
  return { walRecords: Number(w!.records), walFpi: Number(w!.fpi), walBytes: Number(w!.bytes), commits: Number(d!.commits), buffersWritten: Number(b!.written) };
}

type Counters = Awaited<ReturnType<typeof writeCounters>>;
const perRun = (after: Counters, before: Counters, runs: number) => ({
  walRecords: Number(((after.walRecords - before.walRecords) / runs).toFixed(1)),
  walFullPageImages: Number(((after.walFpi - before.walFpi) / runs).toFixed(2)),
  walBytes: Math.round((after.walBytes - before.walBytes) / runs),
  commits: Number(((after.commits - before.commits) / runs).toFixed(1)),
  buffersWritten: Number(((after.buffersWritten - before.buffersWritten) / runs).toFixed(2)),
});

/** History length and size, as the server counts them, of up to 50 journey runs matching `query`. */
async function histories(client: Awaited<ReturnType<typeof startChaosStack>>['client'], query: string) {
  const lengths: number[] = [];
  const sizes: number[] = [];
  for await (const wf of client.workflow.list({ query, pageSize: 50 })) {
    const d = await client.workflow.getHandle(wf.workflowId, wf.runId).describe();
    lengths.push(d.historyLength);
    sizes.push(Number(d.raw.workflowExecutionInfo?.historySizeBytes ?? 0));
    if (lengths.length >= 50) break;
  }
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return { historyEventsPerRun: avg(lengths), historyBytesPerRun: Math.round(avg(sizes)) };
}

async function measure(workers: number) {
  const pgc = await startPgCluster();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'itinera-cluster-cost-'));
  const [binaries] = await Promise.all([resolveTemporalServer(), ensureWorkflowBundle()]);
  const cluster = await ensureCluster({ binaries, databaseUrl: pgc.url, dataDir, port: await freeClusterPort(), log: () => undefined });
  const stack = await startChaosStack({ restartsPostgres: false, temporalAddress: cluster.address, workers, workerEntry: 'production' });
  try {
    await Promise.all(stack.workers.map((w) => w.ready()));
    // The stack's private Postgres has no password, so its redacted location is its URL.
    const itineraUrl = stack.database.location;
    const temporalDbs = ['temporal', 'temporal_visibility'];
    // What the server writes with nothing to do (shard leases, queue ack levels, membership heartbeats): the phases'
    // write counters include it for their duration, so it is measured apart, per second.
    const idleFrom = await writeCounters(pgc.url);
    const idleT0 = Date.now();
    await sleep(IDLE_MS);
    const idleSeconds = (Date.now() - idleT0) / 1000;
    const temporalPostgresIdlePerSecond = perRun(await writeCounters(pgc.url), idleFrom, idleSeconds);
    const before = {
      temporal: await Promise.all(temporalDbs.map((d) => footprint(dbUrl(pgc.url, d)))),
      itinera: await footprint(itineraUrl),
      cpu: stack.workers.map((w) => cpuMs(w.pid()!)),
      writes: await writeCounters(pgc.url),
    };
    const started = Date.now();
    await stack.ingest(0, RUNS, { batch: 100, concurrency: 2 });
    await stack.settle(RUNS, 30 * 60_000);
    const wallMs = Date.now() - started;
    const cpu = stack.workers.map((w, i) => cpuMs(w.pid()!) - before.cpu[i]!);
    const o = await stack.outcome(RUNS);
    if (o.completed !== RUNS || o.emails.duplicates || o.webhooks.duplicatesApplied) throw new Error(`not every run completed exactly once: ${JSON.stringify({ completed: o.completed, lost: o.lost, contactsCreated: o.contactsCreated, lostSamples: o.lostSamples, emails: o.emails.duplicates, webhooks: o.webhooks.duplicatesApplied }, null, 1)}`);
    const writes = await writeCounters(pgc.url);
    const after = {
      temporal: await Promise.all(temporalDbs.map((d) => footprint(dbUrl(pgc.url, d)))),
      itinera: await footprint(itineraUrl),
    };
    const runsPerSecond = Number((RUNS / (wallMs / 1000)).toFixed(2));
    const journeys = {
      runs: RUNS,
      wallMs,
      runsPerSecond,
      ...(await histories(stack.client, `WorkflowType="journeyWorkflow" AND ExecutionStatus="Completed"`)),
      temporalHistoryDb: delta(after.temporal[0]!, before.temporal[0]!, RUNS),
      temporalVisibilityDb: delta(after.temporal[1]!, before.temporal[1]!, RUNS),
      itineraDb: delta(after.itinera, before.itinera, RUNS),
      temporalPostgresWrites: perRun(writes, before.writes, RUNS),
      workerCpuMsPerRun: Number((cpu.reduce((a, b) => a + b, 0) / RUNS).toFixed(2)),
      workerCpuMsEach: cpu.map(Math.round),
    };
    const parked = PARK > 0 ? await park(stack, pgc.url, runsPerSecond) : null;
    return { workers, historyShards: cluster.historyShards, temporalPostgresIdlePerSecond, journeys, parked };
  } finally {
    await stack.stop();
    await cluster.stop();
    await pgc.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The park phase: PARK runs of bench/journeys/parked.yaml started as the event router starts them (signalWithStart,
 * 8 at a time), each waiting until its contact's wake_at. The due times lie in a 10 s window that opens once every run
 * should have parked (1.5 x the time the journeys phase would take for as many runs, at least a minute): the holding
 * cost is taken when all have parked, the rest when all have woken and finished.
 */
async function park(stack: Awaited<ReturnType<typeof startChaosStack>>, temporalPgUrl: string, journeysPerSecond: number) {
  const db = stack.database.db;
  const temporalDbs = ['temporal', 'temporal_visibility'].map((d) => dbUrl(temporalPgUrl, d));
  const itineraUrl = stack.database.location;
  const published = await publishJourney(db, journeyYaml('parked'), { templates: await loadTemplateCatalog(TEMPLATES_DIR) });
  const dueFirst = Date.now() + Math.max(60_000, (PARK / Math.max(0.2, journeysPerSecond)) * 1500);
  const ids: string[] = [];
  for (let i = 0; i < PARK; i += 1000) {
    const rows = await db
      .insert(contacts)
      .values(Array.from({ length: Math.min(1000, PARK - i) }, (_, k) => ({ externalId: `park-${i + k}`, attributes: { wake_at: new Date(dueFirst + (((i + k) * 0.6180339887) % 1) * 10_000).toISOString() } })))
      .returning({ id: contacts.id });
    ids.push(...rows.map((r) => r.id));
  }
  const count = async (where: ReturnType<typeof sql>) => {
    const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(journeyRuns).where(and(eq(journeyRuns.journeyId, published.journeyId), where));
    return row!.n;
  };
  const snapshot = async () => {
    const writes = await writeCounters(temporalPgUrl);
    return { writes, temporal: await Promise.all(temporalDbs.map(footprint)), itinera: await footprint(itineraUrl), cpu: stack.workers.map((w) => cpuMs(w.pid()!)) };
  };
  const costs = (after: Awaited<ReturnType<typeof snapshot>>, before: Awaited<ReturnType<typeof snapshot>>) => ({
    temporalHistoryDb: delta(after.temporal[0]!, before.temporal[0]!, PARK),
    temporalVisibilityDb: delta(after.temporal[1]!, before.temporal[1]!, PARK),
    itineraDb: delta(after.itinera, before.itinera, PARK),
    temporalPostgresWrites: perRun(after.writes, before.writes, PARK),
    workerCpuMsPerRun: Number((after.cpu.reduce((a, c, i) => a + c - before.cpu[i]!, 0) / PARK).toFixed(2)),
  });
  const before = await snapshot();
  const t0 = Date.now();
  await mapLimit(PARK, 8, (i) =>
    startJourneyRun({ temporal: stack.client, taskQueue: stack.taskQueue }, {
      journeyId: published.journeyId, version: published.version, entry: { reEntry: 'once', maxConcurrent: 1 }, contactId: ids[i]!,
      event: { id: `park-${i}`, type: 'bench.park', properties: {}, occurredAt: Date.now() },
    }).then((r) => {
      if (!r.started) throw new Error(`park run ${i} did not start: ${r.reason}`);
    }),
  );
  let holding = await count(sql`${journeyRuns.currentStep} = 'hold'`);
  while (holding < PARK && Date.now() < dueFirst) {
    await sleep(500);
    holding = await count(sql`${journeyRuns.currentStep} = 'hold'`);
  }
  const parkSeconds = (Date.now() - t0) / 1000;
  if (holding < PARK) throw new Error(`only ${holding} of ${PARK} runs had parked when the first timers fell due: raise the margin`);
  const held = await snapshot();
  const heldHistory = await histories(stack.client, `WorkflowType="journeyWorkflow" AND ExecutionStatus="Running"`);
  const rssMiB = stack.workers.map((w) => Math.round((procMemory(w.pid()!)?.rss ?? NaN) / 2 ** 20));
  const deadline = dueFirst + 10_000 + 10 * 60_000;
  while ((await count(sql`${journeyRuns.status} <> 'running'`)) < PARK && Date.now() < deadline) await sleep(1000);
  const woken = await snapshot();
  const wokenHistory = await histories(stack.client, `WorkflowType="journeyWorkflow" AND ExecutionStatus="Completed" AND JourneyId="${published.journeyId}"`);
  const lagRows = (await db.execute(sql`
    select extract(epoch from (d.entered_at - (c.attributes->>'wake_at')::timestamptz)) * 1000 as lag
    from journey_run_steps d join contacts c on c.id = d.contact_id
    where d.journey_id = ${published.journeyId} and d.step_id = 'done'`)) as unknown as { rows: { lag: number }[] };
  const lags = lagRows.rows.map((r) => Number(r.lag));
  return {
    runs: PARK,
    parkSeconds: Number(parkSeconds.toFixed(1)),
    parkedPerSecond: Number((PARK / parkSeconds).toFixed(2)),
    holding: { ...heldHistory, ...costs(held, before), workerRssMiB: rssMiB },
    wokenAndFinished: { runs: lags.length, ...wokenHistory, ...costs(woken, before) },
    wakeLagMs: { p50: Math.round(percentile(lags, 50) ?? NaN), p99: Math.round(percentile(lags, 99) ?? NaN), max: Math.round(Math.max(...lags)) },
  };
}

const results = [];
for (const n of WORKER_COUNTS) {
  const r = await measure(n);
  process.stdout.write(`${JSON.stringify(r)}\n`);
  results.push(r);
}
const out = path.join('bench', 'results', 'cluster-cost.json');
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify({ scenario: 'cluster-cost', command: `npm run bench:cluster -- --runs ${RUNS} --park ${PARK} --workers ${WORKER_COUNTS.join(',')}`, loadavg: readFileSync('/proc/loadavg', 'utf8').trim(), machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, date: new Date().toISOString(), results }, null, 2)}\n`,
);
process.stdout.write(`→ ${out}\n`);
process.exit(0);
