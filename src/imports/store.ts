/**
 * Contact imports in the database: storing an upload as chunks of records, and the per-chunk pass the workflow drives —
 * plan (clean, dedupe within the file and against contacts, classify; stored once per row), write (through the contact
 * pipeline, keyed by import and row so a retry converges), count (with the checkpoint, in one transaction). A dry run
 * plans and counts and writes no contact. API, activity and tests call these; none of them holds the rules twice.
 */
import { randomUUID } from 'node:crypto';
import { and, asc, eq, gte, inArray, isNotNull, isNull, lt, lte, or, sql } from 'drizzle-orm';
import type { Db, DbOrTx } from '../db/client';
import { anyOf, probeRows, withoutJit } from '../db/any';
import { insertJsonRows } from '../db/bulk-insert';
import { contactImportChunks, contactImportRows, contactImports, contacts } from '../db/schema';
import { upsertContactAt, type ContactTarget, type UpsertDeps } from '../contacts/upsert';
import { upsertContactsBatch, type BatchOutcome, type BatchWrite } from '../contacts/upsert-batch';
import { ValidationError } from '../errors';
import { csvExportLine } from './csv';
import { defaultMapping, ImportMapping, mappingIssues } from './mapping';
import { readRecords, type EncodingChoice, type ImportEncoding, type ImportFormat, type RawRecord } from './records';
import { cleanRow, rowKeys, type CleanRow, type MatchKey, type RejectedRow } from './rows';
import { KeyIndex } from './key-index';

export const RowOutcome = { Create: 'create', Update: 'update', Merge: 'merge', Reject: 'reject' } as const;
export type RowOutcome = (typeof RowOutcome)[keyof typeof RowOutcome];

export type ImportOptions = {
  format: ImportFormat;
  /** `auto`: UTF-8, or GBK when the file is not UTF-8 (src/imports/records.ts); the import stores the one used. */
  encoding: EncodingChoice;
  /** CSV only. @default ',' */
  delimiter?: string;
  mapping?: ImportMapping;
  /** Region of national phone numbers and short region codes. @default CN */
  country: string;
  /** Which key picks the contact a row updates when they point at different contacts. @default externalId, email, phone */
  precedence: MatchKey[];
  /** A row sharing a key with an earlier row: merged into the same contact (as PUT would), or rejected. @default merge */
  duplicates: 'merge' | 'reject';
  dryRun: boolean;
  /** Once written, enrol the contacts this import wrote into this journey version (not for a dry run). */
  enrol?: { journeyId: string; version: number };
};

type ImportRow = typeof contactImports.$inferSelect;
type StoredOptions = Omit<ImportOptions, 'mapping' | 'dryRun' | 'encoding'> & { mapping: ImportMapping; encoding: ImportEncoding };

/** Limits of an upload: bytes and characters per cell. */
export type ImportLimits = { maxBytes: number; maxCell: number; chunkSize: number };

/**
 * Stores an upload (already bounded and hashed by the caller) as an import: header, mapping checked against it, then
 * records in chunks, in one transaction — a refused or broken upload leaves nothing behind.
 * @throws ValidationError naming the mapping field or option that does not fit the file
 */
