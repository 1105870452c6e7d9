/**
 * Parked contacts: N journey runs waiting on timers. Measures what holding them costs (the worker child's RSS and
 * peak RSS from /proc, pg_database_size, the dev server's SQLite size, the server's own RSS and answer time), then
 * the wake-up lag when the timers fire: lag = when the run entered the step after its timer (step journal,
 * journey_run_steps.entered_at) minus the timer's due time (the contact's attributes.wake_at, which the wait reads).
 *
 * Runs are started by the client with bounded concurrency (signalWithStart, as the event router does). The first
 * K runs calibrate the park rate and wait for an hour (they stay parked); the wake-ups of the others are then placed
 * in a window that opens after every run should have parked. The bound is measured too: CPU used by the dev server,
 * the worker and the whole machine while parking, and bare workflow starts/s on the same server afterwards.
 */
import { and, eq, sql } from 'drizzle-orm';
import { contacts, journeyRuns } from '../../src/db/schema';
import { publishJourney } from '../../src/engine/journeys';
import { startJourneyRun } from '../../src/engine/router';
import { loadTemplateCatalog } from '../../src/journey/templates';
import { TEMPLATES_DIR } from '../../src/services';
import { percentile, round, type Metric } from '../lib/report';
import type { RunningWorker, Stack } from '../lib/context';
import { startBareWorker } from '../lib/context';
import { cpuMeter, mapLimit, procMemory, progressEvery, sleep, sqliteBytes } from '../lib/stack';
import { journeyYaml } from './journeys';
import type { ScenarioOutput } from './types';

const MiB = 2 ** 20;

