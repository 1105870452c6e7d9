// `npm run temporal:cluster`: a real Temporal server (not the dev server) on the local Postgres, idempotent.
//   Builds temporal-server and temporal-sql-tool once (cached under ITINERA_TOOLS_DIR), creates the `temporal` and
//   `temporal_visibility` databases, sets up or updates their schemas, writes the server config, starts the server in
//   the background unless one already answers, and registers the namespace and itinera's search attributes.
// `npm run temporal:cluster -- --stop` stops a server this script started; `-- --build-only` only builds (or finds)
// the binaries and prints their folder (what .ci/run does before the tests).
//
// Environment: DATABASE_URL (required; its user creates the databases), TEMPORAL_CLUSTER_PORT (7233),
// TEMPORAL_DB (temporal), TEMPORAL_VISIBILITY_DB (temporal_visibility), TEMPORAL_HISTORY_SHARDS (8, fixed for the
// life of the databases), TEMPORAL_NAMESPACE (default), TEMPORAL_CLUSTER_DIR (<DATA_DIR>/temporal-cluster).
import path from 'node:path';
import { DEFAULT_HISTORY_SHARDS, ensureCluster, stopCluster } from '../src/temporal/cluster';
import { resolveTemporalServer } from '../src/temporal/server-binary';

function intEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} is "${raw}": expected a whole number from ${min} to ${max}`);
  return n;
}

async function main() {
  const dataDir = path.resolve(process.env.TEMPORAL_CLUSTER_DIR || path.join(process.env.DATA_DIR || '.data', 'temporal-cluster'));
  if (process.argv.includes('--stop')) {
    process.stdout.write((await stopCluster(dataDir)) ? 'temporal-cluster: stopped\n' : 'temporal-cluster: no server of ours was running\n');
    return;
  }
  if (process.argv.includes('--build-only')) {
    const b = await resolveTemporalServer();
    process.stdout.write(`${path.dirname(b.server)}\n`);
    return;
  }
  const databaseUrl = process.env.DATABASE_URL?.trim();
  if (!databaseUrl) throw new Error('DATABASE_URL is missing: the cluster keeps its history and visibility in Postgres (e.g. postgres://postgres@127.0.0.1:5432/postgres)');
  const binaries = await resolveTemporalServer();
  const port = intEnv('TEMPORAL_CLUSTER_PORT', 7233, 1024, 65_000);
  const cluster = await ensureCluster({
    binaries,
    databaseUrl,
    historyDatabase: process.env.TEMPORAL_DB?.trim() || 'temporal',
    visibilityDatabase: process.env.TEMPORAL_VISIBILITY_DB?.trim() || 'temporal_visibility',
    dataDir,
    port,
    numHistoryShards: intEnv('TEMPORAL_HISTORY_SHARDS', DEFAULT_HISTORY_SHARDS, 1, 16_384),
    namespace: process.env.TEMPORAL_NAMESPACE?.trim() || 'default',
    detached: true,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(
    `temporal-cluster: ready — TEMPORAL_ADDRESS=${cluster.address}${cluster.alreadyRunning ? ' (already running)' : ''}, ${cluster.historyShards} history shards; log ${cluster.logFile}; stop with npm run temporal:cluster -- --stop\n`,
  );
}

main().catch((err: Error) => {
  process.stderr.write(`temporal-cluster: ${err.message}\n`);
  process.exit(2);
});
