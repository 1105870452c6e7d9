// `npm run db:migrate`: applies the pending migrations in drizzle/ to the configured database (DATABASE_URL, or the
// embedded PGlite under DATA_DIR) and exits. The API, the worker and `npm start` also migrate on start; this is for a
// deploy that migrates once before rolling out several replicas.
import { sql } from 'drizzle-orm';
import { loadConfig } from '../config';
import { createLogger } from '../logger';
import { openMigratedDatabase } from '../wiring/database';
import { runEntryPoint } from '../wiring/entry';

async function main() {
  const config = loadConfig();
  const database = await openMigratedDatabase({ config, log: createLogger(config.logLevel, 'itinera-migrate') });
  try {
    // node-postgres answers { rows }, PGlite the same shape through drizzle.
    const res = (await database.db.execute(sql`select count(*)::int as n from drizzle.__drizzle_migrations`)) as unknown as { rows: { n: number }[] };
    const n = res.rows[0]?.n ?? 0;
    process.stdout.write(`database ${database.location} (${database.kind}): ${n} migrations applied, schema current\n`);
  } finally {
    await database.close();
  }
}

runEntryPoint({ main, failure: 'migration failed' });