export async function storeImport(
  db: Db,
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  meta: { id: string; options: ImportOptions; fileName?: string; sha256: string; bytes: number; createdBy?: string },
  limits: ImportLimits,
): Promise<ImportRow> {
  const { options } = meta;
  return db.transaction(async (tx) => {
    let columns: string[] | null = null;
    let mapping: ImportMapping | undefined = options.mapping;
    let pending: RawRecord[] = [];
    let seq = 0;
    let total = 0;
    let headerRead = options.format === 'jsonl';
    let sampled = 0;
    const sampledKeys = new Set<string>();
    const [row] = await tx
      .insert(contactImports)
      .values({ id: meta.id, dryRun: options.dryRun, format: options.format, options: {}, sha256: meta.sha256, bytes: meta.bytes, fileName: meta.fileName ?? null, totalRows: 0, chunkSize: limits.chunkSize, chunks: 0, createdBy: meta.createdBy ?? null })
      .returning();
    const flush = async (all: boolean) => {
      while (pending.length >= limits.chunkSize || (all && pending.length > 0)) {
        const records = pending.slice(0, limits.chunkSize);
        pending = pending.slice(limits.chunkSize);
        await tx.insert(contactImportChunks).values({ importId: meta.id, seq: seq++, records });
      }
    };
    const encoding = await readRecords(source, { format: options.format, encoding: options.encoding, ...(options.delimiter ? { delimiter: options.delimiter } : {}), maxCell: limits.maxCell }, async (records) => {
      let rs = records;
      if (!headerRead) {
        const header = rs[0]!;
        rs = rs.slice(1);
        headerRead = true;
        if (!('f' in header) || header.e) throw new ValidationError('The file is invalid.', [{ path: 'body', message: `the header row cannot be read${header.e ? `: ${header.e}` : ''}` }]);
        columns = header.f.map((c) => c.replace(/^[\s\u3000\uFEFF]+|[\s\u3000\uFEFF]+$/g, ''));
        const dup = columns.find((c, i) => columns!.indexOf(c) !== i);
        if (dup !== undefined) throw new ValidationError('The file is invalid.', [{ path: 'body', message: `the header names column "${dup}" twice` }]);
        mapping ??= defaultMapping(columns);
        const issues = mappingIssues(mapping, columns);
        if (issues.length) throw new ValidationError('The mapping does not fit the file; see errors for each field.', issues);
      }
      // JSON Lines without a mapping: the keys of its first objects name the columns the default mapping reads.
      if (options.format === 'jsonl' && !mapping) {
        for (const r of rs) {
          if (sampled >= 100 || !('l' in r)) break;
          try {
            const v = JSON.parse(r.l) as unknown;
            if (v && typeof v === 'object' && !Array.isArray(v)) for (const k of Object.keys(v)) sampledKeys.add(k);
          } catch {
            // a line that is not JSON is that row's reject, later
          }
          sampled++;
        }
      }
      total += rs.length;
      pending.push(...rs);
      await flush(false);
    });
    if (!headerRead) throw new ValidationError('The file is invalid.', [{ path: 'body', message: 'the file is empty: a CSV file needs a header row' }]);
    await flush(true);
    if (options.format === 'jsonl') {
      mapping ??= defaultMapping([...sampledKeys]);
      const issues = mappingIssues(mapping, undefined);
      if (issues.length) throw new ValidationError('The mapping does not fit the file; see errors for each field.', issues);
    }
    const stored: StoredOptions = { ...(options.enrol ? { enrol: options.enrol } : {}), format: options.format, encoding, country: options.country, precedence: options.precedence, duplicates: options.duplicates, mapping: mapping!, ...(options.delimiter ? { delimiter: options.delimiter } : {}) };
    const [done] = await tx
      .update(contactImports)
      .set({ options: stored as unknown as Record<string, unknown>, columns, totalRows: total, chunks: seq, ...(total === 0 ? { status: 'completed', completedAt: sql`now()` } : {}) })
      .where(eq(contactImports.id, row!.id))
      .returning();
    return done!;
  });
}

type Planned = { row: number; outcome: RowOutcome; column: string | null; reason: string | null; keys: string[] };

/** Live contacts by CRM id (a merged CRM id leads to its survivor), email and phone. */
async function matchContacts(db: Db, externalIds: string[], emails: string[], phones: string[]) {
  const byExt = new Map<string, { id: string; externalId: string | null }>();
  const byEmail = new Map<string, { id: string; externalId: string | null }[]>();
  const byPhone = new Map<string, { id: string; externalId: string | null }[]>();
  // One index probe per key (probeRows), each contact once (union), in the order a scan of the table finds them (the
  // first contact of an email or phone is the one a row goes to, as it was when this was one scan).
  const live = sql`${contacts.mergedInto} is null`;
  const probes = [
    ...(externalIds.length ? [probeRows(contacts.externalId, externalIds)] : []),
    ...(emails.length ? [probeRows(contacts.email, emails, live)] : []),
    ...(phones.length ? [probeRows(contacts.phone, phones, live)] : []),
  ];
  if (!probes.length) return { byExt, byEmail, byPhone };
  const found = (await withoutJit(db, (tx) => tx.execute(sql`${sql.join(probes.map((p) => sql`select c.row_ctid, c.id, c.external_id, c.email, c.phone, c.merged_into from ${p} as c`), sql` union `)} order by 1`))) as unknown as {
    rows: { id: string; external_id: string | null; email: string | null; phone: string | null; merged_into: string | null }[];
  };
  const rows = found.rows.map((r) => ({ id: r.id, externalId: r.external_id, email: r.email, phone: r.phone, mergedInto: r.merged_into }));
  // A merged CRM id leads to its survivor, however many merges deep.
  const known = new Map<string, { id: string; externalId: string | null; mergedInto: string | null }>(rows.map((r) => [r.id, r]));
  for (let hop = 0; hop < 10; hop++) {
    const missing = [...new Set([...known.values()].filter((r) => r.mergedInto && !known.has(r.mergedInto)).map((r) => r.mergedInto!))];
    if (!missing.length) break;
    for (const g of await db.select({ id: contacts.id, externalId: contacts.externalId, mergedInto: contacts.mergedInto }).from(contacts).where(anyOf(contacts.id, missing))) known.set(g.id, g);
  }
  const follow = (id: string) => {
    let r = known.get(id);
    for (let hop = 0; r?.mergedInto && hop < 11; hop++) r = known.get(r.mergedInto);
    return r && !r.mergedInto ? r : undefined;
  };
  const wanted = { ext: new Set(externalIds), email: new Set(emails), phone: new Set(phones) };
  const add = (m: Map<string, { id: string; externalId: string | null }[]>, k: string, r: { id: string; externalId: string | null }) => {
    const l = m.get(k);
    if (l) l.push(r);
    else m.set(k, [r]);
  };
  for (const r of rows) {
    if (r.externalId && wanted.ext.has(r.externalId)) {
      const live = follow(r.id);
      if (live) byExt.set(r.externalId, { id: live.id, externalId: live.externalId });
    }
    if (!r.mergedInto && r.email && wanted.email.has(r.email)) add(byEmail, r.email, r);
    if (!r.mergedInto && r.phone && wanted.phone.has(r.phone)) add(byPhone, r.phone, r);
  }
  return { byExt, byEmail, byPhone };
}

