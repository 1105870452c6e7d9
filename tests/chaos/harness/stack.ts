import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Express } from 'express';
import request from 'supertest';
import { and, eq, like, sql } from 'drizzle-orm';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { buildApp } from '../../../src/api/app';
import { createApiKey } from '../../../src/api/auth';
import { generateWebhookSecret } from '../../../src/channels/webhooks';
import { migrateDatabase, openDatabase, type DatabaseHandle } from '../../../src/db/client';
import { contacts, journeyRuns, messages, scoreEvents } from '../../../src/db/schema';
import { dbTriggerSource, publishJourney } from '../../../src/publishing/journeys';
import { loadTemplateCatalog } from '../../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../../src/paths';
import pg from 'pg';
import { postgresBinDir, startPgCluster, type PgCluster } from './postgres';
import { sleep } from './proc';
import { startChaosSmtp, type ChaosSmtp } from './smtp-sink';
import { startChaosTemporal, type ChaosTemporal } from './temporal-server';
import { startChaosReceiver, type ChaosReceiver } from './webhook-receiver';
import { superviseWorker, type SuperviseOptions, type WorkerSupervisor } from './worker-process';
import { startApiProcess, type ApiProcess } from './api-process';
import { parseOutboundAllow } from '../../../src/net/addresses';
import { journeyWorkflowId } from '../../../src/contracts/ids';

export const JOURNEY_ID = 'chaos-journey';
export const SCORE_DELTA = 7;
/** The SMTP pool of each worker process: at most this many SMTP transactions are in flight when it dies. */
export const SMTP_POOL_SIZE = 5;
const JOURNEY_FILE = fileURLToPath(new URL('../journey.yaml', import.meta.url));

export const emailOf = (i: number) => `c${i}@chaos.test`;

export type ChaosStack = {
  /** Our own cluster, or undefined when the scenario runs on a scratch database of the shared server. */
  pg: PgCluster | undefined;
  database: DatabaseHandle;
  /** The stack's own dev server; undefined on a server shared by the run (the cluster project's). */
  temporal: ChaosTemporal | undefined;
  client: Client;
  smtp: ChaosSmtp;
  receiver: ChaosReceiver;
  /** workers[0]: the one scenarios kill. */
  worker: WorkerSupervisor;
  workers: WorkerSupervisor[];
  /** The in-process API (what ingest uses when there are no API processes). */
  app: Express;
  /** API processes (production entry point) that ingest goes through, round robin. */
  apis: ApiProcess[];
  /** An integration key valid on every API. */
  key: string;
  taskQueue: string;
  /** Posts contacts [from, to) as `chaos.entered` events in batches, as a CRM would: a failed batch is sent again. */
  ingest(from: number, to: number, opts?: { batch?: number; concurrency?: number; deadlineMs?: number }): Promise<{ requests: number; failedRequests: number }>;
  /** Runs still open in Temporal and runs the projection has finished: what the scenarios watch. */
  progress(): Promise<{ temporalRunning: number; projectedDone: number }>;
  /** Progress sampled every 5 s from the first ingest on (-1: unreachable): where a fault stalled the runs, and for how long. */
  timeline: { s: number; running: number; done: number }[];
  /** Waits until nothing runs and nothing changed for a while (or all `total` finished), within `deadlineMs`. */
  settle(total: number, deadlineMs: number): Promise<void>;
  outcome(total: number): Promise<Outcome>;
  stop(): Promise<void>;
};

export type Outcome = {
  journeys: number;
  completed: number;
  lost: number;
  /**
   * Up to 10 contacts without a completed run, each with what the projection and Temporal itself (describe, not
   * visibility) say of its run: enough to tell a lost run from one the settle step gave up on too early.
   */
  lostSamples: { contactId: string; workflowId: string; projection: string; temporal: string }[];
  contactsCreated: number;
  runs: { projection: Record<string, number>; temporalCompleted: number; temporalOther: number };
  emails: {
    accepted: number;
    missing: number;
    /** Extra acceptances the send path cannot explain (another key for the same contact, or a new Message-ID). */
    duplicates: number;
    /** Extra acceptances of one key with one Message-ID, each from its own recorded attempt: resends of an unknown outcome. */
    resentSameMessageId: number;
    /** Every second delivery a receiver sees: `duplicates` + `resentSameMessageId`. Exactly-once counted strictly. */
    strictDuplicates: number;
    /**
     * From the sink's `250` to the worker's `sent` record (its statement's start), in ms: the window in which a kill
     * leaves an accepted email recorded only as `sending`, so that it is resent. Percentiles over the emails sent.
     */
    recordLagMs: { p50: number; p90: number; p99: number; max: number; samples: number };
    refused4xx: number;
  };
  webhooks: { applied: number; missing: number; duplicatesApplied: number; rawArrivals: number; rawRetries: number; answered5xx: number; badSignature: number };
  scores: { exact: number; wrong: number; scoreEvents: number };
  worker: { starts: number; kills: number; unexpectedExits: number; unexpectedExitSamples: string[] };
};

