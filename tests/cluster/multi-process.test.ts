import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { createApiKey } from '../../src/api/auth';
import { KEY_CACHE_TTL_MS } from '../../src/api/auth';
import { MIGRATIONS_DIR, openDatabase, type DatabaseHandle } from '../../src/db/client';
import { JOURNEY_SCHEDULE_PREFIX } from '../../src/publishing/schedules';
import { publishJourney } from '../../src/publishing/journeys';
import { startApiProcess, type ApiProcess } from '../chaos/harness/api-process';
import { sleep } from '../chaos/harness/proc';
import { pollingWatch } from '../chaos/harness/stack';
import { superviseWorker, type WorkerSupervisor } from '../chaos/harness/worker-process';

/** A journey with one cron trigger: one Schedule per deployment, whoever syncs. */
const scheduled = (id: string, tag: string) => `
id: ${id}
name: Multi-process ${id}
triggers:
  - type: schedule
    cron: "0 9 * * 1-5"
    timezone: Asia/Shanghai
    audience: { tag: ${tag} }
entry: { re_entry: always, max_concurrent: 1 }
start: mark
steps:
  mark: { type: tag, tags: [digest-sent], next: done }
  done: { type: exit }
`;

const BURST = 20;
const REFILL_PER_SECOND = 0.1;