type Matches = Awaited<ReturnType<typeof matchContacts>>;

/** The contacts a row matches, by key in precedence order, and where the write goes (or why it cannot). */
function resolveTarget(row: CleanRow, precedence: readonly MatchKey[], m: Matches): { target: ContactTarget; matched: Set<string> } | { reject: string; column: string | null } {
  const found: Partial<Record<MatchKey, { id: string; externalId: string | null }[]>> = {
    externalId: row.externalId !== undefined && m.byExt.get(row.externalId) ? [m.byExt.get(row.externalId)!] : [],
    email: row.email ? (m.byEmail.get(row.email) ?? []) : [],
    phone: row.phone ? (m.byPhone.get(row.phone) ?? []) : [],
  };
  const matched = new Set(Object.values(found).flatMap((l) => l!.map((c) => c.id)));
  // A CRM id ranked first is PUT /v1/contacts/{crmId}: that contact (or a new one) takes the row and folds the others in.
  if (row.externalId !== undefined && precedence[0] === 'externalId') return { target: { externalId: row.externalId }, matched };
  const first = precedence.map((k) => ({ k, c: found[k]![0] })).find((x) => x.c);
  if (!first) return { target: row.externalId !== undefined ? { externalId: row.externalId } : { create: true }, matched };
  const t = first.c!;
  if (row.externalId !== undefined) {
    const byExt = found.externalId![0];
    if (byExt && byExt.id !== t.id) return { reject: `CRM id "${row.externalId}" belongs to another contact than the one this row's ${first.k} matches`, column: row.columnOf.externalId ?? null };
    if (t.externalId !== null && t.externalId !== row.externalId) return { reject: `the contact this row's ${first.k} matches has CRM id "${t.externalId}", not "${row.externalId}"`, column: row.columnOf.externalId ?? null };
  }
  if (t.externalId !== null) return { target: { externalId: t.externalId }, matched };
  return { target: { contactId: t.id, ...(row.externalId !== undefined ? { externalId: row.externalId } : {}) }, matched };
}

const columnOfKey = (row: CleanRow, kind: MatchKey) => row.columnOf[kind] ?? null;

/**
 * Plans a chunk's rows (see the module comment); rows are numbered from `firstRow`. `before` holds the fingerprints of
 * the keys the file's earlier rows registered; this chunk's own registrations are returned in each row's `keys`, not
 * added to it.
 */
