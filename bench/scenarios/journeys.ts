/**
 * Journeys/s: N contacts through a four-action journey (send_email to the SMTP sink, update_score, tag, webhook to
 * the local receiver), against a bare Temporal workflow calling four trivial activities on the same server. Runs are
 * started by the client with bounded concurrency and the clock stops when the last result is in. Each side has its
 * own worker child process (src/worker-main.ts, bench/bare/worker.ts).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { contacts } from '../../src/db/schema';
import { publishJourney } from '../../src/engine/journeys';
import { startJourneyRun } from '../../src/engine/router';
import { loadTemplateCatalog } from '../../src/journey/templates';
import { TEMPLATES_DIR } from '../../src/services';
import { ratioOf, type Metric } from '../lib/report';
import { startBareWorker, type RunningWorker, type Stack } from '../lib/context';
import { cpuMeter, mapLimit, progressEvery } from '../lib/stack';
import type { ScenarioOutput } from './types';

export const journeyYaml = (name: string, vars: Record<string, string> = {}): string =>
  Object.entries(vars).reduce((y, [k, v]) => y.replaceAll(`__${k}__`, v), readFileSync(fileURLToPath(new URL(`../journeys/${name}.yaml`, import.meta.url)), 'utf8'));

export async function journeysScenario(
  stack: Stack,
  opts: { contacts: number; concurrency: number; taskQueue: string; worker: RunningWorker },
): Promise<ScenarioOutput> {
  const n = opts.contacts;
  const warm = Math.min(20, n);
  const db = stack.db.db;
  const published = await publishJourney(db, journeyYaml('four-actions', { WEBHOOK_URL: stack.receiver.url }), { templates: loadTemplateCatalog(TEMPLATES_DIR) });
  const rows = await db
    .insert(contacts)
    .values(Array.from({ length: n + warm }, (_, i) => ({ externalId: `journey-${i}`, email: `journey${i}@bench.test`, firstName: 'Jo', consent: { email: 'opted_in' as const } })))
    .returning({ id: contacts.id });
  const entry = { reEntry: 'once' as const, maxConcurrent: 1 };
  const runOurs = async (i: number) => {
    const event = { id: `four-${i}`, type: 'bench.four_actions', properties: {}, occurredAt: Date.now() };
    const r = await startJourneyRun({ temporal: stack.client, taskQueue: opts.taskQueue }, { journeyId: published.journeyId, version: published.version, entry, contactId: rows[i]!.id, event });
    if (!r.started) throw new Error(`run ${i} did not start: ${r.reason}`);
    return r.workflowId;
  };
  /** Starts every run (bounded concurrency), then waits for every result: throughput = runs / (last result − first start). */
  const measure = async (count: number, offset: number, start: (i: number) => Promise<string>) => {
    const ids: string[] = [];
    let done = 0;
    const t0 = performance.now();
    const stop = progressEvery(5000, () => `${ids.length} started, ${done} of ${count} finished`);
    try {
      const results: Promise<unknown>[] = [];
      await mapLimit(count, opts.concurrency, async (k) => {
        const id = await start(offset + k);
        ids.push(id);
        results.push(stack.client.workflow.getHandle(id).result().then(() => void done++));
      });
      await Promise.all(results);
    } finally {
      stop();
    }
    return performance.now() - t0;
  };

  // Warm-up (not timed): worker caches, pools, SMTP and HTTP connections.
  await measure(warm, n, runOurs);
  const mail0 = stack.sink.received();
  const hooks0 = stack.receiver.received();
  const cpuOurs = cpuMeter({ devServer: stack.temporal.process.pid, worker: opts.worker.pid, harness: process.pid });
  const oursMs = await measure(n, 0, runOurs);
  const oursCpu = cpuOurs();
  const mails = stack.sink.received() - mail0;
  const hooks = stack.receiver.received() - hooks0;

  const bareQueue = `${opts.taskQueue}-bare`;
  const bare = await startBareWorker(stack, bareQueue);
  let bareMs: number;
  let bareCpu: ReturnType<ReturnType<typeof cpuMeter>>;
  try {
    const runBare = async (i: number) => {
      const h = await stack.client.workflow.start('bareFourActivitiesWorkflow', { workflowId: `bare-four-${i}`, taskQueue: bareQueue, args: [`c${i}`] });
      return h.workflowId;
    };
    await measure(warm, n, runBare);
    const cpuBare = cpuMeter({ devServer: stack.temporal.process.pid, worker: bare.pid, harness: process.pid });
    bareMs = await measure(n, 0, runBare);
    bareCpu = cpuBare();
  } finally {
    await bare.stop();
  }
  const ours = n / (oursMs / 1000);
  const base = n / (bareMs / 1000);
  const metrics: Metric[] = [
    {
      metric: 'journeys_per_second', value: Math.round(ours * 10) / 10, unit: 'journeys/s', baseline: Math.round(base * 10) / 10, ratio: ratioOf(ours, base), kind: 'throughput', baselineName: 'bare Temporal, 4 trivial activities',
      targets: [{ on: 'value', op: '>=', bound: 40 }, { on: 'ratio', op: '>=', bound: 0.9 }],
    },
  ];
  const notes: string[] = [];
  if (mails !== n || hooks !== n) notes.push(`the sink got ${mails} emails and the receiver ${hooks} webhooks for ${n} runs`);
  return {
    metrics,
    params: {
      contacts: n, startConcurrency: opts.concurrency, journey: 'bench/journeys/four-actions.yaml', emails: mails, webhooks: hooks,
      seconds: { ours: Math.round(oursMs / 100) / 10, bare: Math.round(bareMs / 100) / 10 },
      cpuCores: { ours: oursCpu, bare: bareCpu },
      worker: opts.worker.inProcess ? 'in-process (PGlite)' : 'src/worker-main.ts (child process)',
    },
    notes,
  };
}
