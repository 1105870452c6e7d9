// `npm start`: the whole product in one process — embedded Temporal dev server and PGlite unless configured otherwise.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Server } from 'node:http';
import { eq } from 'drizzle-orm';
import { createApiKey } from './api/auth';
import { loadConfig } from './config';
import { apiKeys } from './db/schema';
import type { Db } from './db/client';
import { publishJourneyDir } from './publishing/journeys';
import { loadTemplateCatalog } from './templates/catalog';
import { createLogger } from './logger';
import { JOURNEYS_DIR, TEMPLATES_DIR } from './paths';
import { createApi } from './wiring/api';
import { startConfiguredBounceMailbox } from './wiring/bounce-mailbox';
import { openMigratedDatabase } from './wiring/database';
import { runEntryPoint } from './wiring/entry';
import { createProcessWorker } from './wiring/process-worker';
import { resolveSigningSecrets } from './wiring/secrets';
import { connectTemporal } from './wiring/temporal';

async function devApiKey(db: Db, dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'dev-api-key');
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8').trim();
    const prefix = key.split('_')[1] ?? '';
    const [row] = await db.select().from(apiKeys).where(eq(apiKeys.prefix, prefix)).limit(1);
    if (row && !row.revokedAt) return key;
  }
  const created = await createApiKey(db, { name: 'development (printed at start)', role: 'admin', dev: true });
  writeFileSync(file, `${created.key}\n`, { mode: 0o600 });
  return created.key;
}

async function main() {
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  const started = Date.now();
  const secrets = resolveSigningSecrets({ config });
  const database = await openMigratedDatabase({ config, log });
  // The embedded default runs the journeys in journeys/: each start publishes a version when its content changed.
  const published = await publishJourneyDir(database.db, JOURNEYS_DIR, await loadTemplateCatalog(TEMPLATES_DIR));
  log.info({ journeys: published.map((p) => `${p.journeyId}@${p.version}${p.created ? ' (new)' : ''}`) }, 'journeys published');
  const temporal = await connectTemporal({ config, log, allowDevServer: true });
  const processWorker = await createProcessWorker({ config, log, database, temporal, secrets });
  const { worker, scoring, mailDescription } = processWorker;
  const workerRun = worker.run();

  const app = createApi({ config, log, database, temporal, scoring, secrets });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.port, config.host, () => resolve(s));
    s.on('error', reject);
  });
  const bounces = await startConfiguredBounceMailbox({ config, log, database, temporal, scoring, secrets });
  const key = config.nodeEnv === 'production' ? undefined : await devApiKey(database.db, config.dataDir);

  const base = `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${config.port}`;
  const lines = [
    '',
    `itinera is running (started in ${((Date.now() - started) / 1000).toFixed(1)}s)`,
    `  Console       ${base}/   (sign in with an API key)`,
    `  API           ${base}/v1`,
    `  API docs      ${base}/docs`,
    `  Health        ${base}/healthz`,
    `  Temporal      ${temporal.address}${temporal.devServer ? ' (embedded dev server)' : ''}`,
    ...(temporal.devServer?.uiUrl ? [`  Temporal UI   ${temporal.devServer.uiUrl}`] : []),
    `  Database      ${database.kind === 'pglite' ? `PGlite in ${database.location}` : database.location}`,
    `  Mail          ${mailDescription}`,
    ...(bounces ? [`  Bounces       smtp://${config.deliverability.bounceSmtp!.host}:${bounces.port} (the bounce mailbox)`] : []),
    ...(key ? [`  Dev API key   ${key}   (admin; stored in ${path.join(config.dataDir, 'dev-api-key')})`] : []),
    '',
    'Press Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(lines.join('\n'));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: API, then worker (in-flight activities finish), then Temporal and the database');
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await bounces?.close();
    // The SDK also reacts to SIGINT/SIGTERM by itself; only ask for a shutdown if it has not begun one.
    worker.shutdown();
    await workerRun.catch((err) => log.error({ err }, 'worker stopped with an error'));
    await processWorker.close();
    await temporal.close();
    await database.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

runEntryPoint({ main, failure: 'itinera failed to start' });
