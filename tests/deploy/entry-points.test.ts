import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import nodemailer from 'nodemailer';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../helpers/ports';
import { dsn } from '../helpers/reports';
import { killGroup, logLine, npmRun, type Proc } from '../helpers/processes';
import { scaled } from '../helpers/timing';
import { until } from '../helpers/until';

const ROOT = path.join(import.meta.dirname, '../..');
const MIGRATIONS = (JSON.parse(readFileSync(path.join(ROOT, 'drizzle/meta/_journal.json'), 'utf8')) as { entries: unknown[] }).entries.length;

/**
 * The production entry points as documented: `npm run db:migrate` on an empty Postgres database, then `npm run worker`
 * and `npm run api` against it and the shared Temporal server, on the node this suite runs on (.ci/run: Node 24).
 * Ready means /readyz answers 200 and Temporal sees the worker polling its task queue; SIGTERM (what a container stop
 * sends to `npm`) ends both with exit code 0.
 */
describe('production entry points: npm run db:migrate, worker, api', () => {
  const url = process.env.DATABASE_URL;
  let dbUrl: string;
  let dbName: string;
  let dataDir: string;
  let worker: Proc | undefined;
  let api: Proc | undefined;
  let env: Record<string, string>;
  let bouncePort: number;
  let base: string;

  beforeAll(async () => {
    expect(url, 'the worker and the API need Postgres: set DATABASE_URL').toBeTruthy();
    dbName = `itinera_entry_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`create database ${dbName}`);
    await admin.end();
    const u = new URL(url!);
    u.pathname = `/${dbName}`;
    dbUrl = u.toString();
    dataDir = mkdtempSync(path.join(tmpdir(), 'itinera-entry-'));
    const port = await freePort();
    bouncePort = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      DATABASE_URL: dbUrl,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: `test-entry-${port}`,
      SIGNING_SECRET: 'entry-points-test-signing-secret-0123456789',
      MAIL_PHYSICAL_ADDRESS: 'ACME Ltd · 100 Century Ave · Shanghai',
      PUBLIC_BASE_URL: base,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      // The API's SMTP bounce mailbox, as an MX would reach it.
      BOUNCE_SMTP_PORT: String(bouncePort),
      // What a deployment has unless it says otherwise: npm run worker sets the old-space limit (WORKER_HEAP_MIB).
      NODE_OPTIONS: '',
    };
  });

  afterAll(async () => {
    killGroup(worker);
    killGroup(api);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (dbName) {
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`drop database if exists ${dbName} with (force)`);
      await admin.end();
    }
  });

  it('db:migrate applies every migration to an empty database, and again changes nothing', () => {
    for (let i = 0; i < 2; i++) {
      const run = spawnSync('npm', ['run', '--silent', 'db:migrate'], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout).toContain(`(postgres): ${MIGRATIONS} migrations applied, schema current`);
      expect(run.stdout).not.toContain('entry-points-test-signing-secret');
    }
  });

  it('worker and api start, report ready on this node, and stop cleanly on SIGTERM', async () => {
    worker = npmRun('worker', env);
    api = npmRun('api', env);
    const exited = (p: Proc) => (p.child.exitCode !== null ? `exited ${p.child.exitCode}: ${p.out.join('')}` : undefined);

    await until('the API to be ready', async () => {
      if (exited(api!)) throw new Error(exited(api!));
      return (await fetch(`${base}/readyz`).catch(() => undefined))?.ok || undefined;
    }, 120_000);
    const health = (await (await fetch(`${base}/healthz`)).json()) as { status: string };
    expect(health.status).toBe('ok');
    expect(logLine(api, 'API listening')).toMatchObject({ node: process.versions.node, port: Number(env.PORT) });

    const running = await until('the worker to run', async () => {
      if (exited(worker!)) throw new Error(exited(worker!));
      return logLine(worker!, 'worker running');
    }, 180_000);
    expect(running).toMatchObject({ node: process.versions.node, taskQueue: env.TEMPORAL_TASK_QUEUE, heapLimitMiB: 640 });

    // Temporal's view: the worker polls the task queue for workflow and activity tasks.
    const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS! });
    try {
      for (const taskQueueType of [temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY]) {
        const pollers = await until(`a ${taskQueueType} poller`, async () => {
          const res = await connection.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: env.TEMPORAL_TASK_QUEUE }, taskQueueType });
          return res.pollers?.length ? res.pollers : undefined;
        }, 60_000);
        expect(pollers.length).toBeGreaterThan(0);
      }
    } finally {
      await connection.close();
    }

    // The API's bounce mailbox listens and applies what reaches it: a DSN about a message we never sent is accepted
    // (250) and recorded as unmatched, nothing else changed.
    const mta = nodemailer.createTransport({ host: '127.0.0.1', port: bouncePort, secure: false, ignoreTLS: true });
    try {
      const reply = await mta.sendMail({
        envelope: { from: '', to: 'bounces@itinera.example' },
        raw: dsn({ messageId: '<never-sent@itinera.example>', status: '5.1.1', diagnostic: '550 5.1.1 user unknown', reportId: 'entry-points-1' }),
      });
      expect(reply.response).toMatch(/^250/);
    } finally {
      mta.close();
    }
    const db = new pg.Client({ connectionString: dbUrl });
    await db.connect();
    try {
      const { rows } = await db.query<{ outcome: string }>('select outcome from email_feedback');
      expect(rows).toEqual([{ outcome: 'unmatched' }]);
    } finally {
      await db.end();
    }

    // A container stop: SIGTERM to `npm`, which hands it to the process it runs.
    worker.child.kill('SIGTERM');
    api.child.kill('SIGTERM');
    const deadline = (p: Proc) => Promise.race([p.exit, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), scaled(60_000)))]);
    const [workerCode, apiCode] = await Promise.all([deadline(worker), deadline(api)]);
    expect(workerCode, worker.out.join('').slice(-2000)).toBe(0);
    expect(apiCode, api.out.join('').slice(-2000)).toBe(0);
  }, scaled(400_000));
});
