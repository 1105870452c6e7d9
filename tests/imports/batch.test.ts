import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asc, eq, like, sql } from 'drizzle-orm';
import { upsertContact } from '../../src/contacts/upsert';
import { contactAudit, contactImportRows, contactImports, contacts, events, scoreEvents } from '../../src/db/schema';
import { loadScoringModel } from '../../src/scoring/model';
import { SCORING_MODEL_FILE } from '../../src/paths';
import type { ScoringModel } from '../../src/scoring/model';
import { csvLine } from '../../src/imports/csv';
import type { ImportMapping } from '../../src/imports/mapping';
import { runImportChunk, storeImport, type ImportOptions } from '../../src/imports/store';
import { createTestDatabase } from '../helpers/db';

type TestDb = Awaited<ReturnType<typeof createTestDatabase>>;

const MAPPING: ImportMapping = {
  columns: {
    crm: 'externalId',
    email: { field: 'email', trim: true, lower: false },
    mobile: 'phone',
    name: 'firstName',
    city: { field: 'region', trim: true, lower: false, map: { 北京市: '北京' } },
    stage: 'lifecycleStage',
    tags: { field: 'tags', trim: true, lower: false, split: ';' },
    plan: 'attributes.plan',
    mail: { field: 'consent.email', trim: true, lower: false, map: { 是: 'opted_in', 否: 'opted_out' } },
    via: 'consent.source',
    when: 'consent.at',
    title: 'jobTitle',
    sector: 'industry',
  },
};
const OPTIONS: ImportOptions = { format: 'csv', encoding: 'utf-8', country: 'CN', precedence: ['externalId', 'email', 'phone'], duplicates: 'merge', dryRun: false, mapping: MAPPING };
const LIMITS = { maxBytes: 1 << 22, maxCell: 1000, chunkSize: 40 };
const HEADER = ['crm', 'email', 'mobile', 'name', 'city', 'stage', 'tags', 'plan', 'mail', 'via', 'when', 'title', 'sector'];

/** Every kind of row, spread over several chunks: creates with and without a CRM id, updates by each key, merges, rejects. */
function file(): string {
  let out = csvLine(HEADER);
  const row = (r: Partial<Record<(typeof HEADER)[number], string>>) => (out += csvLine(HEADER.map((h) => r[h] ?? '')));
  for (let i = 0; i < 150; i++) {
    switch (i % 15) {
      case 0: row({ crm: `N${i}`, email: `New${i}@Batch.test`, mobile: `1380013${String(8000 + i).padStart(4, '0')}`, name: `N${i}`, city: '北京市', tags: 'a;b', plan: 'pro', title: i % 2 ? 'CTO' : '财务经理', sector: '制造业' }); break;
      case 1: row({ email: `anon${i}@batch.test`, name: 'Anon' }); break; // no CRM id: a contact without one
      case 2: row({ crm: `OLD${i % 30}`, name: 'Renamed', title: 'Chief Financial Officer', sector: 'Retail' }); break; // update by CRM id (fit points: some cross a threshold)
      case 3: row({ email: `old${i % 45}@batch.test`, plan: 'enterprise' }); break; // update by email (a contact without CRM id gets none)
      case 4: row({ mobile: `139001390${String(i % 30).padStart(2, '0')}`, city: 'Shanghai' }); break; // update by phone
      case 5: row({ crm: `N${i - 5}`, tags: 'c' }); break; // the same CRM id as a row 5 earlier: the same chunk, one by one
      case 6: row({ crm: `C${i}`, email: `c${i}@batch.test`, mail: '是', via: 'webinar', when: '2026-11-30T08:00:00Z' }); break; // consent with source and time
      case 7: row({ crm: `C${i}`, email: `c${i}@batch.test`, mail: '是' }); break; // consent without source: rejected
      case 8: row({ crm: `X${i}`, email: 'not-an-email' }); break; // rejected by the schema
      case 9: row({ crm: `NEW${i}`, email: `old${i % 45}@batch.test` }); break; // a new CRM id whose email a contact has: created, the old one folded in
      case 10: row({ crm: `OLD${i % 30}`, email: `old${(i + 1) % 45}@batch.test` }); break; // CRM id and email of two contacts
      case 11: row({ crm: `OLD${(i + 3) % 30}`, mail: '否', via: 'crm', when: '2026-12-01T00:00:00Z' }); break; // consent withdrawn
      case 12: row({ crm: `N${i}`, stage: 'wrong-stage' }); break; // rejected
      case 13: row({ email: `late${i}@batch.test`, stage: 'customer', mobile: `1370013${String(7000 + i).padStart(4, '0')}` }); break;
      default: row({ crm: `OLD${i % 30}` }); break; // nothing to change
    }
  }
  return out;
}

