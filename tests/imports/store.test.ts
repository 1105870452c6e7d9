import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, like, sql } from 'drizzle-orm';
import { contactAudit, contactImports, contacts } from '../../src/db/schema';
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

  it('a repeated chunk after its checkpoint moved does nothing more', async () => {
    await storeImport(db.db, [Buffer.from(file(10))], { id: 'imp-again', options: { ...OPTIONS, dryRun: true }, sha256: 'y', bytes: 1 }, LIMITS);
    expect(await runImportChunk({ db: db.db }, 'imp-again')).toMatchObject({ done: true, rowsDone: 10 });
    expect(await runImportChunk({ db: db.db }, 'imp-again')).toMatchObject({ done: true, rowsDone: 10 });
    const [end] = await db.db.select().from(contactImports).where(eq(contactImports.id, 'imp-again'));
    // The 10 rows exist from the first test: a dry run counts them as updates and writes nothing.
    expect(end).toMatchObject({ rowsDone: 10, updated: 10, created: 0 });
  });
});
