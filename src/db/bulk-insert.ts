/**
 * Many rows into one table in one statement with one parameter: the rows as a JSON array, read back by
 * `jsonb_populate_recordset` into the table's own row type (so every column is converted as the table declares it:
 * jsonb, text[], timestamptz). A multi-row `insert … values` with a bound parameter per cell costs several times more
 * to build and bind at a bulk import's chunk sizes (measured: 500 contacts, ~500 ms against ~80 ms).
 *
 * Rows are grouped by the columns they set, and each group lists only those: a column a row leaves out gets the
 * column's default, exactly as with `insert … values`.
 */
import { getTableColumns, getTableName, sql, type SQL } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import type { DbOrTx } from './client';

/** Rows per statement: bounded, so one statement never holds an unbounded document. */
const ROWS_PER_STATEMENT = 2000;

type ConflictTarget<T extends PgTable> = (keyof T['_']['columns'] & string) | true;

/**
 * Inserts `rows` (keys as the drizzle table names them, values as `insert … values` takes them) and returns the
 * `returning` column of the rows inserted (those `onConflictDoNothing` did not skip).
 */
export async function insertJsonRows<T extends PgTable>(
  tx: DbOrTx,
  table: T,
  rows: readonly Partial<T['$inferInsert']>[],
  /** `onConflictDoNothing`: a column whose unique index may skip a row, or `true` for any. */
  opts: { onConflictDoNothing?: ConflictTarget<T>; returning?: keyof T['_']['columns'] & string } = {},
): Promise<unknown[]> {
  const columns = getTableColumns(table) as Record<string, { name: string }>;
  const out: unknown[] = [];
  const returning: SQL = opts.returning ? sql` returning ${sql.identifier(columns[opts.returning]!.name)} as v` : sql``;
  await insertGroups(tx, table, rows, opts.onConflictDoNothing, returning, (rs) => {
    if (opts.returning) for (const r of rs) out.push(r.v);
  });
  return out;
}

/** `insertJsonRows` returning the whole rows inserted, as a drizzle `select` reads them. */
export async function insertJsonRowsReturning<T extends PgTable>(
  tx: DbOrTx,
  table: T,
  rows: readonly Partial<T['$inferInsert']>[],
  opts: { onConflictDoNothing?: ConflictTarget<T> } = {},
): Promise<T['$inferSelect'][]> {
  const out: T['$inferSelect'][] = [];
  await insertGroups(tx, table, rows, opts.onConflictDoNothing, sql` returning *`, (rs) => {
    for (const r of rs) out.push(fromDriverRow(table, r));
  });
  return out;
}

type DriverColumn = { name: string; mapFromDriverValue(v: unknown): unknown };
const columnsOf = new WeakMap<PgTable, [string, DriverColumn][]>();

/**
 * A row as the driver answers a raw `returning *` or `select *` (column names, driver values) turned into the row a
 * drizzle `select` gives (field names, values mapped by each column as drizzle maps them).
 */
export function fromDriverRow<T extends PgTable>(table: T, raw: Record<string, unknown>): T['$inferSelect'] {
  let cols = columnsOf.get(table);
  if (!cols) columnsOf.set(table, (cols = Object.entries(getTableColumns(table)) as [string, DriverColumn][]));
  const out: Record<string, unknown> = {};
  for (const [key, col] of cols) {
    const v = raw[col.name];
    out[key] = v === null || v === undefined ? null : col.mapFromDriverValue(v);
  }
  return out as T['$inferSelect'];
}

async function insertGroups<T extends PgTable>(
  tx: DbOrTx,
  table: T,
  rows: readonly Partial<T['$inferInsert']>[],
  target: ConflictTarget<T> | undefined,
  returning: SQL,
  onRows: (rows: Record<string, unknown>[]) => void,
): Promise<void> {
  const columns = getTableColumns(table) as Record<string, { name: string }>;
  const groups = new Map<string, Record<string, unknown>[]>();
  for (const row of rows as Record<string, unknown>[]) {
    const keys = Object.keys(row).filter((k) => row[k] !== undefined && columns[k]).sort();
    const key = keys.join(',');
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  const name = sql.identifier(getTableName(table));
  const conflict: SQL = target === true ? sql` on conflict do nothing` : target ? sql` on conflict (${sql.identifier(columns[target]!.name)}) do nothing` : sql``;
  for (const [key, group] of groups) {
    const keys = key.split(',').filter(Boolean);
    const list = sql.join(keys.map((k) => sql.identifier(columns[k]!.name)), sql`, `);
    const names = keys.map((k) => columns[k]!.name);
    for (let i = 0; i < group.length; i += ROWS_PER_STATEMENT) {
      const part = group.slice(i, i + ROWS_PER_STATEMENT).map((r) => {
        const o: Record<string, unknown> = {};
        for (let c = 0; c < keys.length; c++) o[names[c]!] = r[keys[c]!];
        return o;
      });
      // A Date becomes its ISO string (Date#toJSON), which the table's timestamp columns read back exactly.
      const json = JSON.stringify(part);
      // node-postgres and PGlite both answer with `rows`.
      const res = (await tx.execute(sql`insert into ${table} (${list}) select ${list} from jsonb_populate_recordset(null::${name}, ${json}::jsonb)${conflict}${returning}`)) as unknown as { rows: Record<string, unknown>[] };
      onRows(res.rows);
    }
  }
}
