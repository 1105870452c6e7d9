/**
 * Parked contacts: N journey runs waiting on timers. Measures what holding them costs (the worker child's RSS and
 * peak RSS from /proc, pg_database_size, the dev server's SQLite size, the server's own RSS and answer time), then
 * the wake-up lag when the timers fire: lag = when the run entered the step after its timer (step journal,
 * journey_run_steps.entered_at) minus the timer's due time (the contact's attributes.wake_at, which the wait reads).
 *
 * Runs are started by the client in batches with bounded concurrency (signalWithStart, as the event router does),
 * for at most --park-seconds (quick) or until all N are started (full). Before each batch starts, its due times are
 * set to a window that opens once every run should have parked, from the park rate so far; without a time limit the
 * first 5 % only calibrate that rate and wait a day (they stay parked and have no lag). The bound is measured too:
 * CPU used by the dev server, the worker and the whole machine while parking, and bare workflow starts/s on the same
 * server afterwards.
 */
import os from 'node:os';
import { and, eq, sql } from 'drizzle-orm';
import { contacts, journeyRuns } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { startJourneyRun } from '../../src/ingest/router';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { percentile, round, type Metric } from '../lib/report';
import type { RunningWorker, Stack } from '../lib/context';
import { startBareWorker } from '../lib/context';
import { batchTaskQueue } from '../../src/contracts';
import { cpuMeter, mapLimit, procMemory, progressEvery, sleep, sqliteBytes } from '../lib/stack';
import { journeyYaml } from './journeys';
import type { ScenarioOutput } from './types';

const MiB = 2 ** 20;
/** With a time limit: how long after the last start the wake window opens (the backlog is kept to ~4 s of work). */
const DRAIN_MS = 8000;