const POLL_MS = 2000;

/** A fresh database on the server at `url`, and how to drop it. */
export async function scratchDatabase(url: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `itinera_chaos_${randomBytes(6).toString('hex')}`;
  const admin = async (q: string) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(q);
    } finally {
      await c.end();
    }
  };
  await admin(`create database ${name}`);
  const u = new URL(url);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => admin(`drop database if exists ${name} with (force)`) };
}

/** How long one teardown step may take before the next one runs. */
const CLEANUP_STEP_MS = 15_000;

/**
 * Everything a scenario needs as real processes: a file-backed Temporal dev server, a supervised worker process, a
 * Postgres (a private cluster; a scratch database on the shared DATABASE_URL only when no server binaries exist and
 * the scenario never restarts Postgres), the SMTP sink and the webhook receiver; the API runs in-process.
 */
export type ChaosStackOptions = {
  restartsPostgres: boolean;
  /** A Temporal server shared by the run (the cluster project's) instead of a dev server of the stack's own. */
  temporalAddress?: string;
  /** Supervised worker processes. @default 1 */
  workers?: number;
  /**
   * `chaos`: scripts/chaos-worker.ts (no migrations or Schedule sync, quick restarts); `production`: src/worker-main.ts,
   * what `npm run worker` runs, with NODE_ENV=production.
   * @default 'chaos'
   */
  workerEntry?: 'chaos' | 'production';
  /** API processes (src/api/server.ts, what `npm run api` runs) that ingest posts to. @default 0: the in-process app */
  apiProcesses?: number;
};

/** Resolves once the process with this pid polls the task queue for workflow and activity tasks (the SDK's default identity). */
export function pollingWatch(client: Client, taskQueue: string): NonNullable<SuperviseOptions['readyWhen']> {
  const { TaskQueueType } = proto.temporal.api.enums.v1;
  return async (pid, gone) => {
    const identity = `${pid}@${hostname()}`;
    while (!gone()) {
      const polling = await Promise.all(
        [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY].map((taskQueueType) =>
          client.workflowService
            .describeTaskQueue({ namespace: client.options.namespace, taskQueue: { name: taskQueue }, taskQueueType })
            .then((r) => (r.pollers ?? []).some((p) => p.identity === identity), () => false),
        ),
      );
      if (polling.every(Boolean)) return;
      await sleep(200);
    }
    throw new Error(`worker ${pid} exited before polling`);
  };
}