async function planChunk(db: Db, imp: ImportRow, records: RawRecord[], firstRow: number, cleaned: (CleanRow | RejectedRow)[], before: KeyIndex): Promise<{ plan: Planned[]; matches: Matches }> {
  const opts = imp.options as unknown as StoredOptions;
  const clean = cleaned.filter((c): c is CleanRow => c.ok);
  // Earlier rows with a key's fingerprint, confirmed against the keys stored with them; and the contacts the rows
  // match: two independent reads, side by side.
  const candidates = new Map<string, number[]>();
  const confirm = new Set<number>();
  for (const c of clean) {
    for (const { key } of rowKeys(c, opts.precedence)) {
      if (candidates.has(key)) continue;
      const rows = before.candidates(key);
      candidates.set(key, rows);
      for (const r of rows) confirm.add(r);
    }
  }
  const [stored, m] = await Promise.all([
    confirm.size
      ? db.select({ row: contactImportRows.row, keys: contactImportRows.keys }).from(contactImportRows).where(and(eq(contactImportRows.importId, imp.id), anyOf(contactImportRows.row, [...confirm])))
      : Promise.resolve([]),
    matchContacts(db, [...new Set(clean.flatMap((c) => (c.externalId !== undefined ? [c.externalId] : [])))], [...new Set(clean.flatMap((c) => (c.email ? [c.email] : [])))], [...new Set(clean.flatMap((c) => (c.phone ? [c.phone] : [])))]),
  ]);
  const keysOf = new Map(stored.map((r) => [r.row, new Set(r.keys ?? [])]));
  const mine = new Map<string, number>();
  const earlierRow = (key: string) => candidates.get(key)?.find((r) => keysOf.get(r)?.has(key)) ?? mine.get(key);
  const plan = cleaned.map((c, i): Planned => {
    const row = firstRow + i;
    if (!c.ok) return { row, outcome: RowOutcome.Reject, column: c.column, reason: c.reason, keys: [] };
    const keys = rowKeys(c, opts.precedence);
    const dup = keys.map((k) => ({ ...k, row: earlierRow(k.key) })).find((k) => k.row !== undefined && k.row < row);
    const register = () => keys.filter((k) => earlierRow(k.key) === undefined).map((k) => (mine.set(k.key, row), k.key));
    if (dup) {
      if (opts.duplicates === 'reject') return { row, outcome: RowOutcome.Reject, column: columnOfKey(c, dup.kind), reason: `duplicates row ${dup.row} (the same ${dup.kind})`, keys: [] };
      return { row, outcome: RowOutcome.Merge, column: null, reason: null, keys: register() };
    }
    const r = resolveTarget(c, opts.precedence, m);
    if ('reject' in r) return { row, outcome: RowOutcome.Reject, column: r.column, reason: r.reject, keys: [] };
    // A new CRM id whose email or phone a contact already has: PUT creates the contact and folds that one in.
    const newCrmId = c.externalId !== undefined && opts.precedence[0] === 'externalId' && !m.byExt.has(c.externalId);
    const outcome = r.matched.size === 0 ? RowOutcome.Create : r.matched.size > 1 || newCrmId ? RowOutcome.Merge : RowOutcome.Update;
    return { row, outcome, column: null, reason: null, keys: register() };
  });
  return { plan, matches: m };
}

/** How long a chunk's attempt holds it without renewing (renewed every quarter of it while rows are written). */
const LEASE_SECONDS = 60;

/** Rows of a chunk written at once: enough to hide round trips, few enough to leave connections to the API. */
const WRITE_CONCURRENCY = 8;

/** Runs `fn` over `items`, `limit` at a time; after a failure takes no more, and throws it once every write in flight has settled. */
async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { err: unknown } | undefined;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (!failed && next < items.length) {
        try {
          await fn(items[next++]!);
        } catch (err) {
          failed ??= { err };
        }
      }
    }),
  );
  if (failed) throw failed.err;
}

/** A chunk's records, each cleaned (`cleanRow`): pure given the import's stored columns and options. */
type ReadChunk = { records: RawRecord[]; cleaned: (CleanRow | RejectedRow)[] };

/** Rows cleaned between two turns of the event loop, so reading ahead leaves room to the chunk being written. */
const CLEAN_SLICE = 250;

async function readChunk(db: Db, imp: ImportRow, seq: number): Promise<ReadChunk> {
  const [chunk] = await db.select().from(contactImportChunks).where(and(eq(contactImportChunks.importId, imp.id), eq(contactImportChunks.seq, seq)));
  const records = chunk!.records as RawRecord[];
  const opts = imp.options as unknown as StoredOptions;
  const clean = { columns: imp.columns, mapping: opts.mapping, country: opts.country };
  const cleaned: (CleanRow | RejectedRow)[] = [];
  for (let i = 0; i < records.length; i += CLEAN_SLICE) {
    if (i > 0) await new Promise((r) => setImmediate(r));
    for (const r of records.slice(i, i + CLEAN_SLICE)) cleaned.push(cleanRow(r, clean));
  }
  return { records, cleaned };
}

/**
 * The next chunk of each import this process is writing, read and cleaned while the current one is written (cleaning
 * is most of a chunk's own CPU, and the database's turn is the process's idle time). Taken by the next attempt in
 * this process; any other process reads the chunk itself. Chunks are immutable once stored, so what was read ahead is
 * what a fresh read would give.
 */
const aheadOf = new Map<string, { seq: number; read: Promise<ReadChunk> }>();

function readAhead(db: Db, imp: ImportRow, seq: number): void {
  const read = readChunk(db, imp, seq);
  read.catch(() => undefined); // a failed read ahead is read again by the attempt that needs it
  if (aheadOf.size >= 16) aheadOf.clear();
  aheadOf.set(imp.id, { seq, read });
}

/** The chunk read ahead by this process if it was, else read now. */
function readChunkOnce(db: Db, imp: ImportRow, seq: number): Promise<ReadChunk> {
  const a = aheadOf.get(imp.id);
  aheadOf.delete(imp.id);
  return a?.seq === seq ? a.read.catch(() => readChunk(db, imp, seq)) : readChunk(db, imp, seq);
}

