/**
 * The differential suite (tests/differential) on the cluster: the simulator against production as deployed — two
 * worker processes (src/worker-main.ts, NODE_ENV=production) and two API processes (src/api/server.ts) on the real
 * Temporal server (Postgres persistence, SQL visibility) and their own Postgres database. Contacts and events are
 * posted alternately to the two APIs, so a run is started through one and signalled through the other; the two
 * workers share its workflow and activity tasks.
 *
 * Size: CLUSTER_DIFFERENTIAL_TIMELINES (default 6) cases per sample journey and CLUSTER_DIFFERENTIAL_GENERATED
 * (default 2) generated journeys with as many cases each — a reduced set that keeps the cluster project within minutes;
 * the full comparison runs on the dev server (npm run test:differential).
 *
 * What differs from the dev-server suite, and why:
 * - industry-content is left out: its `change: industry` trigger enters a contact as soon as a case writes it with an
 *   industry (the API processes route contact writes as production does; the dev-server suite turns those triggers
 *   off), so its trigger event would start no run of its own.
 * - The processes get a scoring model without rules (SCORING_MODEL_FILE): the simulator does not model lead scoring,
 *   and the dev-server suite runs without one too.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { createApiKey } from '../../src/api/auth';
import { generateWebhookSecret } from '../../src/channels/webhooks';
import { migrateDatabase, openDatabase, type DatabaseHandle } from '../../src/db/client';
import { startApiProcess, type ApiProcess } from '../chaos/harness/api-process';
import { pollingWatch, scratchDatabase } from '../chaos/harness/stack';
import { superviseWorker, type WorkerSupervisor } from '../chaos/harness/worker-process';
import { json, startHttp, type TestHttp } from '../channels/support/http';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp';
import type { Production } from '../differential/harness';
import { differentialSuite, sampleJourneys, type DifferentialSuite } from '../differential/suite';

const PER_JOURNEY = Number(process.env.CLUSTER_DIFFERENTIAL_TIMELINES ?? 6);
const GENERATED = Number(process.env.CLUSTER_DIFFERENTIAL_GENERATED ?? 2);
const SEED = Number(process.env.DIFFERENTIAL_SEED ?? Date.now() % 2_147_483_647);
const SAMPLES = sampleJourneys(process.env.DIFFERENTIAL_ONLY?.split(',')).filter((n) => n !== 'industry-content');

describe('differential on the cluster: simulator vs two worker and two API processes', () => {
  let scratch: Awaited<ReturnType<typeof scratchDatabase>>;
  let database: DatabaseHandle;
  let connection: Connection;
  let smtp: SmtpSink;
  let receiver: TestHttp;
  let workers: WorkerSupervisor[] = [];
  let apis: ApiProcess[] = [];
  let suite: DifferentialSuite;
  const dir = mkdtempSync(path.join(tmpdir(), 'itinera-cluster-diff-'));

  beforeAll(async () => {
    scratch = await scratchDatabase(inject('clusterDatabaseUrl'));
    database = await openDatabase({ url: scratch.url, poolSize: 6 });
    await migrateDatabase(database);
    [smtp, receiver, connection] = await Promise.all([
      startSmtpSink(),
      startHttp((_req, res) => json(res, 200, { ok: true })),
      Connection.connect({ address: inject('clusterAddress') }),
    ]);
    const scoring = path.join(dir, 'scoring.yaml');
    writeFileSync(scoring, 'version: 1\ntimezone: Asia/Shanghai\n');
    const taskQueue = `diff-${randomBytes(4).toString('hex')}`;
    const env: Record<string, string> = {
      NODE_ENV: 'production',
      DATABASE_URL: scratch.url,
      DATABASE_POOL_SIZE: '6',
      TEMPORAL_ADDRESS: inject('clusterAddress'),
      TEMPORAL_TASK_QUEUE: taskQueue,
      SIGNING_SECRET: randomBytes(32).toString('base64url'),
      WEBHOOK_SECRETS: generateWebhookSecret(),
      MAIL_PHYSICAL_ADDRESS: 'itinera tests · 1 Test Road · Shanghai',
      MAIL_FROM: 'itinera tests <journeys@itinera.test>',
      SMTP_URL: smtp.url,
      PUBLIC_BASE_URL: 'http://itinera.test',
      // The webhook receiver listens on 127.0.0.1.
      OUTBOUND_ALLOW: '127.0.0.1',
      SCORING_MODEL_FILE: scoring,
      // Cases are posted as fast as they are due; the per-key limit is not under test here (multi-process.test.ts).
      RATE_LIMIT_PER_KEY_BURST: '100000',
      RATE_LIMIT_PER_KEY_PER_SECOND: '100000',
    };
    const client = new Client({ connection });
    workers = [0, 1].map(() => superviseWorker(env, { entry: 'src/worker-main.ts', readyWhen: pollingWatch(client, taskQueue) }));
    [apis] = await Promise.all([Promise.all([startApiProcess(env), startApiProcess(env)]), ...workers.map((w) => w.ready())]);
    const { key } = await createApiKey(database.db, { name: 'differential integration', role: 'integration' });
    let turn = 0;
    const production: Production = {
      db: database.db,
      temporal: { client, taskQueue },
      async request(method, p, body) {
        const api = apis[turn++ % apis.length]!;
        const res = await fetch(`${api.url}${p}`, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
        return { status: res.status, body: await res.json().catch(() => undefined) };
      },
      emailsTo: (address) => smtp.messages.filter((m) => m.envelopeTo.includes(address)).length,
      // src/worker-main.ts loads journeys/sales/teams.yaml: hand-offs are assigned and record their CRM message.
      salesDirectory: true,
    };
    suite = differentialSuite({ production, receiverUrl: receiver.url, runTag: `c${SEED.toString(36)}`, concurrency: 12, label: 'differential(cluster)' });
  });

  afterAll(async () => {
    for (const line of suite?.summary() ?? []) console.log(line);
    await Promise.all([...workers.map((w) => w.stop()), ...apis.map((a) => a.stop())]);
    await connection?.close();
    await smtp?.close();
    await receiver?.close();
    await database?.close();
    await scratch?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Crashes of a worker process (none is killed on purpose here). */
  const crashes = () => workers.flatMap((w) => w.stats.exits.filter((e) => !e.killedByUs).map((e) => `code=${e.code}: ${e.stderrTail.slice(-600)}`));

  it(`sample journeys (${SAMPLES.join(', ')}) behave on the cluster as simulated`, async () => {
    const before = suite.totals.timelines;
    expect((await suite.samples(SAMPLES, PER_JOURNEY, SEED)).join('\n\n')).toBe('');
    expect(suite.totals.timelines - before).toBe(SAMPLES.length * PER_JOURNEY);
    expect(crashes()).toEqual([]);
  });

  it('generated journeys behave on the cluster as simulated', async () => {
    const before = suite.totals.timelines;
    expect((await suite.generated(GENERATED, PER_JOURNEY, SEED)).join('\n\n')).toBe('');
    expect(suite.totals.timelines - before).toBe(GENERATED * PER_JOURNEY);
    expect(crashes()).toEqual([]);
  });
});
