import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { asc, eq, like, sql } from 'drizzle-orm';
import { contactAudit, contactImportRows, contactImports, contacts } from '../../src/db/schema';
import { csvLine } from '../../src/imports/csv';
import { runImportChunk, storeImport, type ImportOptions } from '../../src/imports/store';
import { createTestDatabase } from '../helpers/db';

const OPTIONS: ImportOptions = { format: 'csv', encoding: 'utf-8', country: 'CN', precedence: ['externalId', 'email', 'phone'], duplicates: 'merge', dryRun: false };
const LIMITS = { maxBytes: 1 << 20, maxCell: 1000, chunkSize: 50 };

function file(n: number): string {
  let out = csvLine(['crm_id', 'email']);
  for (let i = 0; i < n; i++) out += csvLine([`S${i}`, `s${i}@store.test`]);
  return out;
}

describe('import chunks (plan, write, checkpoint)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('a chunk that dies half-way and runs again writes each row once and counts it once', async () => {
    const imp = await storeImport(db.db, [Buffer.from(file(120))], { id: 'imp-crash', options: OPTIONS, sha256: 'x', bytes: 1 }, LIMITS);
    expect(imp).toMatchObject({ totalRows: 120, chunks: 3 });
    let seen = 0;
    // The heartbeat of row 30 is the worker dying: rows before it are written, the checkpoint is not.
    // One by one (`row`), so the death falls between two rows' writes; the batch's own death is in tests/imports/batch.test.ts.
    await expect(runImportChunk({ db: db.db }, 'imp-crash', () => {
      if (++seen === 30) throw new Error('worker killed');
    }, 'row')).rejects.toThrow('worker killed');
    const [mid] = await db.db.select().from(contactImports).where(eq(contactImports.id, 'imp-crash'));
    expect(mid).toMatchObject({ chunksDone: 0, rowsDone: 0, created: 0 });
    expect((await db.db.select({ n: sql<number>`count(*)::int` }).from(contacts))[0]!.n).toBeGreaterThan(0);

    // A live attempt elsewhere holds the chunk: this one waits (a retryable error) until that lease is gone.
    await db.db.update(contactImports).set({ lease: randomUUID(), leaseUntil: sql`now() + interval '1 minute'` }).where(eq(contactImports.id, 'imp-crash'));
    await expect(runImportChunk({ db: db.db }, 'imp-crash')).rejects.toThrow(/being written by another attempt/);
    await db.db.update(contactImports).set({ leaseUntil: sql`now() - interval '1 second'` }).where(eq(contactImports.id, 'imp-crash'));
    for (let guard = 0; guard < 10 && !(await runImportChunk({ db: db.db }, 'imp-crash')).done; guard++);
    const [end] = await db.db.select().from(contactImports).where(eq(contactImports.id, 'imp-crash'));
    expect(end).toMatchObject({ status: 'completed', chunksDone: 3, rowsDone: 120, created: 120, updated: 0, merged: 0, rejected: 0 });
    const written = await db.db.select({ externalId: contacts.externalId }).from(contacts).where(like(contacts.externalId, 'S%'));
    expect(written.length).toBe(120);
    // Created once: one `create` audit row per contact, the retry's write changed nothing.
    const creates = await db.db.select({ n: sql<number>`count(*)::int` }).from(contactAudit).where(eq(contactAudit.action, 'create'));
    expect(creates[0]!.n).toBe(120);
  });

  it('the in-file dedupe is the same when each chunk is planned by a process of its own', async () => {
    // Rows 61-150 repeat the emails of rows 1-60, within a chunk and across chunk boundaries; every 7th row has no CRM id.
    let csv = csvLine(['crm_id', 'email']);
    for (let i = 0; i < 150; i++) csv += csvLine([i % 7 === 0 ? '' : `D${i}`, `d${i % 60}@dedupe.test`]);
    const options = { ...OPTIONS, dryRun: true, duplicates: 'reject' as const };
    await storeImport(db.db, [Buffer.from(csv)], { id: 'imp-one', options, sha256: 'z', bytes: 1 }, LIMITS);
    await storeImport(db.db, [Buffer.from(csv)], { id: 'imp-each', options, sha256: 'z', bytes: 1 }, LIMITS);
    for (let guard = 0; guard < 10 && !(await runImportChunk({ db: db.db }, 'imp-one')).done; guard++);
    // A fresh copy of the module per chunk: nothing of the chunk before is kept in memory, as in another worker.
    for (let guard = 0; guard < 10; guard++) {
      vi.resetModules();
      const fresh = await import('../../src/imports/store');
      if ((await fresh.runImportChunk({ db: db.db }, 'imp-each')).done) break;
    }
    const rowsOf = (id: string) =>
      db.db.select({ row: contactImportRows.row, outcome: contactImportRows.outcome, column: contactImportRows.column, reason: contactImportRows.reason, keys: contactImportRows.keys }).from(contactImportRows).where(eq(contactImportRows.importId, id)).orderBy(asc(contactImportRows.row));
    const one = await rowsOf('imp-one');
    expect(one.length).toBe(150);
    expect(one.filter((r) => r.outcome === 'reject').length).toBe(90);
    expect(one[60]).toMatchObject({ outcome: 'reject', column: 'email', reason: 'duplicates row 1 (the same email)', keys: null });
    expect(one[149]).toMatchObject({ outcome: 'reject', reason: 'duplicates row 30 (the same email)' });
    expect(one[1]).toMatchObject({ outcome: 'create', keys: ['externalId:D1', 'email:d1@dedupe.test'] });
    expect(await rowsOf('imp-each')).toEqual(one);
    const counts = async (id: string) => (await db.db.select({ created: contactImports.created, merged: contactImports.merged, rejected: contactImports.rejected }).from(contactImports).where(eq(contactImports.id, id)))[0];
    expect(await counts('imp-each')).toEqual(await counts('imp-one'));
  });

  it('a repeated chunk after its checkpoint moved does nothing more', async () => {
    await storeImport(db.db, [Buffer.from(file(10))], { id: 'imp-again', options: { ...OPTIONS, dryRun: true }, sha256: 'y', bytes: 1 }, LIMITS);
    expect(await runImportChunk({ db: db.db }, 'imp-again')).toMatchObject({ done: true, rowsDone: 10 });
    expect(await runImportChunk({ db: db.db }, 'imp-again')).toMatchObject({ done: true, rowsDone: 10 });
    const [end] = await db.db.select().from(contactImports).where(eq(contactImports.id, 'imp-again'));
    // The 10 rows exist from the first test: a dry run counts them as updates and writes nothing.
    expect(end).toMatchObject({ rowsDone: 10, updated: 10, created: 0 });
  });
});