/**
 * The in-file dedupe of each import this process is writing: the keys the rows before `upTo` registered, carried
 * from one chunk to the next so a chunk's plan reads no keys from the database. Built again from the rows' stored keys
 * when this process did not plan the chunk before (a resumed import, a chunk another worker wrote); moved on only by
 * the attempt whose checkpoint moved, so it never holds a plan that was not committed.
 */
const dedupeOf = new Map<string, { upTo: number; index: KeyIndex }>();

/** Imports whose dedupe a process keeps (each ~50 MiB at 1,000,000 rows); the least recently used goes first. */
const DEDUPE_IMPORTS = 4;

/** Rows read per statement when the dedupe is built from the stored keys. */
const REBUILD_ROWS = 50_000;

/** The keys registered by the rows before `firstRow`. */
async function dedupeBefore(db: Db, importId: string, firstRow: number): Promise<KeyIndex> {
  const kept = dedupeOf.get(importId);
  dedupeOf.delete(importId);
  if (kept?.upTo === firstRow) {
    dedupeOf.set(importId, kept);
    return kept.index;
  }
  const index = new KeyIndex();
  for (let from = 1; from < firstRow; from += REBUILD_ROWS) {
    const rows = await db
      .select({ row: contactImportRows.row, keys: contactImportRows.keys })
      .from(contactImportRows)
      .where(and(eq(contactImportRows.importId, importId), gte(contactImportRows.row, from), lt(contactImportRows.row, Math.min(firstRow, from + REBUILD_ROWS)), isNotNull(contactImportRows.keys)))
      .orderBy(asc(contactImportRows.row));
    for (const r of rows) for (const k of r.keys!) index.add(k, r.row);
  }
  while (dedupeOf.size >= DEDUPE_IMPORTS) dedupeOf.delete(dedupeOf.keys().next().value!);
  dedupeOf.set(importId, { upTo: firstRow, index });
  return index;
}

/** Adds a committed chunk's keys to the dedupe this process keeps, if it is the one that chunk was planned against. */
function registerChunk(importId: string, firstRow: number, nextRow: number, rows: readonly { row: number; keys: string[] | null }[], last: boolean): void {
  const kept = dedupeOf.get(importId);
  if (kept?.upTo !== firstRow) return;
  if (last) {
    dedupeOf.delete(importId);
    return;
  }
  for (const r of rows) for (const k of r.keys ?? []) kept.index.add(k, r.row);
  kept.upTo = nextRow;
}

export type ChunkResult = { done: boolean; rowsDone: number; totalRows: number; status: string };

/**
 * The next chunk of an import (its checkpoint says which): planned once, written unless a dry run, counted with the
 * checkpoint. Safe to repeat after a crash at any point: a planned row keeps its plan, a write repeats as an update
 * that changes nothing, and the checkpoint only moves from the chunk it read.
 */