export async function parkedScenario(
  stack: Stack,
  opts: { contacts: number; parkSeconds: number; concurrency: number; wakeWindowSeconds: number; wakeSample: number; bareStarts: number; launchRuns: number; taskQueue: string; worker: RunningWorker },
): Promise<ScenarioOutput> {
  const n = opts.contacts;
  const db = stack.db.db;
  const notes: string[] = [];
  const published = await publishJourney(db, journeyYaml('parked'), { templates: await loadTemplateCatalog(TEMPLATES_DIR) });
  // Contacts are seeded 2,000 at a time as the starts need them (a time-boxed run never pays for all N).
  const ids: string[] = [];
  const seedUpTo = async (count: number) => {
    while (ids.length < Math.min(count, n)) {
      const from = ids.length;
      const rows = await db
        .insert(contacts)
        .values(Array.from({ length: Math.min(2000, n - from) }, (_, k) => ({ externalId: `parked-${from + k}`, attributes: { wake_at: null } })))
        .returning({ id: contacts.id });
      ids.push(...rows.map((r) => r.id));
    }
  };
  await seedUpTo(2000);
  const entry = { reEntry: 'once' as const, maxConcurrent: 1 };
  const start = (i: number) =>
    startJourneyRun({ temporal: stack.client, taskQueue: opts.taskQueue }, {
      journeyId: published.journeyId, version: published.version, entry, contactId: ids[i]!,
      event: { id: `park-${i}`, type: 'bench.park', properties: {}, occurredAt: Date.now() },
    }).then((r) => {
      if (!r.started) throw new Error(`run ${i} did not start: ${r.reason}`);
    });
  /**
   * One statement for both counts the start loop watches: runs holding at the wait now (`parked`), and runs that
   * reached it, including those already woken from it (`reached`: the backlog and the park rate).
   */
  const counts = async (): Promise<[parked: number, reached: number]> => {
    const [row] = await db
      .select({
        parked: sql<number>`count(*) filter (where ${journeyRuns.currentStep} = 'hold')::int`,
        reached: sql<number>`count(*) filter (where ${journeyRuns.currentStep} = 'hold' or ${journeyRuns.status} <> 'running')::int`,
      })
      .from(journeyRuns)
      .where(eq(journeyRuns.journeyId, published.journeyId));
    return [row!.parked, row!.reached];
  };
  /** Sets wake_at of contacts [from, from + count) to `at(i)` in one statement. */
  const setWake = async (from: number, count: number, at: (i: number) => number) => {
    const values = ids.slice(from, from + count).map((id, j) => `('${id}'::uuid, '${new Date(at(from + j)).toISOString()}')`).join(',');
    await db.execute(sql.raw(`update contacts c set attributes = jsonb_set(c.attributes, '{wake_at}', to_jsonb(v.at)) from (values ${values}) as v(id, at) where c.id = v.id`));
  };

  const t0 = Date.now();
  const deadline = opts.parkSeconds > 0 ? t0 + opts.parkSeconds * 1000 : Number.POSITIVE_INFINITY;
  let windowMs = 0;
  const batch = Math.max(50, opts.concurrency * 2);
  const cpu = cpuMeter({ devServer: stack.temporal.process.pid, worker: opts.worker.pid, harness: process.pid });
  let started = 0;
  let parked = 0;
  // Parked at least once: once wake-ups begin, `parked` (holding now) falls while this keeps counting.
  let reached = 0;
  let calibration = 0;
  // With --wake-sample K, only about K runs, spread evenly over the starts, get a due time in the wake window; the
  // others wait a day like the calibration runs: the sample wakes while all the others stay parked.
  const sampleFraction = opts.wakeSample > 0 ? Math.min(1, opts.wakeSample / n) : 1;
  const inSample = (i: number) => Math.floor((i + 1) * sampleFraction) > Math.floor(i * sampleFraction);
  let heldOnly = 0;
  let dueFirst = Number.POSITIVE_INFINITY;
  let dueLast = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      [parked, reached] = await counts();
      await sleep(300);
    }
  })();
  const rate = () => {
    const s = (Date.now() - t0) / 1000;
    return reached >= 20 && s > 1 ? reached / s : 10;
  };
  const stopProgress = progressEvery(
    5000,
    () => `${started.toLocaleString('en-US')} started, ${parked.toLocaleString('en-US')} holding, ${(reached - parked).toLocaleString('en-US')} woken (${round(rate(), 1)} runs/s parked)`,
  );
  const peakWorker = { rss: 0, hwm: 0, rssAtSeconds: 0, rssPhase: '' };
  // Where the worker's memory went, so a peak above the holding figure can be placed: sampled every 0.5 s, with a
  // line per minute (seconds since the first start, RSS, runs that had reached the wait, phase).
  let phase: 'parking' | 'holding' | 'waking' = 'parking';
  const rssTimeline: { s: number; rssMiB: number; reached: number; phase: string }[] = [];
  let lastLine = -60;
  const sampler = setInterval(() => {
    const m = procMemory(opts.worker.pid);
    if (m) {
      const s = Math.round((Date.now() - t0) / 1000);
      if (m.rss > peakWorker.rss) Object.assign(peakWorker, { rss: m.rss, rssAtSeconds: s, rssPhase: phase });
      peakWorker.hwm = Math.max(peakWorker.hwm, m.hwm);
      if (s - lastLine >= 60) {
        lastLine = s;
        rssTimeline.push({ s, rssMiB: round(m.rss / MiB, 0), reached, phase });
      }
    }
  }, 500);
  let startSeconds: number;
  let parkedSeconds: number;
  try {
    while (started < n && Date.now() < deadline) {
      // Keep the backlog of started-but-not-parked runs to about four seconds of work, so it drains quickly.
      while (started - reached > Math.max(batch, rate() * 4) && Date.now() < deadline) await sleep(100);
      const count = Math.min(batch, n - started);
      await seedUpTo(started + count);
      // Without a time limit, the first 5 % wait a day and only calibrate the rate (they stay parked, no lag).
      if (opts.parkSeconds === 0 && reached < Math.max(100, n * 0.05)) {
        await setWake(started, count, () => Date.now() + 86_400_000);
        calibration += count;
      } else {
        if (!Number.isFinite(dueFirst)) {
          // Planned once: the window opens when every run should have parked and is wide enough that the wake-ups
          // come at 80 % of the rate runs parked (unless --wake-window says otherwise).
          const r = rate();
          const toPark = Number.isFinite(deadline) ? Math.max(0, (deadline - Date.now()) / 1000) * r : n - started;
          dueFirst = Number.isFinite(deadline) ? deadline + DRAIN_MS : Date.now() + 1000 * (1.25 * ((toPark + started - reached) / r) + 3);
          windowMs = opts.wakeWindowSeconds > 0 ? opts.wakeWindowSeconds * 1000 : Math.max(5000, ((toPark * sampleFraction) / (0.8 * r)) * 1000);
          dueLast = dueFirst + windowMs;
        }
        // Golden-ratio steps spread the due times uniformly over the window whatever the final count.
        const dayAway = Date.now() + 86_400_000;
        for (let i = started; i < started + count; i++) if (!inSample(i)) heldOnly++;
        await setWake(started, count, (i) => (inSample(i) ? dueFirst + ((i * 0.6180339887) % 1) * windowMs : dayAway));
      }
      const from = started;
      await mapLimit(count, opts.concurrency, (j) => start(from + j));
      started += count;
    }
    startSeconds = (Date.now() - t0) / 1000;
    // Every run parked, or the first timers are due: the holding figures are taken now.
    while (reached < started && Date.now() < dueFirst) await sleep(200);
    parkedSeconds = (Date.now() - t0) / 1000;
  } finally {
    polling = false;
    await poller;
    stopProgress();
  }
  phase = 'holding';
  const parkCpu = cpu();
  [parked, reached] = await counts();
  if (parked < started) notes.push(`${parked.toLocaleString('en-US')} of ${started.toLocaleString('en-US')} runs had parked when the first timers fell due (the holding figures were taken then)`);
  if (started < n) notes.push(`${started.toLocaleString('en-US')} of ${n.toLocaleString('en-US')} runs were started within --park-seconds ${opts.parkSeconds}: this is what the server parked in that time, not the size asked for`);

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

  // Wake-ups: wait until every run past calibration has left the wait (or a grace period after the last due time).
  const woken = async () => {
    const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(journeyRuns).where(and(eq(journeyRuns.journeyId, published.journeyId), sql`${journeyRuns.status} <> 'running'`));
    return row!.n;
  };
  const expected = started - calibration - heldOnly;
  if (heldOnly > 0) notes.push(`wake-up lag measured on a sample: ${expected.toLocaleString('en-US')} runs spread over the starts woke while ${(calibration + heldOnly).toLocaleString('en-US')} stayed parked (--wake-sample)`);
  const graceMs = Math.max(15_000, windowMs / 2);
  let awake = 0;
  const stopWake = progressEvery(5000, () => `${awake.toLocaleString('en-US')} of ${expected.toLocaleString('en-US')} woke`);
  const wakeCpu = cpuMeter({ devServer: stack.temporal.process.pid, worker: opts.worker.pid });
  try {
    if (dueFirst > Date.now() && Number.isFinite(dueFirst)) await sleep(dueFirst - Date.now());
    phase = 'waking';
    while ((awake = await woken()) < expected && Date.now() < dueLast + graceMs) await sleep(300);
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
  if (lags.length < expected) notes.push(`${(expected - lags.length).toLocaleString('en-US')} of ${expected.toLocaleString('en-US')} runs had not woken ${graceMs / 1000} s after the last due time`);

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

  // The other way to start many runs: an audience launch (the batch workflow pages through contacts and starts them).
  const launch = opts.launchRuns > 0 ? await launchComparison(stack, { count: opts.launchRuns, taskQueue: opts.taskQueue }) : null;

  const coresNote = (c: ReturnType<ReturnType<typeof cpuMeter>>) =>
    `machine ${c.machineBusyCores} of ${os.cpus().length} cores busy; ${Object.entries(c.cores).map(([k, v]) => `${k} ${v ?? '?'}`).join(', ')}`;
  notes.push(`CPU while parking (cores): ${coresNote(parkCpu)}`);
  if (bare) notes.push(`bound: bare workflow starts on the same server ${bare.startsPerSecond}/s (${coresNote(bare.cpu)})`);
  const p50 = percentile(lags, 50);
  const p99 = percentile(lags, 99);
  const parkRate = reached / Math.max(0.001, parkedSeconds);
  const metrics: Metric[] = [
    { metric: 'parked_runs', value: parked, unit: 'runs', baseline: null, ratio: null, kind: 'size', targets: [{ on: 'value', op: '>=', bound: opts.parkSeconds > 0 ? Math.min(n, 10_000) : n }] },
    { metric: 'worker_rss_parked', value: round((held?.rss ?? NaN) / MiB, 0), unit: 'MiB', baseline: null, ratio: null, kind: 'size', targets: [{ on: 'value', op: '<=', bound: 1024 }] },
    { metric: 'worker_peak_rss', value: round(Math.max(peakWorker.hwm, after?.hwm ?? 0) / MiB, 0), unit: 'MiB', baseline: null, ratio: null, kind: 'size', targets: [{ on: 'value', op: '<=', bound: 1024 }] },
    { metric: 'wake_lag_p50', value: p50 === null ? NaN : round(p50, 0), unit: 'ms', baseline: null, ratio: null, kind: 'latency' },
    { metric: 'wake_lag_p99', value: p99 === null ? NaN : round(p99, 0), unit: 'ms', baseline: null, ratio: null, kind: 'latency', targets: [{ on: 'value', op: '<=', bound: 5000 }] },
    { metric: 'park_rate', value: round(parkRate, 1), unit: 'runs/s', baseline: bare?.startsPerSecond ?? null, ratio: bare ? round(parkRate / bare.startsPerSecond, 2) : null, kind: 'throughput', baselineName: 'bare workflow starts/s' },
    ...(launch
      ? [{ metric: 'park_rate_via_launch', value: launch.parkedPerSecond, unit: 'runs/s', baseline: round(parkRate, 1), ratio: round(launch.parkedPerSecond / parkRate, 2), kind: 'throughput' as const, baselineName: 'direct client starts' }]
      : []),
    { metric: 'postgres_size', value: dbBytes === null ? NaN : round(dbBytes / MiB, 0), unit: 'MiB', baseline: null, ratio: null, kind: 'size' },
    { metric: 'sqlite_size', value: round(sqlite / MiB, 0), unit: 'MiB', baseline: null, ratio: null, kind: 'size' },
  ];
  return {
    metrics,
    params: {
      contacts: n, parkSeconds: opts.parkSeconds || null, started, calibrationRuns: calibration, wakeSample: opts.wakeSample > 0 ? expected : null, heldThroughWake: calibration + heldOnly, startConcurrency: opts.concurrency, wakeWindowSeconds: round(windowMs / 1000, 1),
      wakeSpanSeconds: Number.isFinite(dueFirst) ? round((dueLast - dueFirst) / 1000, 1) : null,
      demandedWakesPerSecond: Number.isFinite(dueFirst) ? round(expected / Math.max(1, (dueLast - dueFirst) / 1000), 1) : null,
      startVia: 'client signalWithStart (src/ingest/router.ts startJourneyRun), bounded concurrency',
      seconds: { allStarted: round(startSeconds, 1), allParked: round(parkedSeconds, 1) },
      woken: lags.length, lateParked: late,
      worker: { process: opts.worker.inProcess ? 'in-process (PGlite): the harness process' : 'src/worker-main.ts (child process)', rssMiB: round((held?.rss ?? NaN) / MiB, 0), hwmMiB: round(Math.max(peakWorker.hwm, after?.hwm ?? 0) / MiB, 0), afterWakeRssMiB: round((after?.rss ?? NaN) / MiB, 0), sampledPeakRssMiB: round(peakWorker.rss / MiB, 0), sampledPeakAtSeconds: peakWorker.rssAtSeconds, sampledPeakPhase: peakWorker.rssPhase, rssTimeline, maxCachedWorkflows: stack.tuning.maxCachedWorkflows },
      server: { rssMiB: serverMem ? round(serverMem.rss / MiB, 0) : null, getSystemInfoMs: round(healthMs, 1), runningJourneyWorkflows: running, sqliteBytes: sqlite },
      postgresBytes: dbBytes,
      cpuCoresWhileParking: parkCpu,
      cpuCoresWhileWaking: wakeCpuUse,
      launch,
      bound: bare ? { bareStartsPerSecond: bare.startsPerSecond, bareStarts: opts.bareStarts, cpuCores: bare.cpu } : null,
    },
    notes,
  };
}