async function seed(db: TestDb) {
  const deps = { db: db.db };
  for (let i = 0; i < 30; i++) await upsertContact(deps, `OLD${i}`, { email: `old${i}@batch.test`, phone: `139001390${String(i).padStart(2, '0')}`, firstName: `Old${i}`, consent: { email: 'opted_in' } }, { source: 'api', key: `seed-${i}`, actor: 'test' });
  // Close to the MQL threshold: the fit points of an update push some over it (lifecycle, lead.mql).
  await db.db.update(contacts).set({ score: 90 }).where(sql`${contacts.externalId} in ('OLD2', 'OLD17', 'OLD4')`);
  for (let i = 30; i < 45; i++) await upsertContact(deps, `tmp-${i}`, {}, { source: 'api', key: `seed-${i}`, actor: 'test' }).then(() => db.db.update(contacts).set({ externalId: null, email: `old${i}@batch.test` }).where(eq(contacts.externalId, `tmp-${i}`)));
}

/** The database's contacts, events, audit rows and import rows, with generated ids replaced by each contact's identity. */
async function snapshot(db: TestDb, importId: string) {
  const all = await db.db.select().from(contacts).orderBy(asc(contacts.createdAt));
  const seeded = new Map<string, string>();
  // The identity of a contact: its CRM id, else its email at the end (both stable across the two runs).
  const ident = new Map(all.map((c) => [c.id, c.externalId ?? `email:${c.email}|phone:${c.phone}`]));
  for (const c of all) seeded.set(c.id, ident.get(c.id)!);
  const name = (id: string | null) => (id ? (ident.get(id) ?? `?${id}`) : null);
  const swap = (s: string) => s.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (id) => name(id) ?? id);
  const people = all.map(({ id, createdAt: _c, updatedAt: _u, mergedInto, ...rest }) => ({ who: name(id), mergedInto: name(mergedInto), ...rest })).sort((a, b) => String(a.who).localeCompare(String(b.who)));
  const evs = (await db.db.select().from(events).where(like(events.id, `%import:${importId}:%`))).map((e) => ({ id: swap(e.id), type: e.type, contact: name(e.contactId), properties: e.properties, source: e.source })).sort((a, b) => a.id.localeCompare(b.id));
  const mergeEvents = (await db.db.select().from(events).where(sql`${events.properties}->>'source' = 'merge'`)).map((e) => ({ contact: name(e.contactId), properties: e.properties })).sort((a, b) => String(a.contact).localeCompare(String(b.contact)));
  const audit = (await db.db.select().from(contactAudit).where(eq(contactAudit.actor, `import:${importId}`))).map((a) => ({ contact: name(a.contactId), action: a.action, detail: JSON.parse(swap(JSON.stringify(a.detail))) as unknown })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  const rows = (await db.db.select().from(contactImportRows).where(eq(contactImportRows.importId, importId)).orderBy(asc(contactImportRows.row))).map((r) => ({ row: r.row, outcome: r.outcome, contact: name(r.contactId), column: r.column, reason: r.reason }));
  const scores = (await db.db.select().from(scoreEvents)).map((e) => ({ contact: name(e.contactId), key: swap(e.idempotencyKey ?? ''), delta: e.delta, scoreAfter: e.scoreAfter, rule: e.rule, source: e.source, reason: e.reason })).sort((a, b) => a.key.localeCompare(b.key));
  const lifecycle = (await db.db.select().from(contactAudit).where(eq(contactAudit.actor, 'scoring'))).map((a) => ({ contact: name(a.contactId), action: a.action, key: a.idempotencyKey ? swap(a.idempotencyKey) : null })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  const scoringEvents = (await db.db.select().from(events).where(sql`${events.properties}->>'source' = 'scoring'`)).map((e) => ({ id: swap(e.id), properties: e.properties })).sort((a, b) => a.id.localeCompare(b.id));
  const [imp] = await db.db.select({ created: contactImports.created, updated: contactImports.updated, merged: contactImports.merged, rejected: contactImports.rejected, rowsDone: contactImports.rowsDone, status: contactImports.status }).from(contactImports).where(eq(contactImports.id, importId));
  return { people, evs, mergeEvents, audit, rows, imp, scores, lifecycle, scoringEvents };
}

let scoring: ScoringModel;

async function runAll(db: TestDb, importId: string, mode: 'batch' | 'row', onRow?: () => void) {
  for (let guard = 0; guard < 100; guard++) if ((await runImportChunk({ db: db.db, scoring }, importId, onRow, mode)).done) return;
  throw new Error('did not finish');
}

describe('the batch write path writes exactly what the one-by-one path writes (Postgres)', () => {
  let byRow: TestDb;
  let byBatch: TestDb;
  let crashed: TestDb;
  beforeAll(async () => {
    [byRow, byBatch, crashed, scoring] = await Promise.all([createTestDatabase(), createTestDatabase(), createTestDatabase(), loadScoringModel(SCORING_MODEL_FILE)]);
    await Promise.all([seed(byRow), seed(byBatch), seed(crashed)]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([byRow?.drop(), byBatch?.drop(), crashed?.drop()]);
  });

  it('the same file gives the same contacts, outbox events, audit rows, row outcomes and counts', async () => {
    const data = Buffer.from(file());
    await storeImport(byRow.db, [data], { id: 'same', options: OPTIONS, sha256: 's', bytes: data.length }, LIMITS);
    await storeImport(byBatch.db, [data], { id: 'same', options: OPTIONS, sha256: 's', bytes: data.length }, LIMITS);
    await runAll(byRow, 'same', 'row');
    await runAll(byBatch, 'same', 'batch');
    const a = await snapshot(byRow, 'same');
    const b = await snapshot(byBatch, 'same');
    // Not an empty comparison: every kind of outcome happened.
    expect(a.imp).toMatchObject({ status: 'completed', rowsDone: 150 });
    for (const k of ['created', 'updated', 'merged', 'rejected'] as const) expect(a.imp![k], k).toBeGreaterThan(0);
    expect(a.evs.filter((e) => e.type === 'contact.unsubscribed').length).toBeGreaterThan(0);
    expect(a.mergeEvents.length).toBeGreaterThan(0);
    expect(b.imp).toEqual(a.imp);
    expect(b.rows).toEqual(a.rows);
    expect(b.people).toEqual(a.people);
    expect(b.evs).toEqual(a.evs);
    expect(b.mergeEvents).toEqual(a.mergeEvents);
    expect(b.audit).toEqual(a.audit);
    // Fit scoring, applied for all at once where nothing crosses a threshold and one by one where something does.
    expect(a.scores.length).toBeGreaterThan(30);
    expect(a.lifecycle.length).toBeGreaterThan(0);
    expect(b.scores).toEqual(a.scores);
    expect(b.lifecycle).toEqual(a.lifecycle);
    expect(b.scoringEvents).toEqual(a.scoringEvents);
  }, 120_000);

  it('a worker dying after a batch was written and before its checkpoint: the retry writes nothing twice', async () => {
    const data = Buffer.from(file());
    await storeImport(crashed.db, [data], { id: 'same', options: OPTIONS, sha256: 's', bytes: data.length }, LIMITS);
    let beats = 0;
    // The first heartbeat comes right after the chunk's batch committed: the process dies there.
    await expect(runImportChunk({ db: crashed.db, scoring }, 'same', () => {
      if (++beats === 1) throw new Error('worker killed');
    })).rejects.toThrow('worker killed');
    const [mid] = await crashed.db.select().from(contactImports).where(eq(contactImports.id, 'same'));
    expect(mid).toMatchObject({ chunksDone: 0, rowsDone: 0 });
    expect((await crashed.db.select({ n: sql<number>`count(*)::int` }).from(contacts).where(like(contacts.externalId, 'N%')))[0]!.n).toBeGreaterThan(0);
    await runAll(crashed, 'same', 'batch');
    // Converges on exactly what one uninterrupted run writes.
    const reference = await snapshot(byRow, 'same');
    const after = await snapshot(crashed, 'same');
    expect(after.imp).toEqual(reference.imp);
    expect(after.rows).toEqual(reference.rows);
    expect(after.people).toEqual(reference.people);
    expect(after.evs).toEqual(reference.evs);
    expect(after.audit).toEqual(reference.audit);
    expect(after.scores).toEqual(reference.scores);
  }, 120_000);
});