export async function runImportChunk(
  deps: UpsertDeps,
  importId: string,
  onRow?: () => void,
  /**
   * `batch`: the chunk's rows that share no CRM id, email or phone with another of its rows are written together
   * (src/contacts/upsert-batch.ts), the rest one by one; `row`: every row one by one (the reference the batch is tested against).
   * @default 'batch'
   */
  mode: 'batch' | 'row' = 'batch',
): Promise<ChunkResult> {
  const { db } = deps;
  const [imp] = await db.select().from(contactImports).where(eq(contactImports.id, importId));
  if (!imp) throw new Error(`import ${importId} does not exist`);
  if (imp.status !== 'running' || imp.chunksDone >= imp.chunks) return { done: true, rowsDone: imp.rowsDone, totalRows: imp.totalRows, status: imp.status };
  const seq = imp.chunksDone;
  const lease = randomUUID();
  const claimed = await db
    .update(contactImports)
    .set({ lease, leaseUntil: sql`now() + ${`${LEASE_SECONDS} seconds`}::interval` })
    .where(and(eq(contactImports.id, importId), eq(contactImports.chunksDone, seq), or(isNull(contactImports.leaseUntil), lt(contactImports.leaseUntil, sql`now()`))))
    .returning({ id: contactImports.id });
  // Retryable: the activity comes back once the other attempt has committed or its lease has run out.
  if (claimed.length === 0) throw new Error(`import ${importId}: chunk ${seq} is being written by another attempt`);
  try {
    let renewedAt = Date.now();
    const renew = async () => {
      if (Date.now() - renewedAt < (LEASE_SECONDS * 1000) / 4) return;
      renewedAt = Date.now();
      const kept = await db.update(contactImports).set({ leaseUntil: sql`now() + ${`${LEASE_SECONDS} seconds`}::interval` }).where(and(eq(contactImports.id, importId), eq(contactImports.lease, lease))).returning({ id: contactImports.id });
      if (kept.length === 0) throw new Error(`import ${importId}: chunk ${seq} was taken over by another attempt`);
    };
    const firstRow = seq * imp.chunkSize + 1;
    const inChunk = and(eq(contactImportRows.importId, importId), gte(contactImportRows.row, firstRow), lte(contactImportRows.row, firstRow + imp.chunkSize - 1));
    type PlannedRow = typeof contactImportRows.$inferSelect;
    // The chunk's records and its plan, if an earlier attempt stored one: read side by side. The records come cleaned
    // already when this process read them ahead, while it wrote the chunk before.
    const [read, stored] = await Promise.all([
      readChunkOnce(db, imp, seq),
      db.select().from(contactImportRows).where(inChunk).orderBy(asc(contactImportRows.row)),
    ]);
    const { records, cleaned } = read;
    if (seq + 1 < imp.chunks) readAhead(db, imp, seq + 1);
    let planned: PlannedRow[] = stored;
    // A fresh plan is stored before any of its rows is written: with the first batch of writes, in its transaction (so
    // each row's contact goes in with it), or on its own (a dry run, one-by-one writes, nothing to batch).
    let storePlan: PlanStore | undefined;
    // The contacts a fresh plan matched: what the first batch writes to, since nothing was written in between.
    let planMatches: Matches | undefined;
    if (planned.length === 0) {
      const { plan, matches } = await planChunk(db, imp, records, firstRow, cleaned, await dedupeBefore(db, importId, firstRow));
      planMatches = matches;
      planned = plan.map((p) => ({ importId, row: p.row, outcome: p.outcome, contactId: null, column: p.column, reason: p.reason, keys: p.keys.length ? p.keys : null }));
      storePlan = async (tx, contactOf) => {
        for (const p of planned) p.contactId = contactOf.get(p.row) ?? null;
        await insertJsonRows(tx, contactImportRows, planned.map((p) => ({ importId, row: p.row, outcome: p.outcome, contactId: p.contactId ?? undefined, column: p.column, reason: p.reason, keys: p.keys ?? undefined })));
      };
    }
    const planStored = async () => {
      const store = storePlan;
      storePlan = undefined;
      if (store) await db.transaction((tx) => store(tx, new Map()));
    };
    if (imp.dryRun || mode === 'row') await planStored();

    if (!imp.dryRun) {
      const opts = imp.options as unknown as StoredOptions;
      // Rows sharing no CRM id, email or phone are written side by side; a row waits for every earlier row it shares
      // one with (its wave comes after theirs), so rows about the same person are written in file order.
      type Pending = { p: PlannedRow; c: CleanRow };
      const waves: Pending[][] = [];
      const waveOfKey = new Map<string, number>();
      for (const p of planned) {
        if (p.outcome === RowOutcome.Reject) continue;
        const c = cleaned[p.row - firstRow]!;
        if (!c.ok) continue; // planned from the same record by the same rules: cannot happen
        const keys = identityKeys(c);
        let wave = 0;
        for (const k of keys) wave = Math.max(wave, (waveOfKey.get(k) ?? -1) + 1);
        for (const k of keys) waveOfKey.set(k, wave);
        (waves[wave] ??= []).push({ p, c });
      }
      const writeRow = async ({ p, c }: Pending) => {
        onRow?.();
        await renew();
        try {
          const m = await matchContacts(db, c.externalId !== undefined ? [c.externalId] : [], c.email ? [c.email] : [], c.phone ? [c.phone] : []);
          const r = resolveTarget(c, opts.precedence, m);
          if ('reject' in r) throw new ValidationError(r.reject, [{ path: r.column ?? 'row', message: r.reject }]);
          const written = await upsertContactAt(deps, r.target, c.fields, {
            source: 'import',
            key: `import:${importId}:${p.row}`,
            actor: `import:${importId}`,
            always: true,
            auditDetail: { importId, row: p.row, ...(c.consentSource ? { consentSource: c.consentSource, consentAt: c.consentAt } : {}) },
          });
          if (p.contactId !== written.contact.id) await db.update(contactImportRows).set({ contactId: written.contact.id }).where(and(eq(contactImportRows.importId, importId), eq(contactImportRows.row, p.row)));
        } catch (err) {
          // Only a refusal of this row's data is the row's fault; anything else (the database away) retries the chunk.
          if (!(err instanceof ValidationError)) throw err;
          await db.update(contactImportRows).set({ outcome: RowOutcome.Reject, column: null, reason: err.message }).where(and(eq(contactImportRows.importId, importId), eq(contactImportRows.row, p.row)));
        }
      };
      for (const wave of waves) {
        if (!wave) continue;
        let rest = wave;
        if (mode === 'batch') {
          const batched = await writeBatch(deps, importId, wave, opts.precedence, renew, storePlan, planMatches);
          planMatches = undefined;
          if (batched.planStored) storePlan = undefined;
          rest = batched.rest;
          onRow?.();
        }
        // What the batch left (refused, folding contacts together, …) goes one by one, after the plan is stored.
        await planStored();
        await inParallel(rest, WRITE_CONCURRENCY, writeRow);
      }
    }
    await planStored();

    // The counts and the checkpoint move together, in one statement: the chunk's rows counted by planned outcome.
    const last = seq + 1 >= imp.chunks;
    const res = (await db.execute(sql`
      with n as (
        select count(*) filter (where outcome = ${RowOutcome.Create})::int as created, count(*) filter (where outcome = ${RowOutcome.Update})::int as updated,
               count(*) filter (where outcome = ${RowOutcome.Merge})::int as merged, count(*) filter (where outcome = ${RowOutcome.Reject})::int as rejected
        from ${contactImportRows} where ${inChunk}
      )
      update ${contactImports} set chunks_done = ${seq + 1}, rows_done = rows_done + ${records.length}, created = ${contactImports.created} + n.created,
        updated = ${contactImports.updated} + n.updated, merged = ${contactImports.merged} + n.merged, rejected = ${contactImports.rejected} + n.rejected,
        lease = null, lease_until = null, updated_at = now()${last ? sql`, status = 'completed', completed_at = now()` : sql``}
      from n
      where ${contactImports.id} = ${importId} and ${contactImports.chunksDone} = ${seq} and ${contactImports.status} = 'running' and ${contactImports.lease} = ${lease}
      returning ${contactImports.status} as status, ${contactImports.chunksDone} as chunks_done, ${contactImports.chunks} as chunks, ${contactImports.rowsDone} as rows_done, ${contactImports.totalRows} as total_rows`)) as unknown as { rows: { status: string; chunks_done: number; chunks: number; rows_done: number; total_rows: number }[] };
    const moved = res.rows[0];
    if (moved) registerChunk(importId, firstRow, firstRow + imp.chunkSize, planned, last);
    const now = moved
      ? { status: moved.status, chunksDone: moved.chunks_done, chunks: moved.chunks, rowsDone: moved.rows_done, totalRows: moved.total_rows }
      : (await db.select().from(contactImports).where(eq(contactImports.id, importId)))[0]!;
    return { done: now.status !== 'running' || now.chunksDone >= now.chunks, rowsDone: now.rowsDone, totalRows: now.totalRows, status: now.status };
  } catch (err) {
    // Let a retry of this attempt (same process, a database hiccup) take the chunk at once; a dead process's lease runs out.
    await db.update(contactImports).set({ lease: null, leaseUntil: null }).where(and(eq(contactImports.id, importId), eq(contactImports.lease, lease))).catch(() => undefined);
    throw err;
  }
}

