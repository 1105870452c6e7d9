import { PgDialect } from 'drizzle-orm/pg-core';
import type { SQL } from 'drizzle-orm';
import type { Db } from './client';

const dialect = new PgDialect();

/**
 * Raw SQL as a named prepared statement, as drizzle's `.prepare(name)` makes one of a query builder: Postgres parses
 * and plans it once per connection instead of on every call (for a hot statement with CTEs, planning costs more than
 * running it). Values are given through `sql.placeholder(name)` and filled at each call. Answers the result rows
 * (node-postgres and PGlite alike).
 */
export function preparedSql<R>(db: Db, name: string, query: SQL): (values: Record<string, unknown>) => Promise<R[]> {
  const prepared = db._.session.prepareQuery(dialect.sqlToQuery(query), undefined, name, false);
  return async (values) => {
    const res = (await prepared.execute(values)) as { rows?: R[] } | R[];
    return Array.isArray(res) ? res : (res.rows ?? []);
  };
}
