import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import proto from '@temporalio/proto';
import pg from 'pg';
import { SEARCH_ATTRIBUTES } from '../contracts';
import type { TemporalServerBinaries } from './server-binary';
import { waitForTemporal } from './dev-server';

/**
 * History shards of a cluster this script creates. A shard is Temporal's unit of history ownership and write
 * serialization; the count is recorded in the cluster metadata when the cluster first starts (a later config with
 * another number is ignored with a warning) and cannot change without new databases and moving the runs. 8 keeps the
 * idle cost of a two-core machine low (each shard polls its task queues in Postgres); docs/scaling.md says what a
 * larger deployment should choose.
 * @default 8
 */
export const DEFAULT_HISTORY_SHARDS = 8;

/** What `temporal-sql-tool` calls the embedded schemas this server version ships for Postgres 12+. */
const SCHEMAS = { history: 'postgresql/v12/temporal', visibility: 'postgresql/v12/visibility' } as const;
const PLUGIN = 'postgres12';

export type ClusterOptions = {
  binaries: TemporalServerBinaries;
  /** A Postgres URL whose user may create databases; its host, port, user and password are Temporal's too. */
  databaseUrl: string;
  /** @default 'temporal' */
  historyDatabase?: string;
  /** @default 'temporal_visibility' */
  visibilityDatabase?: string;
  /** Config, log and pid file. */
  dataDir: string;
  /** Frontend gRPC port; the other services use fixed offsets from it (see clusterPorts). @default 7233 */
  port?: number;
  /** @default 127.0.0.1 */
  host?: string;
  /** @default DEFAULT_HISTORY_SHARDS */
  numHistoryShards?: number;
  /** @default 'default' */
  namespace?: string;
  /** Closed runs are kept this long. @default 3 days */
  retentionMs?: number;
  /** Extra dynamic config (`key: value` pairs applied without constraints). */
  dynamicConfig?: Record<string, unknown>;
  /** A dynamic config file to use as it is instead of the one written from `dynamicConfig` (the compose file's). */
  dynamicConfigFile?: string;
  /** Register the namespace and search attributes (false: a separate job does, as in compose). @default true */
  registerNamespace?: boolean;
  /**
   * Postgres connections per service and store: each of the four services in the process opens its own pools, so the
   * server may hold 4 × (history + visibility) connections. @default { history: 20, visibility: 10 }
   */
  maxConns?: { history: number; visibility: number };
  /** @default 'warn' */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  log?: (line: string) => void;
};

export type ClusterPorts = { frontend: number; frontendHttp: number; history: number; matching: number; worker: number; membership: number[] };

/** Temporal's own defaults (7233 frontend, 7234 history, 7235 matching, 7239 worker, 7243 HTTP, 693x membership) moved together with `port`. */
export function clusterPorts(port: number): ClusterPorts {
  return { frontend: port, frontendHttp: port + 10, history: port + 1, matching: port + 2, worker: port + 6, membership: [port - 300, port - 299, port - 298, port - 294] };
}

export const allClusterPorts = (port: number): number[] => {
  const p = clusterPorts(port);
  return [p.frontend, p.frontendHttp, p.history, p.matching, p.worker, ...p.membership];
};

type Pg = { host: string; port: number; user: string; password: string };

function pgOf(databaseUrl: string): Pg {
  const u = new URL(databaseUrl);
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new Error(`DATABASE_URL must be a postgres:// URL for the Temporal cluster (got ${u.protocol})`);
  return { host: u.hostname || '127.0.0.1', port: Number(u.port || 5432), user: decodeURIComponent(u.username || 'postgres'), password: decodeURIComponent(u.password) };
}

function urlFor(databaseUrl: string, database: string): string {
  const u = new URL(databaseUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Creates the database when it does not exist; true when it was created. */
async function ensureDatabase(databaseUrl: string, name: string): Promise<boolean> {
  if (!IDENT.test(name)) throw new Error(`Temporal database name "${name}" must be a lower-case SQL identifier (letters, digits, _)`);
  return withClient(databaseUrl, async (c) => {
    const { rowCount } = await c.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount) return false;
    try {
      await c.query(`create database ${name}`);
    } catch (err) {
      // Another setup created it between the check and here.
      if ((err as { code?: string }).code !== '42P04') throw err;
      return false;
    }
    return true;
  });
}

function runTool(binary: string, args: string[], log: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve(out);
      else {
        log(out);
        reject(new Error(`temporal-sql-tool ${args.filter((a) => !a.startsWith('--password')).join(' ')} exited with ${code}: ${out.slice(-1500)}`));
      }
    });
  });
}