const identityKeys = (c: CleanRow) => rowKeys(c, ['externalId', 'email', 'phone']).map((k) => k.key);

/** Stores a chunk's fresh plan in `tx`, each written row with its contact. */
type PlanStore = (tx: DbOrTx, contactOf: ReadonlyMap<number, string>) => Promise<void>;

/**
 * Writes the rows that can be written together — sharing no CRM id, email or phone with another of `rows`, and
 * matching at most one contact — through the batch contact pipeline, with the same targets, keys and audit detail as
 * one-by-one writes; returns the rest (in file order) for those. A fresh plan (`storePlan`) is stored in the
 * transaction of the writes when there are any (`planStored`).
 */
async function writeBatch<R extends { p: { row: number; contactId: string | null }; c: CleanRow }>(
  deps: UpsertDeps,
  importId: string,
  rows: R[],
  precedence: MatchKey[],
  renew: () => Promise<void>,
  storePlan: PlanStore | undefined,
  planMatches: Matches | undefined,
): Promise<{ rest: R[]; planStored: boolean }> {
  const seen = new Map<string, number>();
  for (const r of rows) for (const k of identityKeys(r.c)) seen.set(k, (seen.get(k) ?? 0) + 1);
  const solo = rows.filter((r) => identityKeys(r.c).every((k) => seen.get(k) === 1));
  if (solo.length === 0) return { rest: rows, planStored: false };
  await renew();
  const uniq = (xs: (string | undefined)[]) => [...new Set(xs.filter((x): x is string => x !== undefined))];
  // Matched again at write time, as each one-by-one write does (a retried chunk finds the contacts it already wrote),
  // unless the plan was made by this attempt and nothing of the chunk was written since.
  const m = planMatches ?? await matchContacts(deps.db, uniq(solo.map((r) => r.c.externalId)), uniq(solo.map((r) => r.c.email)), uniq(solo.map((r) => r.c.phone)));
  const batch: { r: R; w: BatchWrite }[] = [];
  for (const r of solo) {
    const t = resolveTarget(r.c, precedence, m);
    // A refused row, and one that folds several contacts together, go one by one.
    if ('reject' in t || t.matched.size > 1) continue;
    const c = r.c;
    batch.push({ r, w: { target: t.target, fields: c.fields, values: c.values, key: `import:${importId}:${r.p.row}`, auditDetail: { importId, row: r.p.row, ...(c.consentSource ? { consentSource: c.consentSource, consentAt: c.consentAt } : {}) } } });
  }
  if (batch.length === 0) return { rest: rows, planStored: false };
  const contactOf = (outcomes: readonly BatchOutcome[]) => {
    const out = new Map<number, string>();
    outcomes.forEach((o, i) => {
      if (o !== 'fallback') out.set(batch[i]!.r.p.row, o.contactId);
    });
    return out;
  };
  const outcomes = await upsertContactsBatch(deps, batch.map((b) => b.w), {
    source: 'import',
    actor: `import:${importId}`,
    always: true,
    ...(storePlan ? { inTransaction: (tx: DbOrTx, sofar: readonly BatchOutcome[]) => storePlan(tx, contactOf(sofar)) } : {}),
  });
  const written = new Set<R>();
  const links: { row: number; contactId: string }[] = [];
  outcomes.forEach((o, i) => {
    if (o === 'fallback') return;
    const { r } = batch[i]!;
    written.add(r);
    if (r.p.contactId !== o.contactId) links.push({ row: r.p.row, contactId: o.contactId });
  });
  for (let i = 0; i < links.length; i += 2000) {
    const part = links.slice(i, i + 2000);
    await deps.db.execute(sql`update ${contactImportRows} as r set contact_id = v.contact_id from jsonb_to_recordset(${JSON.stringify(part.map((l) => ({ row: l.row, contact_id: l.contactId })))}::jsonb) as v("row" int, contact_id uuid) where r.import_id = ${importId} and r."row" = v."row"`);
  }
  return { rest: rows.filter((r) => !written.has(r)), planStored: storePlan !== undefined };
}