describe('several processes on one database and one cluster', () => {
  const suffix = randomBytes(4).toString('hex');
  const dbName = `itinera_mp_${suffix}`;
  const adminUrl = inject('clusterDatabaseUrl');
  const dbUrl = (() => {
    const u = new URL(adminUrl);
    u.pathname = `/${dbName}`;
    return u.toString();
  })();
  const taskQueue = `mp-${suffix}`;
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    DATABASE_URL: dbUrl,
    DATABASE_POOL_SIZE: '4',
    TEMPORAL_ADDRESS: inject('clusterAddress'),
    TEMPORAL_TASK_QUEUE: taskQueue,
    SIGNING_SECRET: randomBytes(32).toString('base64url'),
    MAIL_PHYSICAL_ADDRESS: 'itinera tests · 1 Test Road · Shanghai',
    MAIL_FROM: 'itinera tests <journeys@multi.test>',
    // Nothing in this file sends mail: a port nobody listens on, so a send would fail loudly.
    SMTP_URL: 'smtp://127.0.0.1:9',
    PUBLIC_BASE_URL: 'http://itinera.test',
    // A small bucket refilled slowly: the rate-limit test below exhausts it; the other tests send a few requests per key.
    RATE_LIMIT_PER_KEY_BURST: String(BURST),
    RATE_LIMIT_PER_KEY_PER_SECOND: String(REFILL_PER_SECOND),
  };
  let connection: Connection;
  let client: Client;
  let database: DatabaseHandle | undefined;
  let workers: WorkerSupervisor[] = [];
  let apis: ApiProcess[] = [];

  const admin = async (q: string) => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(q);
    } finally {
      await c.end();
    }
  };
  const startWorkers = async (n: number) => {
    workers = Array.from({ length: n }, () => superviseWorker(env, { entry: 'src/worker-main.ts', readyWhen: pollingWatch(client, taskQueue) }));
    await Promise.all(workers.map((w) => w.ready()));
  };
  const stopWorkers = async () => {
    await Promise.all(workers.map((w) => w.stop()));
  };
  const unexpectedExits = () => workers.flatMap((w) => w.stats.exits.filter((e) => !e.killedByUs).map((e) => `code=${e.code}: ${e.stderrTail.slice(-600)}`));
  const journeySchedules = async () => {
    const ids: string[] = [];
    for await (const s of client.schedule.list()) if (s.scheduleId.startsWith(`${JOURNEY_SCHEDULE_PREFIX}${taskQueue}:`)) ids.push(s.scheduleId);
    return ids.sort();
  };

  beforeAll(async () => {
    await admin(`create database ${dbName}`);
    connection = await Connection.connect({ address: inject('clusterAddress') });
    client = new Client({ connection });
  });
  afterAll(async () => {
    await stopWorkers();
    await Promise.all(apis.map((a) => a.stop()));
    for (const id of await journeySchedules().catch(() => [])) await client.schedule.getHandle(id).delete().catch(() => undefined);
    await connection?.close();
    await database?.close();
    await admin(`drop database if exists ${dbName} with (force)`);
  });

  it('two workers starting at once on an empty database apply each migration once and both run', async () => {
    await startWorkers(2);
    database = await openDatabase({ url: dbUrl, poolSize: 4 });
    const journal = JSON.parse(readFileSync(`${MIGRATIONS_DIR}/meta/_journal.json`, 'utf8')) as { entries: unknown[] };
    const res = (await database.db.execute('select count(*)::int as n, count(distinct hash)::int as d from drizzle.__drizzle_migrations')) as unknown as { rows: { n: number; d: number }[] };
    expect(res.rows[0]).toEqual({ n: journal.entries.length, d: journal.entries.length });
    expect(unexpectedExits()).toEqual([]);
    await stopWorkers();
  });

  it('two workers starting at once create a published journey’s Schedule once, and neither fails', async () => {
    await publishJourney(database!.db, scheduled('mp-digest', 'vip'), {});
    expect(await journeySchedules()).toEqual([]);
    await startWorkers(2);
    // Both synced before they polled (createProcessWorker): the Schedule is there once, with the journey's spec.
    expect(await journeySchedules()).toEqual([`${JOURNEY_SCHEDULE_PREFIX}${taskQueue}:mp-digest:0`]);
    const d = await client.schedule.getHandle(`${JOURNEY_SCHEDULE_PREFIX}${taskQueue}:mp-digest:0`).describe();
    expect(d.spec.calendars?.length, 'the cron, as the server stores it').toBe(1);
    expect(d.state.paused).toBe(false);
    expect(unexpectedExits()).toEqual([]);
  });

  it('two API processes publishing the same draft at once make one version and one Schedule', async () => {
    apis = await Promise.all([startApiProcess(env), startApiProcess(env)]);
    const { key } = await createApiKey(database!.db, { name: 'mp marketer', role: 'marketer' });
    const auth = { authorization: `Bearer ${key}` };
    const created = await fetch(`${apis[0]!.url}/v1/journeys`, { method: 'POST', headers: { ...auth, 'content-type': 'application/yaml' }, body: scheduled('mp-race', 'gold') });
    expect(created.status).toBe(201);
    const answers = await Promise.all(apis.map((a) => fetch(`${a.url}/v1/journeys/mp-race/publish`, { method: 'POST', headers: auth }).then(async (r) => ({ status: r.status, body: (await r.json()) as { version: number; created: boolean } }))));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 201]);
    expect(answers.map((a) => a.body.version)).toEqual([1, 1]);
    const versions = (await database!.db.execute(`select count(*)::int as n from journey_versions where journey_id = 'mp-race'`)) as unknown as { rows: { n: number }[] };
    expect(versions.rows[0]!.n).toBe(1);
    expect(await journeySchedules()).toEqual([`${JOURNEY_SCHEDULE_PREFIX}${taskQueue}:mp-digest:0`, `${JOURNEY_SCHEDULE_PREFIX}${taskQueue}:mp-race:0`]);
  });

  it('a key revoked through one API process is refused by both (the other within its cache window)', async () => {
    const { key: adminKey } = await createApiKey(database!.db, { name: 'mp admin', role: 'admin' });
    const { key, id } = await createApiKey(database!.db, { name: 'mp to revoke', role: 'integration' });
    const probe = (api: ApiProcess) => fetch(`${api.url}/v1/contacts?limit=1`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status);
    // Both have seen (and cached) the key as valid.
    expect(await Promise.all(apis.map(probe))).toEqual([200, 200]);
    const revoked = await fetch(`${apis[0]!.url}/v1/keys/${id}/revoke`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}` } });
    expect(revoked.status).toBe(200);
    expect(await probe(apis[0]!)).toBe(401);
    // The other process trusts its cached row for at most KEY_CACHE_TTL_MS (src/api/auth.ts): after that, refused.
    await sleep(KEY_CACHE_TTL_MS + 500);
    expect(await probe(apis[1]!)).toBe(401);
    expect(await probe(apis[0]!)).toBe(401);
  });

  it('the per-key rate limit is one budget across both API processes', async () => {
    const { key } = await createApiKey(database!.db, { name: 'mp limited', role: 'integration' });
    const started = Date.now();
    const statuses = await Promise.all(
      Array.from({ length: 2 * BURST }, (_, i) => fetch(`${apis[i % 2]!.url}/v1/contacts?limit=1`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status)),
    );
    const elapsedS = (Date.now() - started) / 1000;
    const ok = statuses.filter((s) => s === 200).length;
    // Buckets per process would let all 2 × BURST through; one shared bucket lets the burst and what refilled meanwhile.
    expect(ok).toBeGreaterThanOrEqual(BURST);
    expect(ok).toBeLessThanOrEqual(BURST + Math.ceil(elapsedS * REFILL_PER_SECOND));
    expect(statuses.filter((s) => s === 429)).toHaveLength(2 * BURST - ok);
  });
});