/**
 * `setup-schema -v 0.0` (the versioning tables) on a database that has none, then `update-schema` to the newest schema
 * this server ships: a no-op when it is already there. What Temporal's admin-tools image does in its schema job.
 */
async function ensureSchema(opts: ClusterOptions, database: string, schema: string, log: (line: string) => void): Promise<'created' | 'updated'> {
  const p = pgOf(opts.databaseUrl);
  const common = ['--plugin', PLUGIN, '--endpoint', p.host, '--port', String(p.port), '--user', p.user, ...(p.password ? ['--password', p.password] : []), '--database', database];
  const hasVersioning = await withClient(urlFor(opts.databaseUrl, database), async (c) => {
    const { rowCount } = await c.query(`select 1 from information_schema.tables where table_schema = 'public' and table_name = 'schema_version'`);
    return (rowCount ?? 0) > 0;
  });
  if (!hasVersioning) await runTool(opts.binaries.sqlTool, [...common, 'setup-schema', '-v', '0.0'], log);
  await runTool(opts.binaries.sqlTool, [...common, 'update-schema', '--schema-name', schema], log);
  const version = await withClient(urlFor(opts.databaseUrl, database), async (c) => (await c.query<{ curr_version: string }>('select curr_version from schema_version')).rows[0]?.curr_version);
  log(`temporal-cluster: ${database} schema ${hasVersioning ? 'updated to' : 'created at'} ${version ?? '?'}`);
  return hasVersioning ? 'updated' : 'created';
}

/** Plain YAML for the values we write (strings quoted, numbers and booleans bare). */
function yaml(value: unknown, indent = ''): string {
  if (Array.isArray(value)) return value.map((v) => `\n${indent}- ${yaml(v, `${indent}  `).trimStart()}`).join('');
  if (value && typeof value === 'object') {
    return Object.entries(value)
      .map(([k, v]) => (v && typeof v === 'object' ? `\n${indent}${k}:${yaml(v, `${indent}  `)}` : `\n${indent}${k}: ${yaml(v)}`))
      .join('');
  }
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** The server's static config: Postgres persistence and SQL visibility, all four services in one process. */
export function serverConfig(opts: ClusterOptions): string {
  const p = pgOf(opts.databaseUrl);
  const ports = clusterPorts(opts.port ?? 7233);
  const host = opts.host ?? '127.0.0.1';
  const store = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: PLUGIN,
      databaseName,
      connectAddr: `${p.host}:${p.port}`,
      connectProtocol: 'tcp',
      user: p.user,
      password: p.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const service = (grpcPort: number, membershipPort: number, extra: object = {}) => ({ rpc: { grpcPort, membershipPort, bindOnIP: host, ...extra } });
  const config = {
    log: { stdout: true, level: opts.logLevel ?? 'warn' },
    persistence: {
      defaultStore: 'default',
      visibilityStore: 'visibility',
      numHistoryShards: opts.numHistoryShards ?? DEFAULT_HISTORY_SHARDS,
      datastores: {
        default: store(opts.historyDatabase ?? 'temporal', opts.maxConns?.history ?? 20),
        visibility: store(opts.visibilityDatabase ?? 'temporal_visibility', opts.maxConns?.visibility ?? 10),
      },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: host } },
    services: {
      frontend: service(ports.frontend, ports.membership[0]!, { httpPort: ports.frontendHttp }),
      history: service(ports.history, ports.membership[1]!),
      matching: service(ports.matching, ports.membership[2]!),
      worker: service(ports.worker, ports.membership[3]!),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `${host}:${ports.frontend}` } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: opts.dynamicConfigFile ?? path.join(opts.dataDir, 'config', 'dynamicconfig.yaml'), pollInterval: '10s' },
  };
  return `# Written by itinera's temporal:cluster (src/temporal/cluster.ts); rewritten on every run.${yaml(config)}\n`;
}

