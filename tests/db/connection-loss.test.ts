import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { sql } from 'drizzle-orm';
import { openDatabase, type DatabaseHandle } from '../../src/db/client';
import { startPgCluster, type PgCluster } from '../chaos/harness/postgres';

// Found by the chaos suite: Postgres restarting while a worker was inside a transaction killed the worker process,
// because node-postgres emits 'error' on a checked-out client and the pool only listens on idle ones.
describe('a Postgres connection lost in the middle of a transaction', () => {
  let cluster: PgCluster | undefined;
  let url: string;
  let handle: DatabaseHandle;
  beforeAll(async () => {
    // The shared server in CI; a private cluster when none is configured (PGlite has no connections to lose).
    if (!process.env.DATABASE_URL) cluster = await startPgCluster();
    url = process.env.DATABASE_URL ?? cluster!.url;
    handle = await openDatabase({ url, poolSize: 2 });
  });
  afterAll(async () => {
    await handle?.close();
    await cluster?.stop();
  });

  it('fails that transaction only: no uncaught error, and the pool serves the next query', async () => {
    const uncaught: unknown[] = [];
    const record = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', record);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const tx = handle.db.transaction(async (t) => {
        const r = await t.execute(sql`select pg_backend_pid() as pid`);
        const pid = (r as unknown as { rows: { pid: number }[] }).rows[0]!.pid;
        // What a Postgres restart does to every backend.
        await admin.query('select pg_terminate_backend($1)', [pid]);
        await t.execute(sql`select pg_sleep(0.5)`);
      });
      await expect(tx).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 300));
      expect(uncaught).toEqual([]);
      await handle.ping();
    } finally {
      process.off('uncaughtException', record);
      await admin.end();
    }
  });
});
