import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { parse } from 'yaml';
import { createApiKey } from '../../src/api/auth';
import { openDatabase } from '../../src/db/client';
import { resolveTemporalBinary } from '../../src/temporal/cli-binary';
import { ensureCluster, stopCluster, type RunningCluster } from '../../src/temporal/cluster';
import { resolveTemporalServer } from '../../src/temporal/server-binary';
import { startApiProcess, type ApiProcess } from '../chaos/harness/api-process';
import { startPgCluster, type PgCluster } from '../chaos/harness/postgres';
import { run } from '../chaos/harness/proc';
import { pollingWatch } from '../chaos/harness/stack';
import { superviseWorker, type WorkerSupervisor } from '../chaos/harness/worker-process';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp';
import { scaled } from '../helpers/timing';
import { until } from '../helpers/until';
import { freeClusterPort } from './ports';

// temporal-compose.yml's topology as local processes: the same scripts, commands and environment, with only the
// service addresses (postgresql:5432, temporal:7233, mailpit:1025) moved to this machine's ports and the API's port
// chosen free. Docker cannot run here; this is what `docker compose up --scale itinera-worker=2` would start.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

type Service = { image?: string; command?: string[]; entrypoint?: string[]; environment?: Record<string, string | number>; volumes?: string[] };
const compose = parse(readFileSync(path.join(ROOT, 'temporal-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;

/** What the person running compose exports (the file requires these two). */
const USER_ENV: Record<string, string> = {
  SIGNING_SECRET: randomBytes(32).toString('hex'),
  MAIL_PHYSICAL_ADDRESS: 'ACME Ltd · 100 Century Ave · Shanghai',
};

/** Compose interpolation: `${VAR}`, `${VAR:-default}`, `${VAR:?message}` from USER_ENV, and `$$` for a literal `$`. */
function interpolate(value: string): string {
  return value
    .split('$$')
    .map((part) =>
      part.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-?])([^}]*))?\}/g, (_m, name: string, op: string | undefined, arg: string | undefined) => {
        const set = USER_ENV[name];
        if (set !== undefined && set !== '') return set;
        if (op === '-') return arg ?? '';
        if (op === '?') throw new Error(`compose requires ${name}: ${arg}`);
        return '';
      }),
    )
    .join('$');
}

function environment(name: string, addresses: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(services[name]!.environment ?? {})) {
    let value = interpolate(String(v));
    for (const [from, to] of Object.entries(addresses)) value = value.replaceAll(from, to);
    env[k] = value;
  }
  return env;
}

/** The last part of a file (a server log), or why it could not be read. */
function readTail(file: string, chars = 3000): string {
  try {
    return readFileSync(file, 'utf8').slice(-chars);
  } catch (err) {
    return `(cannot read ${file}: ${(err as Error).message})`;
  }
}

/** host:container of a service's bind mount onto `target`. */
function mountSource(name: string, target: string): string {
  const v = (services[name]!.volumes ?? []).map((s) => s.split(':')).find(([, t]) => t === target);
  if (!v) throw new Error(`${name} mounts nothing at ${target}`);
  return path.join(ROOT, v[0]!);
}

/** A script the compose job runs as `/bin/sh /scripts/<file>`, found in the folder mounted at /scripts. */
function jobScript(name: string): string {
  const s = services[name]!;
  expect(s.entrypoint).toEqual(['/bin/sh']);
  const file = s.command![0]!;
  expect(file.startsWith('/scripts/')).toBe(true);
  return path.join(mountSource(name, '/scripts'), path.basename(file));
}

const TRANSACTIONAL = `
id: compose-welcome
name: Compose welcome
triggers:
  - type: event
    event: compose.signed_up
entry: { re_entry: once }
settings: { default_locale: en, unknown_contact: create }
start: mail
steps:
  mail: { type: send_email, template: welcome, category: transactional, next: done }
  done: { type: exit, reason: done }
`;

