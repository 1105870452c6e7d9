/**
 * One benchmark run's shared stack, started on first use: dev server, scratch database, SMTP sink, webhook receiver,
 * a Temporal client, and helpers to start itinera's worker (src/worker-main.ts as a child process) or the bare one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { createActivities } from '../../src/activities';
import { loadConfig, type Config } from '../../src/config';
import { generateWebhookSecret } from '../../src/channels/webhooks';
import { activityDeps } from '../../src/wiring/activities';
import { createMailer, createRenderer } from '../../src/wiring/channels';
import { SCORING_MODEL_FILE } from '../../src/paths';
import { loadScoringModel, type ScoringModel } from '../../src/scoring/model';
import type { DevServer } from '../../src/temporal/dev-server';
import { createWorker } from '../../src/wiring/worker';
import { scratchDatabase, startChild, startMailSink, startReceiver, startTemporal, type BenchDatabase, type MailSink, type Receiver } from './stack';

/** Pool sizes and cache of the stack under test; the same values go to the worker child through its environment. */
export type Tuning = { dbPool: number; smtpPool: number; maxCachedWorkflows: number };

export type Stack = {
  tmp: string;
  temporal: DevServer;
  connection: Connection;
  client: Client;
  db: BenchDatabase;
  sink: MailSink;
  receiver: Receiver;
  scoring: ScoringModel;
  signingSecret: string;
  tuning: Tuning;
  /** The environment itinera's worker would be started with (what `npm run worker` reads). */
  env(taskQueue: string): Record<string, string>;
  config(taskQueue: string): Config;
  close(): Promise<void>;
};

export async function startStack(tuning: Tuning): Promise<Stack> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'itinera-bench-'));
  const [temporal, db, sink, receiver, scoring] = await Promise.all([
    startTemporal(path.join(tmp, 'temporal')),
    scratchDatabase(tuning.dbPool),
    startMailSink(),
    startReceiver(),
    loadScoringModel(SCORING_MODEL_FILE),
  ]);
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection });
  const signingSecret = randomBytes(32).toString('base64url');
  const webhookSecret = generateWebhookSecret();
  const env = (taskQueue: string): Record<string, string> => ({
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
    DATA_DIR: path.join(tmp, 'data'),
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    ...(db.url ? { DATABASE_URL: db.url } : {}),
    DATABASE_POOL_SIZE: String(tuning.dbPool),
    SMTP_URL: sink.url,
    SMTP_POOL_SIZE: String(tuning.smtpPool),
    MAIL_FROM: 'bench <bench@itinera.test>',
    MAIL_PHYSICAL_ADDRESS: 'ACME · 1 Bench Road',
    PUBLIC_BASE_URL: 'http://itinera.test',
    SIGNING_SECRET: signingSecret,
    WEBHOOK_SECRETS: webhookSecret,
    // The receiver listens on 127.0.0.1, which outbound HTTP refuses unless it is listed.
    OUTBOUND_ALLOW: '127.0.0.1',
    WORKER_MAX_CACHED_WORKFLOWS: String(tuning.maxCachedWorkflows),
  });
  return {
    tmp,
    temporal,
    connection,
    client,
    db,
    sink,
    receiver,
    scoring,
    signingSecret,
    tuning,
    env,
    config: (taskQueue) => loadConfig(env(taskQueue)),
    async close() {
      await connection.close().catch(() => undefined);
      await temporal.stop();
      await Promise.allSettled([db.drop(), sink.close(), receiver.close()]);
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

export type RunningWorker = {
  /** The process whose memory is the worker's: the child, or this process when the worker had to run in-process. */
  pid: number;
  inProcess: boolean;
  stop(): Promise<void>;
};

/**
 * itinera's production worker entry (src/worker-main.ts) as a child process, configured only through its
 * environment. PGlite cannot be shared between processes, so without DATABASE_URL the same worker runs in-process.
 */
export async function startItineraWorker(stack: Stack, taskQueue: string): Promise<RunningWorker> {
  if (stack.db.url) {
    const child = await startChild('src/worker-main.ts', [], stack.env(taskQueue), /worker running/);
    return { pid: child.pid, inProcess: false, stop: child.stop };
  }
  const config = stack.config(taskQueue);
  const { mailer } = createMailer({ config });
  const activities = createActivities({
    ...activityDeps({ config, database: stack.db, mailer, renderer: await createRenderer(), secrets: [stack.signingSecret], scoring: stack.scoring }),
    temporal: { client: stack.client, taskQueue },
  });
  const { worker, connection } = await createWorker({ address: stack.temporal.address, namespace: 'default', taskQueue, activities, maxCachedWorkflows: config.workerMaxCachedWorkflows });
  const running = worker.run();
  return {
    pid: process.pid,
    inProcess: true,
    stop: async () => {
      worker.shutdown();
      await running;
      await connection.close();
      await mailer.close?.();
    },
  };
}

/**
 * The bare baseline worker (bench/bare/worker.ts), always a child process. With a Postgres database it can also run
 * the effect activities, against the same database, SMTP sink (same pool size) and receiver as itinera's worker.
 */
export async function startBareWorker(stack: Stack, taskQueue: string): Promise<RunningWorker> {
  const child = await startChild('bench/bare/worker.ts', [], {
    TEMPORAL_ADDRESS: stack.temporal.address,
    BARE_TASK_QUEUE: taskQueue,
    WORKER_MAX_CACHED_WORKFLOWS: String(stack.tuning.maxCachedWorkflows),
    ...(stack.db.url
      ? { DATABASE_URL: stack.db.url, DATABASE_POOL_SIZE: String(stack.tuning.dbPool), SMTP_URL: stack.sink.url, SMTP_POOL_SIZE: String(stack.tuning.smtpPool), BENCH_WEBHOOK_URL: stack.receiver.url }
      : {}),
  }, /bare worker running/);
  return { pid: child.pid, inProcess: false, stop: child.stop };
}
