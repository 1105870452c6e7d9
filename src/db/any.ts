import { sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { Db, DbOrTx } from './client';

/**
 * `column = any($1)`: the values as one array parameter of the column's own type, where `inArray` binds one parameter
 * per value. A bulk import's chunk looks up thousands of emails, phones and ids at once, and building and binding
 * that many parameters cost more than the lookup (measured: a fifth of the import's CPU at 500-row chunks).
 * Without values it is false, as `inArray` with an empty list is.
 */
export function anyOf(column: PgColumn, values: readonly (string | number)[]): SQL {
  if (values.length === 0) return sql`false`;
  return sql`${column} = any(${sql.param([...values])}::${sql.raw(column.getSQLType())}[])`;
}

/**
 * The rows of `column`'s table whose `column` equals one of `values` (and that meet `where`), found by one index
 * probe per value: a FROM item, `select … from ${probeRows(…)} as c`. With thousands of values `column = any($1)`
 * leaves the choice to the planner, which (cost of a random page 4× a sequential one) scans the whole table up to a
 * few hundred thousand rows: measured on 200,000 contacts, 2,000 CRM ids took 60–100 ms of parallel scan against
 * ~10 ms of probes, and a bulk import's chunk makes several such lookups. `offset 0` keeps each probe a subquery the
 * planner cannot turn back into a join over the whole table. Each matching row once per distinct value, with its
 * `row_ctid`: ordering by it gives the rows in the order a scan of the table (or of a non-unique index) finds them.
 *
 * Run it with JIT off (`withoutJit`, or `jitOff` in a transaction): the planner prices thousands of probes against a
 * table without fresh statistics above `jit_above_cost`, and compiling the plan then takes longer than running it
 * (measured: 1.0 s of JIT for 70 ms of probes, 2,000 keys into 60,000 contacts just loaded).
 */
export function probeRows(column: PgColumn, values: readonly (string | number)[], where?: SQL): SQL {
  const distinct = [...new Set(values)];
  return sql`(select t.* from unnest(${sql.param(distinct)}::${sql.raw(column.getSQLType())}[]) as k(v) cross join lateral (select ctid as row_ctid, * from ${column.table} where ${column} = k.v${where ? sql` and ${where}` : sql``} offset 0) as t)`;
}

/**
 * The rows with these ids, locked `for update` in id order (two writers locking overlapping rows lock them in the same
 * order), by one index probe per id (see `probeRows`): a FROM item, `select … from ${lockRowsById(…)} as c`.
 */
export function lockRowsById(id: PgColumn, ids: readonly string[]): SQL {
  const sorted = [...new Set(ids)].sort();
  return sql`(select t.* from unnest(${sql.param(sorted)}::${sql.raw(id.getSQLType())}[]) with ordinality as k(v, n) cross join lateral (select * from ${id.table} where ${id} = k.v offset 0 for update) as t order by k.n)`;
}

/** `set local jit = off`, for a transaction that probes (see `probeRows`). */
export async function jitOff(tx: DbOrTx): Promise<void> {
  await tx.execute(sql`set local jit = off`);
}

/** `fn` in a transaction with JIT off (see `probeRows`). */
export function withoutJit<T>(db: Db, fn: (tx: DbOrTx) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await jitOff(tx);
    return fn(tx);
  });
}