/** Ends an import that stopped before its last chunk (cancelled, failed). A completed import stays completed. */
export async function endImport(db: Db, importId: string, status: 'cancelled' | 'failed', error?: string): Promise<void> {
  await db
    .update(contactImports)
    .set({ status, completedAt: sql`now()`, updatedAt: sql`now()`, ...(error ? { error: error.slice(0, 1000) } : {}) })
    .where(and(eq(contactImports.id, importId), eq(contactImports.status, 'running')));
}

export const REJECT_FIELDS = { row: '_row', column: '_column', reason: '_reason' } as const;

/**
 * The rejected rows in the input's format, in file order, `maxRows` at most: CSV with the header plus `_row`, `_column`,
 * `_reason` columns; JSON Lines with those three fields added (a line that is not an object is wrapped as `_line`).
 */
export async function* rejectsFile(db: Db, imp: ImportRow): AsyncGenerator<string> {
  const opts = imp.options as unknown as StoredOptions;
  const d = opts.delimiter ?? ',';
  if (imp.format === 'csv') yield csvExportLine([...(imp.columns ?? []), REJECT_FIELDS.row, REJECT_FIELDS.column, REJECT_FIELDS.reason], d);
  let after = 0;
  for (;;) {
    const rejects = await db
      .select()
      .from(contactImportRows)
      .where(and(eq(contactImportRows.importId, imp.id), eq(contactImportRows.outcome, RowOutcome.Reject), sql`${contactImportRows.row} > ${after}`))
      .orderBy(asc(contactImportRows.row))
      .limit(1000);
    if (rejects.length === 0) return;
    const seqs = [...new Set(rejects.map((r) => Math.floor((r.row - 1) / imp.chunkSize)))];
    const chunks = new Map((await db.select().from(contactImportChunks).where(and(eq(contactImportChunks.importId, imp.id), inArray(contactImportChunks.seq, seqs)))).map((c) => [c.seq, c.records as RawRecord[]]));
    let out = '';
    for (const r of rejects) {
      const seq = Math.floor((r.row - 1) / imp.chunkSize);
      const rec = chunks.get(seq)?.[(r.row - 1) % imp.chunkSize];
      if (!rec) continue;
      if ('f' in rec) out += csvExportLine([...rec.f, String(r.row), r.column ?? '', r.reason ?? ''], d);
      else {
        let obj: Record<string, unknown>;
        try {
          const v = JSON.parse(rec.l) as unknown;
          obj = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { _line: rec.l };
        } catch {
          obj = { _line: rec.l };
        }
        out += `${JSON.stringify({ ...obj, [REJECT_FIELDS.row]: r.row, [REJECT_FIELDS.column]: r.column, [REJECT_FIELDS.reason]: r.reason })}\n`;
      }
    }
    yield out;
    after = rejects.at(-1)!.row;
  }
}
