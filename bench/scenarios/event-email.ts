/**
 * Event → first email: open-loop `POST /v1/events` (lead.created, a new contact each) at a fixed rate into the
 * production app; a journey triggered by lead.created sends the welcome email first. Latency = the message's arrival
 * at the SMTP sink minus the moment its POST was sent. The worker is src/worker-main.ts in a child process.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { buildApp } from '../../src/api/app';
import { createApiKey } from '../../src/api/auth';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { createLogger } from '../../src/logger';
import { percentile, type Metric } from '../lib/report';
import type { Stack } from '../lib/context';
import { progressEvery, sleep } from '../lib/stack';
import type { ScenarioOutput } from './types';

export async function eventEmailScenario(stack: Stack, opts: { rate: number; seconds: number; taskQueue: string }): Promise<ScenarioOutput> {
  const db = stack.db.db;
  const { key } = await createApiKey(db, { name: 'bench e2e', role: 'integration' });
  const app = buildApp({
    database: stack.db, temporal: stack.client, taskQueue: opts.taskQueue, triggers: dbTriggerSource(db), scoring: stack.scoring,
    logger: createLogger('warn', 'bench-api'), signingSecrets: [stack.signingSecret], rateLimit: { perSecond: 1e9, burst: 1e9 },
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/events`;
  const tag = Date.now().toString(36);
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  stack.sink.onMessage = (to, at) => {
    const t = sentAt.get(to);
    if (t !== undefined) {
      latencies.push(at - t);
      sentAt.delete(to);
    }
  };
  const post = async (i: number, prefix: string) => {
    const email = `${prefix}${i}.${tag}@bench.test`;
    sentAt.set(email, Date.now());
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ id: `${prefix}-${tag}-${i}`, type: 'lead.created', contact: { externalId: `${prefix}-${tag}-${i}`, email, firstName: 'Lead' } }),
    });
    if (res.status !== 202) throw new Error(`POST /v1/events answered ${res.status}: ${await res.text()}`);
    const body = (await res.json()) as { accepted: { runs: string[] }[] };
    if (body.accepted[0]?.runs.length !== 1) throw new Error(`lead.created started ${body.accepted[0]?.runs.length ?? 0} runs, expected 1`);
  };
  const errors: string[] = [];
  try {
    // Warm the path (worker caches, pools) with a few events that are not measured.
    for (let i = 0; i < 3; i++) await post(i, 'warm');
    for (let t = 0; t < 100 && sentAt.size > 0; t++) await sleep(100);
    latencies.length = 0;
    sentAt.clear();

    const total = Math.max(1, Math.round(opts.rate * opts.seconds));
    const stop = progressEvery(5000, () => `${latencies.length} of ${total} welcome emails arrived`);
    const t0 = Date.now();
    const posts: Promise<void>[] = [];
    // Open loop: each POST leaves on its schedule whether or not earlier ones have answered.
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / opts.rate;
      if (due > Date.now()) await sleep(due - Date.now());
      posts.push(post(i, 'lead').catch((err: Error) => void errors.push(err.message)));
    }
    await Promise.all(posts);
    const deadline = Date.now() + 30_000;
    while (latencies.length + errors.length < total && Date.now() < deadline) await sleep(100);
    stop();
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    if (p50 === null || p99 === null) throw new Error(`no welcome email arrived (${errors[0] ?? 'no error reported'})`);
    const metrics: Metric[] = [
      { metric: 'event_to_email_p50', value: p50, unit: 'ms', baseline: null, ratio: null, kind: 'latency' },
      { metric: 'event_to_email_p99', value: p99, unit: 'ms', baseline: null, ratio: null, kind: 'latency', targets: [{ on: 'value', op: '<=', bound: 1000 }] },
    ];
    const notes: string[] = [];
    if (latencies.length < total) notes.push(`${total - latencies.length} of ${total} welcome emails did not arrive within 30 s of the last POST${errors.length ? ` (${errors.length} POSTs failed: ${errors[0]})` : ''}`);
    return {
      metrics,
      params: { ratePerSecond: opts.rate, seconds: opts.seconds, events: total, arrived: latencies.length, maxMs: Math.max(...latencies), journey: 'bench/journeys/welcome.yaml', worker: 'src/worker-main.ts (child process)' },
      notes,
    };
  } finally {
    stack.sink.onMessage = undefined;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}