export async function parkedScenario(
  stack: Stack,
  opts: { contacts: number; concurrency: number; wakeWindowSeconds: number; bareStarts: number; taskQueue: string; worker: RunningWorker },
): Promise<ScenarioOutput> {
  const n = opts.contacts;
  const db = stack.db.db;
  const notes: string[] = [];
  const published = await publishJourney(db, journeyYaml('parked'), { templates: loadTemplateCatalog(TEMPLATES_DIR) });
  const ids: string[] = [];
  for (let i = 0; i < n; i += 5000) {
    const rows = await db
      .insert(contacts)
      .values(Array.from({ length: Math.min(5000, n - i) }, (_, k) => ({ externalId: `parked-${i + k}`, attributes: { wake_at: null } })))
      .returning({ id: contacts.id });
    ids.push(...rows.map((r) => r.id));
  }
  const entry = { reEntry: 'once' as const, maxConcurrent: 1 };
  const start = (i: number) =>
    startJourneyRun({ temporal: stack.client, taskQueue: opts.taskQueue }, {
      journeyId: published.journeyId, version: published.version, entry, contactId: ids[i]!,
      event: { id: `park-${i}`, type: 'bench.park', properties: {}, occurredAt: Date.now() },
    }).then((r) => {
      if (!r.started) throw new Error(`run ${i} did not start: ${r.reason}`);
    });
  const parkedCount = async () => {
    const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(journeyRuns).where(and(eq(journeyRuns.journeyId, published.journeyId), eq(journeyRuns.currentStep, 'hold')));
    return row!.n;
  };
  const setWake = async (from: number, to: number, at: (k: number) => number) => {
    // One statement per 5,000 contacts: ordinal position k in [from, to) → its own due time.
    for (let i = from; i < to; i += 5000) {
      const chunk = ids.slice(i, Math.min(to, i + 5000));
      const values = chunk.map((id, j) => `('${id}'::uuid, '${new Date(at(i + j)).toISOString()}')`).join(',');
      await db.execute(sql.raw(`update contacts c set attributes = jsonb_set(c.attributes, '{wake_at}', to_jsonb(v.at)) from (values ${values}) as v(id, at) where c.id = v.id`));
    }
  };

  // Calibration: K runs parked for an hour give the rate at which this server and worker park runs.
  const k = Math.min(n, Math.max(100, Math.round(n * 0.05)));
  await setWake(0, k, () => Date.now() + 3_600_000);
  const t0 = Date.now();
  const cpu = cpuMeter({ devServer: stack.temporal.process.pid, worker: opts.worker.pid, harness: process.pid });
  let started = 0;
  let parked = 0;
  const stopProgress = progressEvery(5000, () => `${started.toLocaleString('en-US')} started, ${parked.toLocaleString('en-US')} of ${n.toLocaleString('en-US')} parked`);
  const peakWorker = { rss: 0, hwm: 0 };
  const sampler = setInterval(() => {
    const m = procMemory(opts.worker.pid);
    if (m) {
      peakWorker.rss = Math.max(peakWorker.rss, m.rss);
      peakWorker.hwm = Math.max(peakWorker.hwm, m.hwm);
    }
  }, 500);
  let dueFirst = 0;
  let dueLast = 0;
  let parkedSeconds = 0;
  let startSeconds = 0;
  try {
    await mapLimit(k, opts.concurrency, async (i) => {
      await start(i);
      started++;
    });
    while ((parked = await parkedCount()) < k) await sleep(250);
    const calibrationRate = k / ((Date.now() - t0) / 1000);
    // The rest wake in a window that opens once they should all have parked (25% margin, +3 s).
    const rest = n - k;
    dueFirst = Date.now() + (rest / calibrationRate) * 1250 + 3000;
    dueLast = dueFirst + opts.wakeWindowSeconds * 1000;
    await setWake(k, n, (i) => dueFirst + (rest > 1 ? ((i - k) / (rest - 1)) * (dueLast - dueFirst) : 0));
    process.stdout.write(`    parked: calibration ${k} runs at ${round(calibrationRate, 1)} runs/s; the other ${rest.toLocaleString('en-US')} wake from +${round((dueFirst - Date.now()) / 1000, 0)} s over ${opts.wakeWindowSeconds} s\n`);
    await mapLimit(rest, opts.concurrency, async (i) => {
      await start(k + i);
      started++;
    });
    startSeconds = (Date.now() - t0) / 1000;
    while ((parked = await parkedCount()) < n) {
      if (Date.now() > dueFirst) break; // wake-ups have begun: not every run parked before its timer was due
      await sleep(500);
    }
    parkedSeconds = (Date.now() - t0) / 1000;
  } finally {
    stopProgress();
  }
  const parkCpu = cpu();
  const allParked = parked >= n;
  if (!allParked) notes.push(`only ${parked.toLocaleString('en-US')} of ${n.toLocaleString('en-US')} runs had parked when the first timers fell due`);

  // The cost of holding them.
  await sleep(1000);
  const held = procMemory(opts.worker.pid);
  const serverMem = procMemory(stack.temporal.process.pid!);
  const dbBytes = await stack.db.size();
  const sqlite = sqliteBytes(stack.temporal.dbFile);
  const h0 = performance.now();
  await stack.connection.workflowService.getSystemInfo({});
  const healthMs = performance.now() - h0;
  const running = await stack.client.workflow.count(`WorkflowType = 'journeyWorkflow' AND ExecutionStatus = 'Running'`).then((c) => c.count).catch(() => null);

  // Wake-ups: wait until every run past calibration has left the wait (or a minute after the last due time).
  const woken = async () => {
    const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(journeyRuns).where(and(eq(journeyRuns.journeyId, published.journeyId), sql`${journeyRuns.status} <> 'running'`));
    return row!.n;
  };
  let awake = 0;
  const stopWake = progressEvery(5000, () => `${awake.toLocaleString('en-US')} of ${(n - k).toLocaleString('en-US')} woke`);
  const wakeCpu = cpuMeter({ devServer: stack.temporal.process.pid, worker: opts.worker.pid });
  try {
    if (dueFirst > Date.now()) await sleep(dueFirst - Date.now());
    while ((awake = await woken()) < n - k && Date.now() < dueLast + 60_000) await sleep(500);
  } finally {
    stopWake();
  }
  const wakeCpuUse = wakeCpu();
  clearInterval(sampler);
  const after = procMemory(opts.worker.pid);
  const lagRows = await db.execute<{ lag: number; late: boolean }>(sql`
    select extract(epoch from (d.entered_at - (c.attributes->>'wake_at')::timestamptz)) * 1000 as lag,
           h.entered_at > (c.attributes->>'wake_at')::timestamptz as late
    from journey_run_steps d
    join journey_run_steps h on h.workflow_id = d.workflow_id and h.step_id = 'hold'
    join contacts c on c.id = d.contact_id
    where d.journey_id = ${published.journeyId} and d.step_id = 'done'`);
  const rows = (lagRows as unknown as { rows?: { lag: number; late: boolean }[] }).rows ?? (lagRows as unknown as { lag: number; late: boolean }[]);
  const lags = rows.map((r) => Number(r.lag));
  const late = rows.filter((r) => r.late).length;
  if (late) notes.push(`${late} runs reached their wait after its due time (their lag includes the start backlog)`);
  if (lags.length < n - k) notes.push(`${(n - k - lags.length).toLocaleString('en-US')} of ${(n - k).toLocaleString('en-US')} runs had not woken a minute after the last due time`);

  // The bound: bare workflow starts/s on the same server, same concurrency, and who used the CPU meanwhile.
  let bare: { startsPerSecond: number; cpu: ReturnType<ReturnType<typeof cpuMeter>> } | null = null;
  if (opts.bareStarts > 0) {
    const queue = `${opts.taskQueue}-bare`;
    const w = await startBareWorker(stack, queue);
    try {
      const due = Date.now() + 3_600_000;
      const c = cpuMeter({ devServer: stack.temporal.process.pid, worker: w.pid, harness: process.pid });
      const b0 = performance.now();
      await mapLimit(opts.bareStarts, opts.concurrency, async (i) => {
        await stack.client.workflow.start('bareParkWorkflow', { workflowId: `bare-park-${i}`, taskQueue: queue, args: [due] });
      });
      bare = { startsPerSecond: round(opts.bareStarts / ((performance.now() - b0) / 1000), 1), cpu: c() };
    } finally {
      await w.stop();
    }
  }

  const p50 = percentile(lags, 50);
  const p99 = percentile(lags, 99);
  const parkRate = n / parkedSeconds;
  const metrics: Metric[] = [
    { metric: 'parked_runs', value: parked, unit: 'runs', baseline: null, ratio: null, kind: 'size', targets: [{ on: 'value', op: '>=', bound: n }] },
    { metric: 'worker_rss_parked', value: round((held?.rss ?? NaN) / MiB, 0), unit: 'MiB', baseline: null, ratio: null, kind: 'size', targets: [{ on: 'value', op: '<=', bound: 1024 }] },
    { metric: 'worker_peak_rss', value: round(Math.max(peakWorker.hwm, after?.hwm ?? 0) / MiB, 0), unit: 'MiB', baseline: null, ratio: null, kind: 'size', targets: [{ on: 'value', op: '<=', bound: 1024 }] },
    { metric: 'wake_lag_p50', value: p50 === null ? NaN : round(p50, 0), unit: 'ms', baseline: null, ratio: null, kind: 'latency' },
    { metric: 'wake_lag_p99', value: p99 === null ? NaN : round(p99, 0), unit: 'ms', baseline: null, ratio: null, kind: 'latency', targets: [{ on: 'value', op: '<=', bound: 5000 }] },
    { metric: 'park_rate', value: round(parkRate, 1), unit: 'runs/s', baseline: bare?.startsPerSecond ?? null, ratio: bare ? round(parkRate / bare.startsPerSecond, 2) : null, kind: 'throughput', baselineName: 'bare workflow starts/s' },
    { metric: 'postgres_size', value: dbBytes === null ? NaN : round(dbBytes / MiB, 0), unit: 'MiB', baseline: null, ratio: null, kind: 'size' },
    { metric: 'sqlite_size', value: round(sqlite / MiB, 0), unit: 'MiB', baseline: null, ratio: null, kind: 'size' },
  ];
  return {
    metrics,
    params: {
      contacts: n, calibrationRuns: k, startConcurrency: opts.concurrency, wakeWindowSeconds: opts.wakeWindowSeconds,
      demandedWakesPerSecond: round((n - k) / Math.max(1, opts.wakeWindowSeconds), 1),
      startVia: 'client signalWithStart (src/engine/router.ts startJourneyRun), bounded concurrency',
      seconds: { allStarted: round(startSeconds, 1), allParked: round(parkedSeconds, 1) },
      woken: lags.length, lateParked: late,
      worker: { process: opts.worker.inProcess ? 'in-process (PGlite): the harness process' : 'src/worker-main.ts (child process)', rssMiB: round((held?.rss ?? NaN) / MiB, 0), hwmMiB: round(Math.max(peakWorker.hwm, after?.hwm ?? 0) / MiB, 0), afterWakeRssMiB: round((after?.rss ?? NaN) / MiB, 0), maxCachedWorkflows: stack.tuning.maxCachedWorkflows },
      server: { rssMiB: serverMem ? round(serverMem.rss / MiB, 0) : null, getSystemInfoMs: round(healthMs, 1), runningJourneyWorkflows: running, sqliteBytes: sqlite },
      postgresBytes: dbBytes,
      cpuCoresWhileParking: parkCpu,
      cpuCoresWhileWaking: wakeCpuUse,
      bound: bare ? { bareStartsPerSecond: bare.startsPerSecond, bareStarts: opts.bareStarts, cpuCores: bare.cpu } : null,
    },
    notes,
  };
}