/**
 * Parks `count` runs of bench/journeys/parked-launch.yaml through audienceLaunchWorkflow (as POST
 * /v1/journeys/:id/launches would) and times it until every run has parked; their timers are a day away.
 */
async function launchComparison(stack: Stack, opts: { count: number; taskQueue: string }) {
  const db = stack.db.db;
  const published = await publishJourney(db, journeyYaml('parked-launch'), { templates: await loadTemplateCatalog(TEMPLATES_DIR) });
  const wakeAt = new Date(Date.now() + 86_400_000).toISOString();
  for (let i = 0; i < opts.count; i += 2000) {
    await db.insert(contacts).values(Array.from({ length: Math.min(2000, opts.count - i) }, (_, k) => ({ externalId: `launch-${i + k}`, attributes: { launch_group: 'bench', wake_at: wakeAt } })));
  }
  const parkedCount = async () => {
    const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(journeyRuns).where(and(eq(journeyRuns.journeyId, published.journeyId), eq(journeyRuns.currentStep, 'hold')));
    return row!.n;
  };
  let parked = 0;
  const stop = progressEvery(5000, () => `launch: ${parked.toLocaleString('en-US')} of ${opts.count.toLocaleString('en-US')} parked`);
  const t0 = Date.now();
  let enrolSeconds = 0;
  try {
    const handle = await stack.client.workflow.start('audienceLaunchWorkflow', {
      workflowId: `launch-bench-${t0}`,
      taskQueue: batchTaskQueue(opts.taskQueue),
      args: [{ v: 1, journeyId: published.journeyId, version: published.version, ratePerSecond: 1000, pageSize: 500 }],
    });
    void handle.result().then(() => (enrolSeconds = (Date.now() - t0) / 1000), () => undefined);
    while ((parked = await parkedCount()) < opts.count && Date.now() - t0 < 600_000) await sleep(300);
  } finally {
    stop();
  }
  const seconds = (Date.now() - t0) / 1000;
  return { runs: opts.count, parked, enrolSeconds: round(enrolSeconds, 1), allParkedSeconds: round(seconds, 1), parkedPerSecond: round(parked / seconds, 1) };
}
