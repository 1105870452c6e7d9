import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { ConfigError, type Config } from './config';
import { migrateDatabase, openDatabase, type DatabaseHandle } from './db/client';
import { resolveTemporalBinary } from './temporal/cli-binary';
import { startDevServer, waitForTemporal, type DevServer } from './temporal/dev-server';

export const PROJECT_ROOT = path.resolve(new URL('..', import.meta.url).pathname);

/** Opens the configured database (Postgres, or PGlite under DATA_DIR) and applies pending migrations. */
export async function openMigratedDatabase(config: Config, log: Logger): Promise<DatabaseHandle> {
  const database = await openDatabase({
    url: config.databaseUrl,
    pgliteDir: config.databaseUrl ? undefined : path.join(config.dataDir, 'pglite'),
    poolSize: config.databasePoolSize,
  });
  const started = Date.now();
  await migrateDatabase(database);
  log.info({ database: database.location, kind: database.kind, ms: Date.now() - started }, 'database ready');
  return database;
}

export type TemporalHandle = { address: string; client: Client; connection: Connection; devServer?: DevServer };

/** Connects to TEMPORAL_ADDRESS, or starts the embedded dev server (SQLite under DATA_DIR) when none is set. */
export async function connectTemporal(config: Config, log: Logger, opts: { allowDevServer: boolean }): Promise<TemporalHandle> {
  let address = config.temporal.address;
  let devServer: DevServer | undefined;
  if (!address) {
    if (!opts.allowDevServer) {
      throw new ConfigError('TEMPORAL_ADDRESS is missing: the standalone worker and API need a Temporal server (host:port).');
    }
    const bin = await resolveTemporalBinary({ log: (l) => log.info(l) });
    if (bin.kind === 'download') {
      throw new Error(
        'No Temporal CLI binary is available: install Go 1.25+ (itinera builds the CLI with it), put `temporal` on PATH, ' +
          'or set TEMPORAL_CLI_PATH.',
      );
    }
    devServer = await startDevServer({
      binary: bin.path,
      dataDir: config.dataDir,
      port: config.temporal.devPort,
      uiPort: config.temporal.uiPort,
      log: (l) => log.debug({ component: 'temporal' }, l),
    });
    address = devServer.address;
    log.info({ address, db: devServer.dbFile }, 'embedded Temporal dev server started');
  } else {
    await waitForTemporal(address, 30_000);
  }
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  return { address, client, connection, devServer };
}

/**
 * The secret that signs tracking links and tokens. Production must set SIGNING_SECRET; the embedded default keeps a
 * generated one under DATA_DIR so links sent before a restart still verify after it.
 */
export function resolveSigningSecrets(config: Config): string[] {
  return [resolveCurrentSecret(config), ...config.previousSigningSecrets];
}

function resolveCurrentSecret(config: Config): string {
  if (config.signingSecret) return config.signingSecret;
  if (config.nodeEnv === 'production') {
    throw new ConfigError('SIGNING_SECRET is missing: production needs a secret of at least 32 characters.');
  }
  const file = path.join(config.dataDir, 'signing-secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(config.dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}