export async function startChaosStack(opts: ChaosStackOptions): Promise<ChaosStack> {
  const cleanups: (() => Promise<unknown>)[] = [];
  // Each step is bounded: on a machine loaded far past its cores one close that never settles (a pool waiting on a
  // client, a connection's drain) must not hold the rest of the teardown, and the processes are killed regardless.
  const cleanup = async () => {
    for (const c of cleanups.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      const bounded = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), CLEANUP_STEP_MS)));
      const outcome = await Promise.race([c().catch(() => undefined), bounded]);
      clearTimeout(timer);
      if (outcome === 'timeout') console.warn(`chaos teardown: a step did not finish within ${CLEANUP_STEP_MS} ms, moving on: ${c.toString().slice(0, 120)}`);
    }
  };
  try {
    let cluster: PgCluster | undefined;
    let dbUrl: string;
    if (postgresBinDir() || opts.restartsPostgres || !process.env.DATABASE_URL) {
      const own = await startPgCluster();
      cluster = own;
      cleanups.push(() => own.stop());
      dbUrl = own.url;
    } else {
      // No server binaries to run a private cluster: a scratch database on the shared server (never restarted).
      const scratch = await scratchDatabase(process.env.DATABASE_URL);
      cleanups.push(scratch.drop);
      dbUrl = scratch.url;
    }
    const database = await openDatabase({ url: dbUrl, poolSize: 10 });
    cleanups.push(() => database.close());
    await migrateDatabase(database);
    const [temporal, smtp] = await Promise.all([opts.temporalAddress ? undefined : startChaosTemporal(), startChaosSmtp()]);
    cleanups.push(async () => temporal?.stop(), () => smtp.close());
    const temporalAddress = opts.temporalAddress ?? temporal!.address;
    const secret = generateWebhookSecret();
    const receiver = await startChaosReceiver([secret]);
    cleanups.push(() => receiver.close());

    const source = readFileSync(JOURNEY_FILE, 'utf8').replaceAll('__WEBHOOK_URL__', receiver.url);
    // The receiver is on 127.0.0.1: published with the OUTBOUND_ALLOW the worker gets below.
    await publishJourney(database.db, source, { templates: await loadTemplateCatalog(TEMPLATES_DIR), outboundAllow: parseOutboundAllow('127.0.0.1').allow });

    const connection = await Connection.connect({ address: temporalAddress });
    cleanups.push(() => connection.close());
    const client = new Client({ connection });
    const taskQueue = `chaos-${randomBytes(4).toString('hex')}`;
    const signingSecret = randomBytes(32).toString('base64url');
    const production = opts.workerEntry === 'production';
    const processEnv: Record<string, string> = {
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_TASK_QUEUE: taskQueue,
      DATABASE_URL: dbUrl,
      DATABASE_POOL_SIZE: '10',
      SMTP_URL: smtp.url,
      SMTP_POOL_SIZE: String(SMTP_POOL_SIZE),
      WEBHOOK_SECRETS: secret,
      // The webhook receiver listens on 127.0.0.1, which outbound HTTP refuses unless it is listed.
      OUTBOUND_ALLOW: '127.0.0.1',
      SIGNING_SECRET: signingSecret,
      MAIL_FROM: 'itinera chaos <journeys@chaos.test>',
      ...(production ? { NODE_ENV: 'production', MAIL_PHYSICAL_ADDRESS: 'itinera chaos · 1 Test Road · Shanghai', PUBLIC_BASE_URL: 'http://itinera.test' } : {}),
    };
    const workers = Array.from({ length: opts.workers ?? 1 }, () =>
      superviseWorker(processEnv, production ? { entry: 'src/worker-main.ts', readyWhen: pollingWatch(client, taskQueue) } : {}),
    );
    cleanups.push(() => Promise.all(workers.map((w) => w.stop())));
    const worker = workers[0]!;
    const apis: ApiProcess[] = [];
    cleanups.push(() => Promise.all(apis.map((a) => a.stop())));
    for (let i = 0; i < (opts.apiProcesses ?? 0); i++) apis.push(await startApiProcess(processEnv));
    const app = buildApp({ database, temporal: client, taskQueue, triggers: dbTriggerSource(database.db), signingSecrets: [signingSecret],
      // The suite posts as fast as a CRM's bulk sync would; the per-key limit is not what is under test.
      rateLimit: { perSecond: 10_000, burst: 10_000 } });
    const { key } = await createApiKey(database.db, { name: 'chaos integration', role: 'integration' });

    const chaosContacts = and(like(contacts.email, '%@chaos.test'));
    const timeline: ChaosStack['timeline'] = [];
    let sampler: NodeJS.Timeout | undefined;
    cleanups.push(async () => clearInterval(sampler));
    const stack: ChaosStack = {
      timeline,
      pg: cluster,
      database,
      temporal,
      client,
      smtp,
      receiver,
      worker,
      workers,
      app,
      apis,
      key,
      taskQueue,
      async ingest(from, to, o = {}) {
        if (!sampler) {
          const t0 = Date.now();
          let busy = false;
          sampler = setInterval(() => {
            // While Temporal or Postgres is down a probe can hang for a while: skip ticks rather than pile them up.
            if (busy) return;
            busy = true;
            const s = () => Math.round((Date.now() - t0) / 1000);
            stack
              .progress()
              .then(
                (p) => timeline.push({ s: s(), running: p.temporalRunning, done: p.projectedDone }),
                () => timeline.push({ s: s(), running: -1, done: -1 }),
              )
              .finally(() => (busy = false));
          }, 5000);
        }
        const size = o.batch ?? 100;
        const deadline = Date.now() + (o.deadlineMs ?? 600_000);
        let requests = 0;
        let failedRequests = 0;
        const starts: number[] = [];
        for (let start = from; start < to; start += size) starts.push(start);
        let turn = 0;
        const post = async (events: object[]): Promise<{ status: number; body: unknown }> => {
          if (!apis.length) return request(app).post('/v1/events').set('Authorization', `Bearer ${key}`).send({ events });
          const api = apis[turn++ % apis.length]!;
          const res = await fetch(`${api.url}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ events }) });
          return { status: res.status, body: await res.json().catch(() => undefined) };
        };
        const postBatch = async (start: number) => {
          const events = [];
          for (let i = start; i < Math.min(to, start + size); i++) {
            events.push({ id: `chaos-${i}`, type: 'chaos.entered', contact: { externalId: `c${i}`, email: emailOf(i), firstName: `C${i}`, locale: 'en' } });
          }
          for (;;) {
            requests++;
            const res = await post(events).catch((e: Error) => ({ status: 0, body: e.message }));
            if (res.status === 202 && (res.body as { rejected: unknown[] }).rejected.length === 0) return;
            failedRequests++;
            if (Date.now() > deadline) throw new Error(`ingest: batch at ${start} still failing: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
            await sleep(1000);
          }
        };
        // A few batches in flight at once, like a CRM's bulk sync.
        await Promise.all(
          Array.from({ length: o.concurrency ?? 4 }, async () => {
            for (let next = starts.shift(); next !== undefined; next = starts.shift()) await postBatch(next);
          }),
        );
        return { requests, failedRequests };
      },
      async progress() {
        const [open, [done]] = await Promise.all([
          client.workflow.count(`WorkflowType="journeyWorkflow" AND TaskQueue="${taskQueue}" AND ExecutionStatus="Running"`),
          database.db.select({ n: sql<number>`count(*)::int` }).from(journeyRuns).where(sql`${journeyRuns.status} <> 'running'`),
        ]);
        return { temporalRunning: open.count, projectedDone: done!.n };
      },
      async settle(total, deadlineMs) {
        const deadline = Date.now() + deadlineMs;
        let last = '';
        let stableSince = Date.now();
        while (Date.now() < deadline) {
          const p = await stack.progress().catch(() => undefined);
          if (p) {
            if (p.temporalRunning === 0 && p.projectedDone >= total) return;
            const key = `${p.temporalRunning}/${p.projectedDone}`;
            if (key !== last) {
              last = key;
              stableSince = Date.now();
            } else if (p.temporalRunning === 0 && Date.now() - stableSince > 60_000) {
              return; // nothing runs and nothing moves: whatever is missing is lost, and outcome() says so
            }
          }
          await sleep(POLL_MS);
        }
      },
      async outcome(total) {
        const db = database.db;
        const people = await db.select({ id: contacts.id, email: contacts.email, score: contacts.score }).from(contacts).where(chaosContacts);
        const byId = new Map(people.map((p) => [p.id, p]));
        const projection: Record<string, number> = {};
        const completedInProjection = new Map<string, string>();
        const projectedRun = new Map<string, { workflowId: string; status: string; currentStep: string | null }>();
        for (const r of await db.select().from(journeyRuns).where(eq(journeyRuns.journeyId, JOURNEY_ID))) {
          projection[r.status] = (projection[r.status] ?? 0) + 1;
          projectedRun.set(r.contactId, r);
          if (r.status === 'completed' && r.currentStep === 'done') completedInProjection.set(r.workflowId, r.contactId);
        }
        const temporalDone = new Set<string>();
        for await (const wf of client.workflow.list({ query: `WorkflowType="journeyWorkflow" AND TaskQueue="${taskQueue}" AND ExecutionStatus="Completed"` })) temporalDone.add(wf.workflowId);
        const other = await client.workflow.count(`WorkflowType="journeyWorkflow" AND TaskQueue="${taskQueue}" AND ExecutionStatus!="Completed"`);
        const completedContacts = new Set<string>();
        for (const [wf, contactId] of completedInProjection) if (temporalDone.has(wf) && byId.has(contactId)) completedContacts.add(contactId);
        const lostSamples: Outcome['lostSamples'] = [];
        for (const p of people) {
          if (completedContacts.has(p.id) || lostSamples.length >= 10) continue;
          const run = projectedRun.get(p.id);
          const workflowId = run?.workflowId ?? journeyWorkflowId(JOURNEY_ID, p.id);
          const temporal = await client.workflow
            .getHandle(workflowId)
            .describe()
            .then(
              (d) => `${d.status.name}, ${d.historyLength} events, closed ${d.closeTime?.toISOString() ?? '-'}, in visibility as completed: ${temporalDone.has(workflowId)}`,
              (e: Error) => `describe failed: ${e.message.slice(0, 200)}`,
            );
          lostSamples.push({ contactId: p.id, workflowId, projection: run ? `${run.status} at ${run.currentStep ?? '-'}` : 'no row', temporal });
        }

        // Emails: by recipient, then by idempotency key.
        const rows = await db
          .select({ key: messages.idempotencyKey, attempts: messages.attempts, sentAt: messages.sentAt })
          .from(messages)
          .where(eq(messages.channel, 'email'));
        const attemptsOf = new Map(rows.map((r) => [r.key, r.attempts]));
        const lags: number[] = [];
        for (const r of rows) {
          const at = smtp.deliveries.get(r.key)?.acceptedAt.at(-1);
          if (r.sentAt && at !== undefined) lags.push(Math.max(0, r.sentAt.getTime() - at));
        }
        lags.sort((a, b) => a - b);
        const pct = (q: number) => (lags.length ? lags[Math.min(lags.length - 1, Math.floor(q * lags.length))]! : 0);
        const keysOf = new Map<string, string[]>();
        let accepted = 0;
        let resent = 0;
        let unexplained = 0;
        for (const [key, d] of smtp.deliveries) {
          accepted += d.accepted;
          for (const r of d.recipients) keysOf.set(r, [...(keysOf.get(r) ?? []), key]);
          if (d.accepted > 1) {
            // The send path's own resend: one Message-ID throughout, and an attempt recorded for every copy accepted.
            // (Its row also said 'previous attempt outcome unknown' when resending, but a later 4xx may overwrite that.)
            const documented = d.messageIds.size === 1 && (attemptsOf.get(key) ?? 0) >= d.accepted;
            if (documented) resent += d.accepted - 1;
            else unexplained += d.accepted - 1;
          }
        }
        let missingEmails = 0;
        for (const p of people) {
          const keys = keysOf.get(p.email!) ?? [];
          if (keys.length === 0) missingEmails++;
          unexplained += Math.max(0, keys.length - 1);
        }
        // Webhooks: applied once per webhook-id by the receiver; a contact applied under two ids is a duplicate.
        const appliedPer = new Map<string, number>();
        for (const { contact } of receiver.applied.values()) appliedPer.set(contact, (appliedPer.get(contact) ?? 0) + 1);
        let missingHooks = 0;
        let dupHooks = 0;
        for (const p of people) {
          const n = appliedPer.get(p.email!) ?? 0;
          if (n === 0) missingHooks++;
          dupHooks += Math.max(0, n - 1);
        }
        const [ev] = await db.select({ n: sql<number>`count(*)::int` }).from(scoreEvents).where(eq(scoreEvents.reason, 'chaos'));
        const exact = people.filter((p) => p.score === SCORE_DELTA).length;
        const unexpected = workers.flatMap((w) => w.stats.exits.filter((e) => !e.killedByUs));
        return {
          journeys: total,
          completed: completedContacts.size,
          lost: total - completedContacts.size,
          lostSamples,
          contactsCreated: people.length,
          runs: { projection, temporalCompleted: temporalDone.size, temporalOther: other.count },
          emails: {
            accepted,
            missing: missingEmails,
            duplicates: unexplained,
            resentSameMessageId: resent,
            strictDuplicates: unexplained + resent,
            recordLagMs: { p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), max: lags.at(-1) ?? 0, samples: lags.length },
            refused4xx: smtp.stats.refused4xx,
          },
          webhooks: {
            applied: receiver.applied.size,
            missing: missingHooks,
            duplicatesApplied: dupHooks,
            rawArrivals: receiver.stats.raw,
            rawRetries: receiver.stats.raw - receiver.applied.size,
            answered5xx: receiver.stats.answered5xx,
            badSignature: receiver.stats.badSignature,
          },
          scores: { exact, wrong: people.length - exact, scoreEvents: ev!.n },
          worker: {
            starts: workers.reduce((n, w) => n + w.stats.starts, 0),
            kills: workers.reduce((n, w) => n + w.stats.kills, 0),
            unexpectedExits: unexpected.length,
            unexpectedExitSamples: unexpected.slice(0, 3).map((e) => `code=${e.code} signal=${e.signal}: ${e.stderrTail.slice(-400)}`),
          },
        };
      },
      stop: cleanup,
    };
    return stack;
  } catch (err) {
    await cleanup();
    throw err;
  }
}
