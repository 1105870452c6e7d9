/**
 * Ingest: events/s and latency of `POST /v1/events` (the production app: API-key auth, zod validation, contact
 * upsert, fit and event scoring, event insert, routing) under autocannon, against a bare express + pg server that
 * inserts the same row into a copy of the events table. Both servers run in this process, one after the other; the
 * load generator is a child process (bench/lib/load.ts), so it never shares their event loop.
 */
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import pg from 'pg';
import { sql } from 'drizzle-orm';
import { buildApp } from '../../src/api/app';
import { createApiKey } from '../../src/api/auth';
import { contacts } from '../../src/db/schema';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { createLogger } from '../../src/logger';
import { ratioOf, round, type Metric } from '../lib/report';
import type { Stack } from '../lib/context';
import { PROJECT_ROOT, progressEvery } from '../lib/stack';
import type { ScenarioOutput } from './types';

type LoadResult = { requests: number; perSecond: number; ok: number; non2xx: number; errors: number; timeouts: number; latency: { p50: number; p90: number; p99: number; max: number; mean: number } };

export async function runLoad(job: { url: string; token?: string; warmSeconds: number; seconds: number; connections: number; contacts: number; tag: string }): Promise<LoadResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/lib/load.ts', JSON.stringify(job)], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = progressEvery(5000, () => `autocannon running (${job.warmSeconds} s warm-up + ${job.seconds} s)`);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve)).finally(stop);
  const line = out.trim().split('\n').at(-1);
  if (code !== 0 || !line) throw new Error(`load generator failed (${code}): ${err.slice(-2000)}`);
  return JSON.parse(line) as LoadResult;
}

const listen = (app: express.Express) =>
  new Promise<Server>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
const close = (s: Server) => {
  s.closeAllConnections();
  return new Promise<void>((r) => s.close(() => r()));
};
const urlOf = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}/v1/events`;

/** The baseline: parse JSON, check the few required fields, insert the row. What any ingest endpoint must do. */
async function bareServer(stack: Stack): Promise<{ server: Server; close(): Promise<void> }> {
  await stack.db.db.execute(sql.raw('create table if not exists bench_events_bare (like events including all)'));
  const pool = stack.db.url ? new pg.Pool({ connectionString: stack.db.url, max: stack.tuning.dbPool }) : undefined;
  const insert = async (e: { id: string; type: string; properties: unknown }) => {
    if (pool) {
      await pool.query('insert into bench_events_bare (id, type, properties, occurred_at, source) values ($1, $2, $3, now(), $4) on conflict (id) do nothing', [e.id, e.type, JSON.stringify(e.properties ?? {}), 'api']);
    } else {
      await stack.db.db.execute(sql`insert into bench_events_bare (id, type, properties, occurred_at, source) values (${e.id}, ${e.type}, ${JSON.stringify(e.properties ?? {})}::jsonb, now(), 'api') on conflict (id) do nothing`);
    }
  };
  const app = express();
  app.use(express.json({ limit: '1mb' }));
  app.post('/v1/events', (req, res, next) => {
    const e = req.body as { id?: unknown; type?: unknown; properties?: unknown };
    if (typeof e?.id !== 'string' || typeof e.type !== 'string') {
      res.status(400).json({ error: 'id and type are required' });
      return;
    }
    insert({ id: e.id, type: e.type, properties: e.properties }).then(() => res.status(202).json({ accepted: [{ id: e.id }] }), next);
  });
  const server = await listen(app);
  return { server, close: async () => { await close(server); await pool?.end(); } };
}

export async function ingestScenario(stack: Stack, opts: { seconds: number; connections: number; taskQueue: string }): Promise<ScenarioOutput> {
  const db = stack.db.db;
  const { key } = await createApiKey(db, { name: 'bench ingest', role: 'integration' });
  // The production app as src/api/server.ts builds it (scoring on, logger at warn). The per-key rate limit (50/s by
  // default) is lifted: with one key it would measure the limiter's 429s, not ingest.
  const app = buildApp({
    database: stack.db,
    temporal: stack.client,
    taskQueue: opts.taskQueue,
    triggers: dbTriggerSource(db),
    scoring: stack.scoring,
    logger: createLogger('warn', 'bench-api'),
    signingSecrets: [stack.signingSecret],
    rateLimit: { perSecond: 1e9, burst: 1e9 },
  });
  const server = await listen(app);
  const job = { connections: opts.connections, contacts: 1000, warmSeconds: 2 };
  // The pool of contacts the events name already exists (a CRM mostly reports on known people); creating contacts is
  // the rarer path and would otherwise dominate a short run.
  await db.insert(contacts).values(Array.from({ length: job.contacts }, (_, c) => ({ externalId: `ingest-${c}`, email: `visitor${c}@bench.test` })));
  let ours: LoadResult;
  try {
    process.stdout.write(`    ingest: itinera, ${job.warmSeconds} s warm-up + ${opts.seconds} s measured…\n`);
    ours = await runLoad({ ...job, url: urlOf(server), token: key, seconds: opts.seconds, tag: 'ours' });
  } finally {
    await close(server);
  }
  const bare = await bareServer(stack);
  let base: LoadResult;
  try {
    process.stdout.write(`    ingest: bare express+pg, ${job.warmSeconds} s warm-up + ${opts.seconds} s measured…\n`);
    base = await runLoad({ ...job, url: urlOf(bare.server), seconds: opts.seconds, tag: 'bare' });
  } finally {
    await bare.close();
  }
  const oursRate = ours.ok / opts.seconds;
  const baseRate = base.ok / opts.seconds;
  const metrics: Metric[] = [
    {
      metric: 'events_per_second', value: Math.round(oursRate), unit: 'events/s', baseline: Math.round(baseRate), ratio: ratioOf(oursRate, baseRate), kind: 'throughput', baselineName: 'bare express+pg',
      targets: [{ on: 'value', op: '>=', bound: 1000 }, { on: 'ratio', op: '>=', bound: 0.8 }],
    },
    { metric: 'latency_p50', value: ours.latency.p50, unit: 'ms', baseline: base.latency.p50, ratio: ratioOf(ours.latency.p50, base.latency.p50), kind: 'latency', baselineName: 'bare' },
    {
      metric: 'latency_p99', value: ours.latency.p99, unit: 'ms', baseline: base.latency.p99, ratio: ratioOf(ours.latency.p99, base.latency.p99), kind: 'latency', baselineName: 'bare',
      targets: [{ on: 'value', op: '<=', bound: 50 }],
    },
  ];
  const notes: string[] = [];
  if (ours.non2xx || ours.errors || ours.timeouts) notes.push(`itinera answered ${ours.non2xx} non-2xx, ${ours.errors} errors, ${ours.timeouts} timeouts (not counted as events)`);
  return {
    metrics,
    params: {
      seconds: opts.seconds, connections: opts.connections, contactPool: job.contacts, eventType: 'page.viewed', loadGenerator: 'autocannon in a child process',
      database: stack.db.kind, dbPool: stack.tuning.dbPool, ours: { ...ours, perSecond: round(ours.perSecond, 1) }, bare: { ...base, perSecond: round(base.perSecond, 1) },
    },
    notes,
  };
}
