import { describe, expect, it } from 'vitest';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { sql } from 'drizzle-orm';
import { erasedAddresses, erasedAddressSql, erasureSalts } from '../../src/contacts/erased-address';
import { createTestDatabase } from '../helpers/db';

// The email send computes the hash in SQL, the SMS send and the erasure in node: they must agree, on both databases.
const salts = erasureSalts(['first-signing-secret-0123456789abcdef', 'older-signing-secret-0123456789abcdef']);
const inSql = (address: string) => sql`select v from ${erasedAddressSql(JSON.stringify(salts), 'email', sql`${address}::text`)} as h(v)`;
const values = (r: unknown) => ((Array.isArray(r) ? r : (r as { rows: unknown[] }).rows) as { v: string }[]).map((x) => x.v);

describe('erased-address hashes', () => {
  it('are keyed per secret and channel, and never hold the address', () => {
    const [a, b] = erasedAddresses(salts, 'email', 'li.na@example.cn');
    expect(a).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(a).not.toBe(b);
    expect(erasedAddresses(salts, 'sms', 'li.na@example.cn')[0]).not.toBe(a);
    expect(erasedAddresses(erasureSalts(['another-secret-0123456789abcdef0123']), 'email', 'li.na@example.cn')[0]).not.toBe(a);
  });

  it('are computed alike by node, Postgres and PGlite', async () => {
    const address = '王.芳@example.cn';
    const expected = erasedAddresses(salts, 'email', address);
    const pg = await createTestDatabase();
    try {
      expect(values(await pg.db.execute(inSql(address)))).toEqual(expected);
    } finally {
      await pg.drop();
    }
    const lite = drizzle(new PGlite());
    expect(values(await lite.execute(inSql(address)))).toEqual(expected);
  });
});
