/**
 * The benchmark harness (issue 7): starts its own stack, runs each scenario beside its baseline, prints a table and
 * writes bench/results/<scenario>.json, summary.md, throughput.svg and latency.svg.
 *   npm run bench                      full sizes
 *   npm run bench -- --quick           small sizes (the whole run in under 3 minutes on 2 cores)
 *   npm run bench -- --only ingest,email --ingest-seconds 20
 * Size flags: --journeys N (contact pool) --journeys-seconds S --journeys-warm S --concurrency N (runs in flight)
 *             --ingest-seconds S --connections N --e2e-rate R --e2e-seconds S
 *             --parked N --park-seconds S (0 = no time limit) --wake-window S (0 = auto) --wake-sample K (0 = all) --bare-starts N
 *             --start-concurrency N (parked and bare starts in flight) --launch-runs N (parked through a launch)
 *             --emails N --email-concurrency N --simulations N
 *             --analytics-contacts N --analytics-runs N (per report) --analytics-ingest N (events)
 *             --import-rows N --import-existing N (contacts the file dedupes against; default a fifth of the rows)
 * Tuning flags: --db-pool N --smtp-pool N --max-cached N. Benchmarks are not tests: nothing here gates CI.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { latencySvg, machineInfo, scenarioResult, summaryMarkdown, summaryTable, throughputSvg, type ScenarioResult } from './lib/report';
import { startItineraWorker, startStack, type RunningWorker, type Stack, type Tuning } from './lib/context';
import { publishJourney } from '../src/publishing/journeys';
import { loadTemplateCatalog } from '../src/templates/catalog';
import { TEMPLATES_DIR } from '../src/paths';
import { emailScenario } from './scenarios/email';
import { eventEmailScenario } from './scenarios/event-email';
import { importScenario } from './scenarios/import';
import { ingestScenario } from './scenarios/ingest';
import { journeysScenario, journeyYaml } from './scenarios/journeys';
import { parkedScenario } from './scenarios/parked';
import { simulatorScenario } from './scenarios/simulator';
import { analyticsScenario } from './scenarios/analytics';
import type { ScenarioOutput } from './scenarios/types';

export const SCENARIOS = ['simulator', 'email', 'ingest', 'event-email', 'journeys', 'parked', 'analytics', 'import'] as const;
type Scenario = (typeof SCENARIOS)[number];

const args = process.argv.slice(2);
const has = (name: string) => args.includes(`--${name}`);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = has('quick');
const num = (name: string, quickValue: number, fullValue: number): number => {
  const v = opt(name);
  if (v === undefined) return quick ? quickValue : fullValue;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number, got "${v}"`);
  return n;
};

const only = opt('only')?.split(',').map((s) => s.trim()).filter(Boolean);
for (const s of only ?? []) if (!SCENARIOS.includes(s as Scenario)) throw new Error(`--only: unknown scenario "${s}" (one of ${SCENARIOS.join(', ')})`);
const selected = SCENARIOS.filter((s) => !only || only.includes(s));

const sizes = {
  simulations: num('simulations', 10_000, 100_000),
  emails: num('emails', 400, 5000),
  emailConcurrency: num('email-concurrency', 50, 50),
  ingestSeconds: num('ingest-seconds', 4, 20),
  connections: num('connections', 20, 20),
  e2eRate: num('e2e-rate', 5, 5),
  e2eSeconds: num('e2e-seconds', 6, 30),
  journeys: num('journeys', 3000, 20_000),
  journeysSeconds: num('journeys-seconds', 8, 60),
  journeysWarm: num('journeys-warm', 2, 5),
  concurrency: num('concurrency', 16, 32),
  startConcurrency: num('start-concurrency', 32, 32),
  parked: num('parked', 10_000, 100_000),
  parkSeconds: num('park-seconds', 15, 0),
  wakeWindow: num('wake-window', 0, 0),
  wakeSample: num('wake-sample', 0, 0),
  bareStarts: num('bare-starts', 200, 5000),
  launchRuns: num('launch-runs', 0, 5000),
  analyticsContacts: num('analytics-contacts', 20_000, 1_000_000),
  analyticsRuns: num('analytics-runs', 5, 20),
  analyticsIngest: num('analytics-ingest', 2000, 20_000),
  importRows: num('import-rows', 20_000, 1_000_000),
  importExisting: num('import-existing', -1, -1),
};
const tuning: Tuning = { dbPool: num('db-pool', 20, 20), smtpPool: num('smtp-pool', 5, 5), maxCachedWorkflows: num('max-cached', 1500, 1500) };

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const TASK_QUEUE = 'bench';

async function main() {
  const wall0 = Date.now();
  const machine = machineInfo();
  const loadAtStart = os.loadavg()[0]!;
  mkdirSync(RESULTS, { recursive: true });
  process.stdout.write(`itinera bench (${quick ? 'quick' : 'full'}): ${selected.join(', ')} on ${machine.cpus} × ${machine.model}, Node ${machine.node}\n`);
  let stack: Stack | undefined;
  let worker: RunningWorker | undefined;
  const getStack = async () => {
    if (!stack) {
      const t = Date.now();
      stack = await startStack(tuning);
      process.stdout.write(`  stack up in ${((Date.now() - t) / 1000).toFixed(1)} s: Temporal dev server ${stack.temporal.address} (SQLite ${stack.temporal.dbFile}), ${stack.db.kind === 'postgres' ? 'Postgres (fresh database)' : 'PGlite (in memory)'}, SMTP sink ${stack.sink.url}, webhook receiver ${stack.receiver.url}\n`);
    }
    return stack;
  };
  /** itinera's worker for the journeys and event → email scenarios (the parked scenario starts a fresh one). */
  const getWorker = async (s: Stack) => {
    if (!worker) {
      await publishJourney(s.db.db, journeyYaml('welcome'), { templates: await loadTemplateCatalog(TEMPLATES_DIR) });
      worker = await startItineraWorker(s, TASK_QUEUE);
    }
    return worker;
  };

  const run: Record<Scenario, () => Promise<ScenarioOutput>> = {
    simulator: () => simulatorScenario({ count: sizes.simulations }),
    email: async () => emailScenario(await getStack(), { count: sizes.emails, concurrency: sizes.emailConcurrency }),
    ingest: async () => ingestScenario(await getStack(), { seconds: sizes.ingestSeconds, connections: sizes.connections, taskQueue: TASK_QUEUE }),
    'event-email': async () => {
      const s = await getStack();
      await getWorker(s);
      return eventEmailScenario(s, { rate: sizes.e2eRate, seconds: sizes.e2eSeconds, taskQueue: TASK_QUEUE });
    },
    journeys: async () => {
      const s = await getStack();
      return journeysScenario(s, { maxContacts: sizes.journeys, seconds: sizes.journeysSeconds, warmSeconds: sizes.journeysWarm, concurrency: sizes.concurrency, taskQueue: TASK_QUEUE, worker: await getWorker(s) });
    },
    analytics: async () => analyticsScenario(await getStack(), { contacts: sizes.analyticsContacts, runs: sizes.analyticsRuns, ingestEvents: sizes.analyticsIngest, concurrency: 20, taskQueue: TASK_QUEUE }),
    import: async () => {
      const s = await getStack();
      const existing = sizes.importExisting >= 0 ? sizes.importExisting : Math.floor(sizes.importRows / 5);
      return importScenario(s, { rows: sizes.importRows, existing, taskQueue: TASK_QUEUE, worker: await getWorker(s) });
    },
    parked: async () => {
      const s = await getStack();
      // A worker of its own, started now, so its memory is that of holding the parked runs and nothing else.
      if (worker && !worker.inProcess) {
        await worker.stop();
        worker = undefined;
      }
      const w = await startItineraWorker(s, `${TASK_QUEUE}-parked`);
      try {
        return await parkedScenario(s, { contacts: sizes.parked, parkSeconds: sizes.parkSeconds, concurrency: sizes.startConcurrency, wakeWindowSeconds: sizes.wakeWindow, wakeSample: sizes.wakeSample, bareStarts: sizes.bareStarts, launchRuns: sizes.launchRuns, taskQueue: `${TASK_QUEUE}-parked`, worker: w });
      } finally {
        await w.stop();
      }
    },
  };

  const results: ScenarioResult[] = [];
  const failures: string[] = [];
  try {
    for (const name of selected) {
      const t = Date.now();
      process.stdout.write(`\n▶ ${name}\n`);
      // The machine is shared: how busy it was when the scenario began goes with the figures.
      const loadAverage = os.loadavg().map((x) => Math.round(x * 100) / 100);
      try {
        const out = await run[name]();
        const result = scenarioResult({ scenario: name, ...out, params: { ...out.params, loadAverageAtStart: loadAverage }, machine, date: new Date().toISOString() });
        results.push(result);
        writeFileSync(path.join(RESULTS, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
        for (const m of result.metrics) {
          process.stdout.write(`  ${m.metric}: ${m.value} ${m.unit}${m.baseline !== null ? ` vs ${m.baseline} (ratio ${m.ratio})` : ''}${m.met === null ? '' : m.met ? ' ✓' : ' ✗ target missed'}\n`);
        }
        for (const n of result.params.notes ?? []) process.stdout.write(`  note: ${n}\n`);
        process.stdout.write(`  (${((Date.now() - t) / 1000).toFixed(1)} s)\n`);
      } catch (err) {
        failures.push(`${name}: ${(err as Error).message}`);
        process.stdout.write(`  ✗ ${name} failed: ${(err as Error).stack}\n`);
      }
    }
  } finally {
    await worker?.stop();
    await stack?.close();
  }
  const wallSeconds = Math.round((Date.now() - wall0) / 100) / 10;
  const meta = { date: new Date().toISOString(), machine, mode: quick ? 'quick' : 'full', wallSeconds, loadAverage: Math.round(loadAtStart * 100) / 100 };
  writeFileSync(path.join(RESULTS, 'summary.md'), summaryMarkdown(results, meta));
  writeFileSync(path.join(RESULTS, 'throughput.svg'), throughputSvg(results));
  writeFileSync(path.join(RESULTS, 'latency.svg'), latencySvg(results));
  process.stdout.write(`\n${summaryTable(results)}\n\nwhole run: ${wallSeconds} s · results in ${path.relative(process.cwd(), RESULTS) || RESULTS}\n`);
  if (failures.length) {
    process.stdout.write(`failed scenarios:\n  ${failures.join('\n  ')}\n`);
    process.exitCode = 2;
  }
}

await main();
