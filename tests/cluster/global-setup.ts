import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { ensureCluster, type RunningCluster } from '../../src/temporal/cluster';
import { resolveTemporalServer } from '../../src/temporal/server-binary';
import { ensureWorkflowBundle } from '../../src/temporal/workflow-bundle';
import { postgresBinDir, startPgCluster, type PgCluster } from '../chaos/harness/postgres';
import { freeClusterPort } from './ports';

declare module 'vitest' {
  export interface ProvidedContext {
    /** host:port of the Temporal server (Postgres persistence, SQL visibility) the cluster project runs on. */
    clusterAddress: string;
    /** The Postgres the cluster keeps its history in; test files create their own itinera databases on it. */
    clusterDatabaseUrl: string;
    /** Its history and visibility database names. */
    clusterDatabases: [string, string];
  }
}

/** Databases this run made for Temporal (history and visibility), dropped at teardown. */
let made: { url: string; names: string[] } | undefined;
let cluster: RunningCluster | undefined;
let ownPg: PgCluster | undefined;
let dataDir: string | undefined;

/**
 * The `cluster` project's Temporal: the real server built by `npm run temporal:cluster`'s code (src/temporal/cluster.ts)
 * on fresh `temporal`/`temporal_visibility` databases of a private Postgres (DATABASE_URL's server where none can
 * run), on free ports, stopped and dropped after the run.
 */
export async function setup(project: TestProject) {
  // A private Postgres when the server binaries are installed (as the chaos stack does): the cluster's connections
  // (four services, each with its pools) then never count against the max_connections of the server the rest of the
  // suite shares. DATABASE_URL only where no private one can run.
  let databaseUrl = process.env.DATABASE_URL;
  if (postgresBinDir() || !databaseUrl) {
    ownPg = await startPgCluster();
    databaseUrl = ownPg.url;
  }
  const suffix = randomBytes(4).toString('hex');
  const names = [`itinera_cluster_${suffix}_temporal`, `itinera_cluster_${suffix}_visibility`];
  made = { url: databaseUrl, names };
  dataDir = mkdtempSync(path.join(tmpdir(), 'itinera-cluster-'));
  const [binaries] = await Promise.all([resolveTemporalServer(), ensureWorkflowBundle()]);
  cluster = await ensureCluster({
    binaries,
    databaseUrl,
    historyDatabase: names[0],
    visibilityDatabase: names[1],
    dataDir,
    port: await freeClusterPort(),
    // Four services each open these pools; the shared Postgres also serves the rest of the suite.
    maxConns: { history: 6, visibility: 3 },
    log: (line) => process.stdout.write(`${line}\n`),
  });
  project.provide('clusterAddress', cluster.address);
  project.provide('clusterDatabaseUrl', databaseUrl);
  project.provide('clusterDatabases', [names[0]!, names[1]!]);
}

export async function teardown() {
  await cluster?.stop();
  if (made) {
    const c = new pg.Client({ connectionString: made.url });
    await c.connect();
    try {
      for (const name of made.names) await c.query(`drop database if exists ${name} with (force)`);
    } finally {
      await c.end();
    }
  }
  await ownPg?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
