// `npm run bench:cluster -- [--runs 500] [--workers 1,2]`: what one journey run costs on the real Temporal server
// (src/temporal/cluster.ts, Postgres persistence and SQL visibility) with production worker processes: history events
// and bytes, bytes in Temporal's two databases, rows and bytes in itinera's, worker CPU ms, runs per second. The journey
// is the chaos suite's (tests/chaos/journey.yaml: one email, one signed webhook, one score change). Each worker count
// gets a fresh private Postgres and cluster. Writes bench/results/cluster-cost.json; docs/scaling.md cites it.
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

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const RUNS = Number(arg('runs', '500'));
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
    const before = {
      temporal: await Promise.all(temporalDbs.map((d) => footprint(dbUrl(pgc.url, d)))),
      itinera: await footprint(itineraUrl),
      cpu: stack.workers.map((w) => cpuMs(w.pid()!)),
    };
    const started = Date.now();
    await stack.ingest(0, RUNS, { batch: 100, concurrency: 2 });
    await stack.settle(RUNS, 30 * 60_000);
    const wallMs = Date.now() - started;
    const cpu = stack.workers.map((w, i) => cpuMs(w.pid()!) - before.cpu[i]!);
    const o = await stack.outcome(RUNS);
    if (o.completed !== RUNS || o.emails.duplicates || o.webhooks.duplicatesApplied) throw new Error(`not every run completed exactly once: ${JSON.stringify({ completed: o.completed, lost: o.lost })}`);
    const after = {
      temporal: await Promise.all(temporalDbs.map((d) => footprint(dbUrl(pgc.url, d)))),
      itinera: await footprint(itineraUrl),
    };
    // History of a sample of runs, as the server counts it.
    const lengths: number[] = [];
    const sizes: number[] = [];
    for await (const wf of stack.client.workflow.list({ query: `WorkflowType="journeyWorkflow" AND ExecutionStatus="Completed"`, pageSize: 50 })) {
      const d = await stack.client.workflow.getHandle(wf.workflowId, wf.runId).describe();
      lengths.push(d.historyLength);
      sizes.push(Number(d.raw.workflowExecutionInfo?.historySizeBytes ?? 0));
      if (lengths.length >= 50) break;
    }
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    return {
      workers,
      runs: RUNS,
      historyShards: cluster.historyShards,
      wallMs,
      runsPerSecond: Number((RUNS / (wallMs / 1000)).toFixed(2)),
      historyEventsPerRun: avg(lengths),
      historyBytesPerRun: Math.round(avg(sizes)),
      temporalHistoryDb: delta(after.temporal[0]!, before.temporal[0]!, RUNS),
      temporalVisibilityDb: delta(after.temporal[1]!, before.temporal[1]!, RUNS),
      itineraDb: delta(after.itinera, before.itinera, RUNS),
      workerCpuMsPerRun: Number((cpu.reduce((a, b) => a + b, 0) / RUNS).toFixed(2)),
      workerCpuMsEach: cpu.map(Math.round),
    };
  } finally {
    await stack.stop();
    await cluster.stop();
    await pgc.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
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
  `${JSON.stringify({ scenario: 'cluster-cost', command: `npm run bench:cluster -- --runs ${RUNS} --workers ${WORKER_COUNTS.join(',')}`, machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, date: new Date().toISOString(), results }, null, 2)}\n`,
);
process.stdout.write(`→ ${out}\n`);
process.exit(0);
