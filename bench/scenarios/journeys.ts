/**
 * Journeys/s: N contacts through a four-action journey (send_email to the SMTP sink, update_score, tag, webhook to
 * the local receiver), against two bare Temporal workflows on the same server: the fair baseline does the same four
 * side effects (same SMTP sink and pool size, same score/tag SQL on the same table, same webhook receiver) with none
 * of our bookkeeping, so the ratio is the engine's overhead; four trivial activities are kept as context (Temporal's
 * floor). Each runs a closed loop for the same time (a fixed number of runs in flight, started by the client — ours
 * with signalWithStart as the event router does) with its own worker child process (src/worker-main.ts,
 * bench/bare/worker.ts). The effect baseline needs Postgres (its worker is another process); on PGlite the trivial one
 * is the baseline and the notes say so.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { contacts } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { parseOutboundAllow } from '../../src/net/addresses';
import { startJourneyRun } from '../../src/ingest/router';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { percentile, ratioOf, round, type Metric } from '../lib/report';
import { startBareWorker, type RunningWorker, type Stack } from '../lib/context';
import { cpuMeter, progressEvery } from '../lib/stack';
import type { ScenarioOutput } from './types';

export const journeyYaml = (name: string, vars: Record<string, string> = {}): string =>
  Object.entries(vars).reduce((y, [k, v]) => y.replaceAll(`__${k}__`, v), readFileSync(fileURLToPath(new URL(`../journeys/${name}.yaml`, import.meta.url)), 'utf8'));

export async function journeysScenario(
  stack: Stack,
  opts: { maxContacts: number; seconds: number; warmSeconds: number; concurrency: number; taskQueue: string; worker: RunningWorker },
): Promise<ScenarioOutput> {
  const pool = opts.maxContacts;
  const db = stack.db.db;
  // The receiver is on 127.0.0.1: publish with the OUTBOUND_ALLOW the bench's worker gets (bench/lib/context.ts).
  const outboundAllow = parseOutboundAllow('127.0.0.1').allow;
  const published = await publishJourney(db, journeyYaml('four-actions', { WEBHOOK_URL: stack.receiver.url }), { templates: await loadTemplateCatalog(TEMPLATES_DIR), outboundAllow });
  const seed = async (prefix: string) => {
    const out: { id: string; email: string | null }[] = [];
    for (let i = 0; i < pool; i += 5000) {
      out.push(...(await db
        .insert(contacts)
        .values(Array.from({ length: Math.min(5000, pool - i) }, (_, k) => ({ externalId: `${prefix}-${i + k}`, email: `${prefix}${i + k}@bench.test`, firstName: 'Jo', consent: { email: 'opted_in' as const } })))
        .returning({ id: contacts.id, email: contacts.email })));
    }
    return out;
  };
  const rows = await seed('journey');
  const entry = { reEntry: 'once' as const, maxConcurrent: 1 };
  const runOurs = async (i: number) => {
    const event = { id: `four-${i}`, type: 'bench.four_actions', properties: {}, occurredAt: Date.now() };
    const r = await startJourneyRun({ temporal: stack.client, taskQueue: opts.taskQueue }, { journeyId: published.journeyId, version: published.version, entry, contactId: rows[i]!.id, event });
    if (!r.started) throw new Error(`run ${i} did not start: ${r.reason}`);
    return r.workflowId;
  };
  const mail0 = stack.sink.received();
  const hooks0 = stack.receiver.received();
  const oursRun = await closedLoop(stack, opts, pool, runOurs, { devServer: stack.temporal.process.pid, worker: opts.worker.pid, harness: process.pid });
  const mails = stack.sink.received() - mail0;
  const hooks = stack.receiver.received() - hooks0;

  const bareQueue = `${opts.taskQueue}-bare`;
  const bare = await startBareWorker(stack, bareQueue);
  let effectsRun: Awaited<ReturnType<typeof closedLoop>> | undefined;
  let trivialRun: Awaited<ReturnType<typeof closedLoop>>;
  let effectMails = 0;
  let effectHooks = 0;
  try {
    const pids = { devServer: stack.temporal.process.pid, worker: bare.pid, harness: process.pid };
    if (stack.db.url) {
      const bareRows = await seed('bare');
      const m0 = stack.sink.received();
      const h0 = stack.receiver.received();
      const runEffects = async (i: number) => {
        const c = bareRows[i]!;
        const h = await stack.client.workflow.start('bareFourEffectsWorkflow', { workflowId: `bare-effects-${i}`, taskQueue: bareQueue, args: [{ contactId: c.id, email: c.email! }] });
        return h.workflowId;
      };
      effectsRun = await closedLoop(stack, opts, pool, runEffects, pids);
      effectMails = stack.sink.received() - m0;
      effectHooks = stack.receiver.received() - h0;
    }
    const runTrivial = async (i: number) => {
      const h = await stack.client.workflow.start('bareFourActivitiesWorkflow', { workflowId: `bare-four-${i}`, taskQueue: bareQueue, args: [`c${i}`] });
      return h.workflowId;
    };
    trivialRun = await closedLoop(stack, opts, pool, runTrivial, pids);
  } finally {
    await bare.stop();
  }
  const ours = oursRun.counted / opts.seconds;
  const trivial = trivialRun.counted / opts.seconds;
  const base = effectsRun ?? trivialRun;
  const baseRate = base.counted / opts.seconds;
  const baseName = effectsRun ? 'bare Temporal, the same 4 side effects (SMTP, score SQL, tag SQL, webhook)' : 'bare Temporal, 4 trivial activities (no Postgres for the effect baseline)';
  const metrics: Metric[] = [
    {
      metric: 'journeys_per_second', value: round(ours, 1), unit: 'journeys/s', baseline: round(baseRate, 1), ratio: ratioOf(ours, baseRate), kind: 'throughput', baselineName: baseName,
      targets: [{ on: 'value', op: '>=', bound: 40 }, { on: 'ratio', op: '>=', bound: 0.9 }],
    },
    { metric: 'journey_duration_p50', value: oursRun.p50, unit: 'ms', baseline: base.p50, ratio: ratioOf(oursRun.p50, base.p50), kind: 'latency', baselineName: 'bare' },
    { metric: 'journey_duration_p99', value: oursRun.p99, unit: 'ms', baseline: base.p99, ratio: ratioOf(oursRun.p99, base.p99), kind: 'latency', baselineName: 'bare' },
    ...(effectsRun
      ? [{ metric: 'journeys_per_second_vs_trivial', value: round(ours, 1), unit: 'journeys/s', baseline: round(trivial, 1), ratio: ratioOf(ours, trivial), kind: 'throughput' as const, baselineName: 'bare Temporal, 4 trivial activities (context)' }]
      : []),
  ];
  const notes: string[] = [];
  if (mails !== oursRun.completed || hooks !== oursRun.completed) notes.push(`the sink got ${mails} emails and the receiver ${hooks} webhooks for ${oursRun.completed} finished runs`);
  if (effectsRun && (effectMails !== effectsRun.completed || effectHooks !== effectsRun.completed)) {
    notes.push(`the effect baseline sent ${effectMails} emails and ${effectHooks} webhooks for ${effectsRun.completed} finished runs`);
  }
  if (!effectsRun) notes.push('no DATABASE_URL: the effect baseline (a separate worker process) needs Postgres; the ratio is against trivial activities');
  const cores = (c: typeof oursRun.cpu) => (c ? `machine ${c.machineBusyCores} cores busy, dev server ${c.cores.devServer ?? '?'}, worker ${c.cores.worker ?? '?'}` : 'not measured');
  notes.push(`CPU in the measured window (cores): itinera: ${cores(oursRun.cpu)}; bare effects: ${cores(effectsRun?.cpu ?? null)}; bare trivial: ${cores(trivialRun.cpu)}`);
  if (oursRun.exhausted || trivialRun.exhausted || effectsRun?.exhausted) notes.push(`the pool of ${pool} contacts ran out before the time was up: raise --journeys`);
  return {
    metrics,
    params: {
      seconds: opts.seconds, warmSeconds: opts.warmSeconds, inFlight: opts.concurrency, contactPool: pool, journey: 'bench/journeys/four-actions.yaml',
      runs: {
        ours: { counted: oursRun.counted, completed: oursRun.completed, warmSeconds: oursRun.warmSeconds, drainSeconds: oursRun.drainSeconds },
        ...(effectsRun ? { bareEffects: { counted: effectsRun.counted, completed: effectsRun.completed, warmSeconds: effectsRun.warmSeconds, drainSeconds: effectsRun.drainSeconds } } : {}),
        bareTrivial: { counted: trivialRun.counted, completed: trivialRun.completed, warmSeconds: trivialRun.warmSeconds, drainSeconds: trivialRun.drainSeconds },
      },
      emails: mails, webhooks: hooks,
      cpuCores: { ours: oursRun.cpu, bareEffects: effectsRun?.cpu ?? null, bareTrivial: trivialRun.cpu },
      worker: opts.worker.inProcess ? 'in-process (PGlite)' : 'src/worker-main.ts (child process)',
    },
    notes,
  };
}

/**
 * Closed loop: `concurrency` runs in flight, each slot starting the next run when its last one finished. The measured
 * window opens after the warm-up time once a first generation of runs has finished; runs finishing inside it are
 * counted, those still in flight at its end are drained and not counted, so throughput = counted / seconds.
 */
