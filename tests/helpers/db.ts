import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrateDatabase, openDatabase, type DatabaseHandle } from '../../src/db/client';

/**
 * A fresh, migrated database for one test file (or benchmark): a new Postgres database when DATABASE_URL is set (CI),
 * otherwise an in-memory PGlite. Call `drop()` in afterAll.
 */
export async function createTestDatabase(opts: { poolSize?: number; prefix?: string } = {}): Promise<DatabaseHandle & { /** undefined for in-memory PGlite */ url: string | undefined; drop(): Promise<void> }> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const handle = await openDatabase({});
    await migrateDatabase(handle);
    return { ...handle, url: undefined, drop: () => handle.close() };
  }
  const name = `${opts.prefix ?? 'itinera_t'}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const testUrl = new URL(url);
  testUrl.pathname = `/${name}`;
  const handle = await openDatabase({ url: testUrl.toString(), poolSize: opts.poolSize ?? 5 });
  await migrateDatabase(handle);
  return {
    ...handle,
    url: testUrl.toString(),
    drop: async () => {
      await handle.close();
      const a = new pg.Client({ connectionString: url });
      await a.connect();
      await a.query(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}
