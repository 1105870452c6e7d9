import path from 'node:path';
import type { Logger } from 'pino';
import { ConfigError, type Config } from '../config';
import { EmbeddedDatabaseVersionError, migrateDatabase, openDatabase, type DatabaseHandle } from '../db/client';
import { EmbeddedDatabaseBusyError } from '../db/embedded-lock';

/** Opens the configured database (Postgres, or PGlite under DATA_DIR) and applies pending migrations. */
export async function openMigratedDatabase(opts: { config: Config; log: Logger }): Promise<DatabaseHandle> {
  const { config, log } = opts;
  let database: DatabaseHandle;
  try {
    database = await openDatabase({
      url: config.databaseUrl,
      pgliteDir: config.databaseUrl ? undefined : path.join(config.dataDir, 'pglite'),
      poolSize: config.databasePoolSize,
    });
  } catch (err) {
    // Another process has the embedded database, or an older PGlite wrote it: a plain sentence and exit 1, like a
    // configuration mistake.
    if (err instanceof EmbeddedDatabaseBusyError || err instanceof EmbeddedDatabaseVersionError) throw new ConfigError(err.message);
    throw err;
  }
  const started = Date.now();
  await migrateDatabase(database);
  log.info({ database: database.location, kind: database.kind, ms: Date.now() - started }, 'database ready');
  return database;
}

/** The standalone processes share one database with others, which PGlite cannot do: they need DATABASE_URL. */
export function requirePostgres(opts: { config: Config; process: 'worker' | 'API' }): void {
  if (!opts.config.databaseUrl) {
    throw new ConfigError(
      `DATABASE_URL is missing: the standalone ${opts.process} needs Postgres (PGlite serves one process only; use \`npm start\`).`,
    );
  }
}