async function closedLoop(
  stack: Stack,
  opts: { seconds: number; warmSeconds: number; concurrency: number },
  pool: number,
  start: (i: number) => Promise<string>,
  pids: Record<string, number | undefined>,
) {
  let next = 0;
  let counted = 0;
  let completed = 0;
  let exhausted = false;
  const durations: number[] = [];
  const t0 = Date.now();
  // The window opens once the warm-up time has passed AND a first generation of runs has finished (steady state).
  let from = Number.POSITIVE_INFINITY;
  let to = Number.POSITIVE_INFINITY;
  let meter: ReturnType<typeof cpuMeter> | undefined;
  let cpu: ReturnType<ReturnType<typeof cpuMeter>> | undefined;
  const openWindow = () => {
    from = Date.now();
    to = from + opts.seconds * 1000;
    meter = cpuMeter(pids);
  };
  const stop = progressEvery(5000, () => `${completed} finished (${counted} in the measured window), ${next - completed} in flight`);
  try {
    await Promise.all(
      Array.from({ length: opts.concurrency }, async () => {
        while (Date.now() < to) {
          if (next >= pool) {
            exhausted = true;
            return;
          }
          const began = Date.now();
          const id = await start(next++);
          await stack.client.workflow.getHandle(id).result();
          const t = Date.now();
          completed++;
          if (t >= from && t < to) {
            counted++;
            durations.push(t - began);
          } else if (t >= to && !cpu) {
            cpu = meter?.();
          }
          if (!Number.isFinite(from) && completed >= opts.concurrency && t - t0 >= opts.warmSeconds * 1000) openWindow();
        }
      }),
    );
  } finally {
    stop();
  }
  return {
    counted,
    completed,
    exhausted,
    warmSeconds: round((from - t0) / 1000, 1),
    drainSeconds: round(Math.max(0, Date.now() - to) / 1000, 1),
    p50: percentile(durations, 50) ?? Number.NaN,
    p99: percentile(durations, 99) ?? Number.NaN,
    cpu: cpu ?? meter?.() ?? null,
    windowSeconds: opts.seconds,
  };
}
