import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { lockEmbeddedDatabase } from './embedded-lock';
import * as schema from './schema';

export type Schema = typeof schema;
/** Either driver: node-postgres against a server, or embedded PGlite. Queries take this first. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
/** A transaction is a `Db` too; functions that may run inside one accept either. */
export type DbOrTx = Db;

export type DatabaseHandle = {
  db: Db;
  /**
   * Its own two connections (Postgres), for the writes that close a window in which a crash leaves a side effect
   * unrecorded (the `sent` of an email the server has just accepted): they never wait behind the pool's other work.
   * PGlite runs one statement at a time whatever the lane: there it is `db`.
   */
  urgent: Db;
  kind: 'postgres' | 'pglite';
  /** Where it lives, with any password removed: safe to log. */
  location: string;
  ping(): Promise<void>;
  /**
   * Runs `fn` while this process holds the Postgres advisory lock named `name` (on a connection of its own), so that
   * replicas starting at once take turns: migrations, Schedule sync. PGlite serves one process (embedded-lock.ts), so
   * there it simply runs `fn`.
   */
  exclusive<T>(name: string, fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
};

/**
 * The Postgres major of the bundled PGlite (0.5.x runs Postgres 18). Postgres cannot open a data directory written by
 * another major, and PGlite only answers "failed to initialize": {@link openDatabase} checks first.
 * tests/db/embedded-version.test.ts holds this to what PGlite really runs.
 */
export const EMBEDDED_POSTGRES_MAJOR = 18;

export class EmbeddedDatabaseVersionError extends Error {
  constructor(
    readonly dir: string,
    readonly found: string,
  ) {
    super(
      `The embedded database in ${dir} was written by Postgres ${found}; this itinera embeds Postgres ${EMBEDDED_POSTGRES_MAJOR} ` +
        `(PGlite 0.5), which cannot open it. Nothing was changed. To keep the data, dump it with the PGlite that wrote it ` +
        `(PGlite 0.3 and pg_dump from @electric-sql/pglite-tools 0.2, as in https://pglite.dev/docs/upgrade) and load the dump ` +
        `into Postgres (DATABASE_URL); to start empty, move the directory aside. ` +
        `嵌入式数据库 ${dir} 由 Postgres ${found} 写入，而本版本内置 Postgres ${EMBEDDED_POSTGRES_MAJOR}（PGlite 0.5），无法打开；数据未被改动。` +
        `如需保留数据，请用写入它的 PGlite（0.3）及 @electric-sql/pglite-tools 0.2 的 pg_dump 导出，再导入 Postgres（DATABASE_URL）；` +
        `如从空库开始，请把该目录移走。`,
    );
    this.name = 'EmbeddedDatabaseVersionError';
  }
}

/** Throws {@link EmbeddedDatabaseVersionError} when `dir` holds a data directory of another Postgres major. */
function checkEmbeddedVersion(dir: string): void {
  let found: string;
  try {
    found = readFileSync(path.join(dir, 'PG_VERSION'), 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // new (empty) directory: initdb writes it
    throw err;
  }
  if (found !== String(EMBEDDED_POSTGRES_MAJOR)) throw new EmbeddedDatabaseVersionError(path.resolve(dir), found);
}

/** Advisory lock names (hashed to a key by Postgres): one per concern that replicas must not run at the same time. */
export const MIGRATION_LOCK = 'itinera.migrate';
export const SCHEDULE_SYNC_LOCK = 'itinera.schedule-sync';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../drizzle', import.meta.url));

export type OpenDatabaseOptions = {
  /** postgres:// URL; when absent an embedded PGlite database is used. */
  url?: string | undefined;
  /** Directory for the PGlite files; `undefined` keeps PGlite in memory. */
  pgliteDir?: string | undefined;
  /** @default 10 */
  poolSize?: number;
};

/** Connections of {@link DatabaseHandle.urgent}: its statements are short single-row updates, group-committed. */
const URGENT_POOL_SIZE = 2;

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}

export async function openDatabase(opts: OpenDatabaseOptions): Promise<DatabaseHandle> {
  if (opts.url) {
    const { default: pg } = await import('pg');
    const { drizzle } = await import('drizzle-orm/node-postgres');
    const newPool = (max: number) => {
      const p = new pg.Pool({ connectionString: opts.url, max });
      // An idle client losing its connection (e.g. Postgres restart) must not crash the process; the pool replaces it.
      p.on('error', () => undefined);
      // A checked-out client (inside a transaction) has no pool listener: its 'error' would be uncaught and kill the
      // worker or API on a Postgres restart. The query in flight is rejected anyway and the broken client is discarded on release.
      p.on('connect', (client) => client.on('error', () => undefined));
      return p;
    };
    const pool = newPool(opts.poolSize ?? 10);
    const db = drizzle(pool, { schema }) as unknown as Db;
    const urgentPool = newPool(URGENT_POOL_SIZE);
    return {
      db,
      urgent: drizzle(urgentPool, { schema }) as unknown as Db,
      kind: 'postgres',
      location: redactUrl(opts.url),
      ping: async () => {
        await pool.query('select 1');
      },
      exclusive: async (name, fn) => {
        // Its own client, outside the pools: `fn` may need every pooled connection while the lock is held.
        const client = new pg.Client({ connectionString: opts.url });
        client.on('error', () => undefined);
        await client.connect();
        try {
          await client.query('select pg_advisory_lock(hashtext($1))', [name]);
          // Ending the session releases the lock too, also when this process dies while holding it.
          return await fn();
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      close: async () => {
        await Promise.all([pool.end(), urgentPool.end()]);
      },
    };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  let lock: { release(): void } | undefined;
  if (opts.pgliteDir) {
    mkdirSync(opts.pgliteDir, { recursive: true });
    lock = lockEmbeddedDatabase(opts.pgliteDir);
    try {
      checkEmbeddedVersion(opts.pgliteDir);
    } catch (err) {
      lock.release();
      throw err;
    }
  }
  const client = opts.pgliteDir ? new PGlite(opts.pgliteDir) : new PGlite();
  try {
    await client.waitReady;
  } catch (err) {
    lock?.release();
    throw err;
  }
  const db = drizzle(client, { schema }) as unknown as Db;
  return {
    db,
    urgent: db,
    kind: 'pglite',
    location: opts.pgliteDir ? path.resolve(opts.pgliteDir) : 'memory',
    ping: async () => {
      await client.query('select 1');
    },
    exclusive: (_name, fn) => fn(),
    close: async () => {
      try {
        await client.close();
      } finally {
        lock?.release();
      }
    },
  };
}

/**
 * Applies the drizzle-kit migrations in `drizzle/`; safe to call on every start, also from several processes at once
 * (API and worker replicas): they take turns on an advisory lock, and all but the first find nothing left to do.
 */
export async function migrateDatabase(handle: DatabaseHandle): Promise<void> {
  if (handle.kind === 'postgres') {
    const { migrate } = await import('drizzle-orm/node-postgres/migrator');
    await handle.exclusive(MIGRATION_LOCK, () => migrate(handle.db as never, { migrationsFolder: MIGRATIONS_DIR }));
  } else {
    const { migrate } = await import('drizzle-orm/pglite/migrator');
    await migrate(handle.db as never, { migrationsFolder: MIGRATIONS_DIR });
  }
}

export async function dbHealthy(handle: DatabaseHandle): Promise<boolean> {
  try {
    await handle.db.execute(sql`select 1`);
    return true;
  } catch {
    return false;
  }
}