describe('temporal-compose.yml, started as local processes from its own values', () => {
  let pgCluster: PgCluster | undefined;
  let cluster: RunningCluster | undefined;
  let smtp: SmtpSink | undefined;
  let connection: Connection | undefined;
  let api: ApiProcess | undefined;
  let workers: WorkerSupervisor[] = [];
  const dataDir = mkdtempSync(path.join(tmpdir(), 'itinera-compose-'));
  let itinera: Record<string, string> = {};
  let addresses: Record<string, string> = {};
  const baseEnv = { PATH: process.env.PATH, HOME: process.env.HOME ?? tmpdir() };
  const log: string[] = [];
  /**
   * One start-up step with its own deadline: a step that hangs fails as itself (named, with what every process printed
   * so far) instead of as the hook's timeout with nothing to go on. Each step's time goes to the log.
   */
  const step = async <T>(name: string, ms: number, fn: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`compose start-up: "${name}" did not finish within ${scaled(ms)} ms`)), scaled(ms));
    });
    try {
      return await Promise.race([fn(), deadline]);
    } finally {
      clearTimeout(timer);
      log.push(`[compose] ${name}: ${Date.now() - started} ms`);
    }
  };
  const diagnostics = () =>
    [
      ...log.slice(-40),
      ...workers.map((w, i) => `[worker ${i + 1}] starts=${w.stats.starts} exits=${JSON.stringify(w.stats.exits.map((e) => ({ code: e.code, signal: e.signal, stderr: e.stderrTail.slice(-800) })))}`),
      `[temporal-server log tail] ${readTail(path.join(dataDir, 'server.log'))}`,
    ].join('\n');

  beforeAll(async () => {
    try {
      await startUp();
      console.log(log.filter((l) => l.startsWith('[compose]')).join('; '));
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- what the processes printed ---\n${diagnostics()}`, { cause: err });
    }
    // Longer than the steps' own deadlines together, so a hang fails as its step.
  }, scaled(1_200_000));

  async function startUp() {
    // postgresql: the image's superuser from POSTGRES_USER/POSTGRES_PASSWORD, then its initdb scripts.
    const pgc = await step('postgresql', 60_000, () => startPgCluster());
    pgCluster = pgc;
    const pgEnv = environment('postgresql', {});
    const admin = new pg.Client({ connectionString: pgCluster.url });
    await admin.connect();
    try {
      await admin.query(`create role ${pgEnv.POSTGRES_USER} superuser login password '${pgEnv.POSTGRES_PASSWORD}'`);
      await admin.query(`create database ${pgEnv.POSTGRES_USER} owner ${pgEnv.POSTGRES_USER}`);
    } finally {
      await admin.end();
    }
    // As the image's entrypoint runs them: psql, one file after another, as POSTGRES_USER.
    const asUser = `postgres://${pgEnv.POSTGRES_USER}:${pgEnv.POSTGRES_PASSWORD}@127.0.0.1:${pgCluster.port}/${pgEnv.POSTGRES_USER}`;
    const initDir = mountSource('postgresql', '/docker-entrypoint-initdb.d');
    for (const f of readdirSync(initDir).filter((f) => f.endsWith('.sql')).sort()) {
      log.push(await run('psql', ['-v', 'ON_ERROR_STOP=1', '-q', '-d', asUser, '-f', path.join(initDir, f)], { timeoutMs: scaled(30_000) }));
    }
    smtp = await startSmtpSink();
    const temporalPort = await freeClusterPort();
    addresses = {
      'postgresql:5432': `127.0.0.1:${pgCluster.port}`,
      'temporal:7233': `127.0.0.1:${temporalPort}`,
      'mailpit:1025': new URL(smtp.url).host,
    };
    const [binaries, cli] = await Promise.all([resolveTemporalServer(), resolveTemporalBinary()]);
    if (cli.kind !== 'path') throw new Error('the namespace job needs the temporal CLI (npm run temporal:bin)');

    // temporal-schema: its script with the locally built temporal-sql-tool (the same version as the image's).
    const schemaEnv = { ...environment('temporal-schema', addresses), POSTGRES_SEEDS: '127.0.0.1', DB_PORT: String(pgCluster.port) };
    log.push(
      await step('temporal-schema', 130_000, () =>
        run('sh', [jobScript('temporal-schema')], { env: { ...baseEnv, PATH: `${path.dirname(binaries.sqlTool)}:${baseEnv.PATH}`, ...schemaEnv }, timeoutMs: scaled(120_000) }),
      ),
    );

    // temporal: the server with the image's settings — databases, shards, dynamic config file — and nothing registered.
    const t = environment('temporal', addresses);
    expect(services.temporal!.image).toBe(`temporalio/server:${binaries.version}`);
    cluster = await step('temporal', 180_000, () => ensureCluster({
      binaries,
      databaseUrl: `postgres://${t.POSTGRES_USER}:${t.POSTGRES_PWD}@127.0.0.1:${pgc.port}/postgres`,
      historyDatabase: t.DBNAME!,
      visibilityDatabase: t.VISIBILITY_DBNAME!,
      numHistoryShards: Number(t.NUM_HISTORY_SHARDS),
      port: temporalPort,
      dataDir,
      dynamicConfigFile: path.join(mountSource('temporal', '/etc/temporal/config/dynamicconfig'), path.basename(t.DYNAMIC_CONFIG_FILE_PATH!)),
      registerNamespace: false,
      logLevel: t.LOG_LEVEL as 'warn',
      log: (l) => log.push(l),
    }));

    // temporal-namespace: its script with the local temporal CLI (1.5.1, the image's `cli-1.5.0` line).
    const namespaceEnv = { ...baseEnv, PATH: `${path.dirname(cli.path)}:${baseEnv.PATH}`, ...environment('temporal-namespace', addresses) };
    log.push(await step('temporal-namespace', 250_000, () => run('sh', [jobScript('temporal-namespace')], { env: namespaceEnv, timeoutMs: scaled(240_000) })));

    // itinera-init, then the API and two workers (`--scale itinera-worker=2`), each with the shared environment.
    itinera = environment('itinera-api', addresses);
    expect(environment('itinera-worker', addresses)).toEqual(itinera);
    expect(environment('itinera-init', addresses)).toEqual(itinera);
    const [cmd, ...args] = services['itinera-init']!.command!.map(interpolate);
    log.push(await step('itinera-init', 190_000, () => run(cmd!, args, { cwd: ROOT, env: { ...baseEnv, ...itinera }, timeoutMs: scaled(180_000) })));

    connection = await Connection.connect({ address: addresses['temporal:7233']! });
    const client = new Client({ connection, namespace: itinera.TEMPORAL_NAMESPACE });
    // `npm run worker` / `npm run api` are `tsx src/worker-main.ts` / `tsx src/api/server.ts`: started as node --import tsx.
    expect(services['itinera-worker']!.command!.join(' ')).toBe('npm run worker');
    workers = [1, 2].map(() => superviseWorker(itinera, { entry: 'src/worker-main.ts', readyWhen: pollingWatch(client, itinera.TEMPORAL_TASK_QUEUE!), baseEnv }));
    expect(services['itinera-api']!.command!.join(' ')).toBe('npm run api');
    api = await step('itinera-api', 150_000, () => startApiProcess(itinera, { baseEnv }));
    await step('two workers polling the task queue', 180_000, () => Promise.all(workers.map((w) => w.ready())));
  }

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await api?.stop();
    await connection?.close();
    // A server whose start-up step timed out is stopped through its pid file (ensureCluster never returned it).
    await (cluster ? cluster.stop() : stopCluster(dataDir));
    await smtp?.close();
    await pgCluster?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }, 120_000);

  it('publishes journeys/ at init and runs a journey end to end: API → Temporal → two workers → SMTP', async () => {
    const db = await openDatabase({ url: itinera.DATABASE_URL!, poolSize: 2 });
    try {
      const { key: marketer } = await createApiKey(db.db, { name: 'compose marketer', role: 'marketer' });
      const { key: integration } = await createApiKey(db.db, { name: 'compose integration', role: 'integration' });
      const { key: ops } = await createApiKey(db.db, { name: 'compose ops', role: 'ops' });
      const call = (method: string, p: string, key: string, body?: string, type = 'application/json') =>
        fetch(`${api!.url}${p}`, { method, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': type } : {}) }, ...(body ? { body } : {}) });

      // itinera-init published every journey file (scoring.yaml is the scoring model, not a journey).
      const listed = (await (await call('GET', '/v1/journeys?limit=50', marketer)).json()) as { items: { id: string; latestVersion: number | null }[] };
      const files = readdirSync(path.join(ROOT, 'journeys')).filter((f) => f.endsWith('.yaml') && f !== 'scoring.yaml');
      expect(listed.items.filter((j) => j.latestVersion === 1)).toHaveLength(files.length);

      expect((await call('POST', '/v1/journeys', marketer, TRANSACTIONAL, 'application/yaml')).status).toBe(201);
      expect((await call('POST', '/v1/journeys/compose-welcome/publish', marketer)).status).toBe(201);
      const email = 'new.user@compose.test';
      const posted = await call('POST', '/v1/events', integration, JSON.stringify({ events: [{ id: 'compose-1', type: 'compose.signed_up', contact: { externalId: 'compose-user-1', email, locale: 'en' } }] }));
      expect(posted.status).toBe(202);
      expect(((await posted.json()) as { rejected: unknown[] }).rejected).toEqual([]);
      const [mail] = await smtp!.waitFor(1, 120_000);
      expect(mail!.envelopeTo).toEqual([email]);
      await until('the run completed', async () => {
        const res = await call('GET', '/v1/runs?journeyId=compose-welcome&status=completed', ops);
        return res.status === 200 && ((await res.json()) as { items: unknown[] }).items.length === 1 ? true : undefined;
      }, 60_000);
      expect(workers.flatMap((w) => w.stats.exits.filter((e) => !e.killedByUs))).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