/** Dynamic config: what the dev server enables for us (updates) and a longer id limit for our deterministic ids. */
export function dynamicConfig(opts: ClusterOptions): string {
  const values: Record<string, unknown> = {
    'frontend.enableUpdateWorkflowExecution': true,
    'frontend.enableUpdateWorkflowExecutionAsyncAccepted': true,
    'frontend.enableServerVersionCheck': false,
    'limit.maxIDLength': 1000,
    ...opts.dynamicConfig,
  };
  return `${Object.entries(values)
    .map(([k, v]) => `${k}:\n  - value: ${JSON.stringify(v)}\n    constraints: {}`)
    .join('\n')}\n`;
}

async function answers(address: string): Promise<boolean> {
  try {
    await waitForTemporal(address, 1500);
    return true;
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The namespace and our search attributes: registered when missing, checked when present, waited for until usable. */
export async function ensureNamespace(address: string, opts: { namespace: string; retentionMs: number; timeoutMs?: number; log: (line: string) => void }): Promise<{ namespaceCreated: boolean; attributesAdded: string[] }> {
  const { IndexedValueType } = proto.temporal.api.enums.v1;
  const connection = await Connection.connect({ address });
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  // Every call bounded: the SDK sets no deadline of its own, so one unanswered call would hold the setup for ever.
  const retry = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await connection.withDeadline(Date.now() + 15_000, fn);
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`temporal-cluster: ${what} did not succeed: ${(err as Error).message}`, { cause: err });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
  try {
    // Described, else registered (ALREADY_EXISTS: another setup won the race); retried like the calls below.
    const namespaceCreated = await retry('registering the namespace', async () => {
      try {
        await connection.workflowService.describeNamespace({ namespace: opts.namespace });
        return false;
      } catch (err) {
        if ((err as { code?: number }).code !== 5) throw err; // gRPC NOT_FOUND
      }
      try {
        await connection.workflowService.registerNamespace({ namespace: opts.namespace, workflowExecutionRetentionPeriod: msToTs(opts.retentionMs) });
        return true;
      } catch (e) {
        if ((e as { code?: number }).code === 6) return false;
        throw e;
      }
    });
    const wanted = Object.fromEntries(
      SEARCH_ATTRIBUTES.map((k) => [k.name, k.type === 'INT' ? IndexedValueType.INDEXED_VALUE_TYPE_INT : IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
    );
    // The namespace reaches every service's cache within the registry's refresh interval: retry until it has.
    const existing = await retry('listing search attributes', () => connection.operatorService.listSearchAttributes({ namespace: opts.namespace }));
    const missing: Record<string, number> = {};
    for (const [name, type] of Object.entries(wanted)) {
      const have = existing.customAttributes?.[name];
      if (have === undefined || have === null) missing[name] = type;
      else if (have !== type) throw new Error(`search attribute ${name} exists in namespace ${opts.namespace} with type ${IndexedValueType[have]}, expected ${IndexedValueType[type]}`);
    }
    if (Object.keys(missing).length) {
      await retry('adding search attributes', () => connection.operatorService.addSearchAttributes({ namespace: opts.namespace, searchAttributes: missing }));
    }
    // Usable once a visibility query naming every attribute is accepted by the frontend.
    const probe = SEARCH_ATTRIBUTES.map((k) => `${k.name} ${k.type === 'INT' ? '= 0' : `= 'probe'`}`).join(' AND ');
    await retry('a visibility query with our search attributes', () => connection.workflowService.countWorkflowExecutions({ namespace: opts.namespace, query: probe }));
    opts.log(
      `temporal-cluster: namespace ${opts.namespace} ${namespaceCreated ? 'created' : 'present'}; search attributes ${Object.keys(missing).length ? `added: ${Object.keys(missing).join(', ')}` : 'present'}`,
    );
    return { namespaceCreated, attributesAdded: Object.keys(missing) };
  } finally {
    await connection.close();
  }
}

/** The history shard count the cluster recorded at its first start (the server keeps it whatever the config says later). */
export async function recordedShardCount(address: string): Promise<number> {
  const connection = await Connection.connect({ address });
  try {
    const { clusters } = await connection.withDeadline(Date.now() + 30_000, () => connection.operatorService.listClusters({}));
    const count = clusters?.[0]?.historyShardCount;
    if (!count) throw new Error(`temporal-cluster: the server at ${address} reported no history shard count`);
    return count;
  } finally {
    await connection.close();
  }
}

export type RunningCluster = {
  address: string;
  /** History shards, as the cluster recorded them. */
  historyShards: number;
  /** Undefined when the server was already running (not ours to stop). */
  process: ChildProcess | undefined;
  alreadyRunning: boolean;
  logFile: string;
  stop(): Promise<void>;
};

/**
 * Everything `npm run temporal:cluster` does, idempotent: databases, schemas (set up or updated), config, the server
 * (started unless it already answers), the namespace and the search attributes. `detached` leaves the server running
 * after this process exits (the script); attached it dies with us (the test suite).
 */
export async function ensureCluster(opts: ClusterOptions & { detached?: boolean }): Promise<RunningCluster> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 7233;
  const address = `${host}:${port}`;
  const namespace = opts.namespace ?? 'default';
  const historyDb = opts.historyDatabase ?? 'temporal';
  const visibilityDb = opts.visibilityDatabase ?? 'temporal_visibility';
  const configDir = path.join(opts.dataDir, 'config');
  const logFile = path.join(opts.dataDir, 'server.log');
  const pidFile = path.join(opts.dataDir, 'server.pid');
  mkdirSync(configDir, { recursive: true });

  for (const db of [historyDb, visibilityDb]) if (await ensureDatabase(opts.databaseUrl, db)) log(`temporal-cluster: created database ${db}`);
  await ensureSchema(opts, historyDb, SCHEMAS.history, log);
  await ensureSchema(opts, visibilityDb, SCHEMAS.visibility, log);
  writeFileSync(path.join(configDir, 'cluster.yaml'), serverConfig(opts));
  writeFileSync(path.join(configDir, 'dynamicconfig.yaml'), dynamicConfig(opts));

  const recordedPid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : undefined;
  let child: ChildProcess | undefined;
  let alreadyRunning = false;
  if (await answers(address)) {
    alreadyRunning = true;
    log(`temporal-cluster: a server already answers at ${address}${recordedPid && pidAlive(recordedPid) ? ` (pid ${recordedPid})` : ''}; not starting another`);
  } else {
    const out = openSync(logFile, 'a');
    child = spawn(opts.binaries.server, ['--root', opts.dataDir, '--config', 'config', '--env', 'cluster', '--allow-no-auth', 'start'], {
      stdio: ['ignore', out, out],
      detached: opts.detached ?? false,
    });
    closeSync(out);
    writeFileSync(pidFile, `${child.pid}\n`);
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    try {
      await Promise.race([
        waitForTemporal(address, 120_000),
        exited.then((code) => {
          throw new Error(`temporal-server exited with code ${code} before answering; see ${logFile}: ${readFileSync(logFile, 'utf8').slice(-1500)}`);
        }),
      ]);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    if (opts.detached) child.unref();
    log(`temporal-cluster: temporal-server ${opts.binaries.version} started at ${address} (pid ${child.pid}, log ${logFile})`);
  }
  const historyShards = await recordedShardCount(address);
  const wantedShards = opts.numHistoryShards ?? DEFAULT_HISTORY_SHARDS;
  if (historyShards !== wantedShards) {
    log(
      `temporal-cluster: this cluster has ${historyShards} history shards, recorded when its databases were first used; the ${wantedShards} asked for are ignored (a different count needs new databases)`,
    );
  }
  if (opts.registerNamespace !== false) await ensureNamespace(address, { namespace, retentionMs: opts.retentionMs ?? 3 * 24 * 3600_000, log });
  const proc = child;
  return {
    address,
    historyShards,
    process: proc,
    alreadyRunning,
    logFile,
    stop: async () => {
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
      rmSync(pidFile, { force: true });
    },
  };
}

/** Stops the server a detached `ensureCluster` left running (pid file in dataDir); false when none was running. */
export async function stopCluster(dataDir: string): Promise<boolean> {
  const pidFile = path.join(dataDir, 'server.pid');
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  rmSync(pidFile, { force: true });
  if (!pid || !pidAlive(pid)) return false;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 15_000;
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
  return true;
}
