import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { CONTACT_TABLES } from '../../src/contacts/export';
import { createTestDatabase } from '../helpers/db';

/** Columns that hold a contact's id or one of their addresses: a table with one must be exported and erased. */
const CONTACT_COLUMNS = ['contact_id', 'email', 'phone', 'address', 'recipient', 'external_id'];

describe("the contact's rights cover every table", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('every table with a contact column is in CONTACT_TABLES (export and erase)', async () => {
    const res = await db.db.execute(sql`
      select distinct table_name from information_schema.columns
      where table_schema = 'public' and column_name in (${sql.join(CONTACT_COLUMNS.map((c) => sql`${c}`), sql`, `)}) order by 1`);
    const tables = ((Array.isArray(res) ? res : (res as { rows: unknown[] }).rows) as { table_name: string }[]).map((r) => r.table_name);
    expect(tables).toContain('messages');
    expect(tables.filter((t) => !(CONTACT_TABLES as readonly string[]).includes(t))).toEqual([]);
  });
});
