/**
 * The contact pipeline (upsert.ts) for many writes at once — a bulk import's chunk — in a few set-based statements
 * instead of one transaction per contact: the same normalization (`normalizedValues`), the same target rules, the same
 * consent merge, the same `contact.updated` / `contact.unsubscribed` outbox rows with the same ids, the same audit rows,
 * then the same duplicate merging and fit scoring for the contacts that need them, and routing.
 *
 * It takes only writes it can make exactly as `upsertContactAt` would; any other it hands back untouched, for the
 * caller to send through `upsertContactAt` one by one: a target that was merged or no longer exists, two writes to one
 * contact, a CRM id created concurrently. tests/imports/batch.test.ts compares both paths on the same file.
 */
import { randomUUID } from 'node:crypto';
import { getTableColumns, sql } from 'drizzle-orm';
import { jitOff, lockRowsById, probeRows, withoutJit } from '../db/any';
import type { DbOrTx } from '../db/client';
import type { ContactRow, NewContact } from '../db/queries';
import { fromDriverRow, insertJsonRows, insertJsonRowsReturning } from '../db/bulk-insert';
import { contactAudit, contacts } from '../db/schema';
import { ingestEvent } from '../ingest/event';
import { applyFit, applyFitMany } from '../scoring/apply';
import type { IncomingEvent } from '../ingest/incoming';
import { CONTACT_UPDATED, recordContactChanges, type ContactChange, type ContactChanges } from './changes';
import { mergeDuplicateContacts } from './merge';
import { quietContacts, routeStoredEvents, routeStoredEventsInBulk } from './outbox';
import { normalizedValues, type ContactFields, type ContactTarget, type UpsertDeps, type UpsertOptions } from './upsert';

export type BatchWrite = {
  target: ContactTarget;
  fields: ContactFields;
  /** `normalizedValues(fields)` when the caller has it already (an import row is normalized once, when cleaned). */
  values?: Partial<NewContact>;
  key: string;
  auditDetail?: Record<string, unknown>;
};

/** Written: the contact's id; `fallback`: not written, to be sent through `upsertContactAt`. */
export type BatchOutcome = { contactId: string } | 'fallback';

/** Columns a write sets (the writable fields of `ContactFields`, and the CRM id stored on a contact that had none). */
const SET_COLUMNS = ['externalId', 'email', 'phone', 'firstName', 'lastName', 'company', 'region', 'industry', 'jobTitle', 'timezone', 'locale', 'attributes', 'tags', 'lifecycleStage', 'ownerId', 'consent'] as const;

const columns = getTableColumns(contacts);

/** Runs `fn` over `items`, `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

export type BatchOptions = Omit<UpsertOptions, 'key' | 'auditDetail'> & {
  /**
   * Runs last in the writes' transaction, with the outcomes so far (a write is `fallback` until it is known written):
   * what the caller must commit with them, or not at all (an import's plan of the chunk, with the contact of each row).
   */
  inTransaction?: (tx: DbOrTx, outcomes: readonly BatchOutcome[]) => Promise<void>;
};

/**
 * Makes the writes it can (see the module comment) with `opts` for all of them (`key` and `auditDetail` per write).
 * Outcomes are in the order of `writes`.
 */
export async function upsertContactsBatch(deps: UpsertDeps, writes: readonly BatchWrite[], opts: BatchOptions): Promise<BatchOutcome[]> {
  const outcomes: BatchOutcome[] = writes.map(() => 'fallback');
  if (writes.length === 0) return outcomes;
  const values = writes.map((w) => w.values ?? normalizedValues(w.fields));
  const occurredAt = opts.occurredAt ?? new Date();

  type Done = { i: number; before: ContactRow | undefined; after: ContactRow; created: boolean };
  let done: Done[] = [];
  const stored: { changes: ContactChanges; events: IncomingEvent[] }[] = [];
  let routedNow: (e: IncomingEvent) => boolean = () => false;
  await deps.db.transaction(async (tx) => {
    const ids = writes.flatMap((w) => ('contactId' in w.target ? [w.target.contactId] : []));
    const crmIds = writes.flatMap((w) => ('externalId' in w.target && !('contactId' in w.target) && w.target.externalId !== undefined ? [w.target.externalId] : []));
    // The contacts of the CRM ids, then every target locked in id order: two chunks (or a chunk and PUT) lock in the
    // same order. A contact given a CRM id in between is not locked and so not written here: its write is created,
    // meets the CRM id's unique index and falls back, as a contact created concurrently does.
    await jitOff(tx);
    const byCrm = crmIds.length ? ((await tx.execute(sql`select c.id from ${probeRows(contacts.externalId, crmIds)} as c`)) as unknown as { rows: { id: string }[] }).rows.map((r) => r.id) : [];
    const lockIds = [...ids, ...byCrm];
    const locked = lockIds.length ? ((await tx.execute(sql`select c.* from ${lockRowsById(contacts.id, lockIds)} as c`)) as unknown as { rows: Record<string, unknown>[] }).rows.map((r) => fromDriverRow(contacts, r)) : [];
    const byId = new Map(locked.map((r) => [r.id, r]));
    const byCrmId = new Map(locked.filter((r) => r.externalId !== null).map((r) => [r.externalId!, r]));

    const creates: { i: number; row: typeof contacts.$inferInsert }[] = [];
    const updates: { i: number; current: ContactRow; set: Record<string, unknown> }[] = [];
    const targetOf = new Map<string, number>();
    writes.forEach((w, i) => {
      const t = w.target;
      const current = 'contactId' in t ? byId.get(t.contactId) : 'externalId' in t ? byCrmId.get(t.externalId) : undefined;
      // A merged contact leads to its survivor, and a missing one is refused: upsertContactAt knows both ways.
      if ('contactId' in t && !current) return;
      if (current?.mergedInto) return;
      const externalId = 'create' in t ? undefined : t.externalId;
      if (!current) {
        creates.push({ i, row: { id: randomUUID(), ...values[i], ...(externalId !== undefined ? { externalId } : {}), ...(w.fields.consent ? { consent: w.fields.consent } : {}) } });
        return;
      }
      // Two writes to one contact are written one after the other, by the caller.
      if (targetOf.has(current.id)) {
        const first = targetOf.get(current.id)!;
        if (first >= 0) updates.splice(updates.findIndex((u) => u.i === first), 1);
        targetOf.set(current.id, -1);
        return;
      }
      targetOf.set(current.id, i);
      const set: Record<string, unknown> = { ...values[i] };
      if ('contactId' in t && externalId !== undefined && current.externalId === null) set.externalId = externalId;
      if (w.fields.consent) set.consent = { ...current.consent, ...w.fields.consent };
      updates.push({ i, current, set });
    });

    const inserted = creates.length ? await insertJsonRowsReturning(tx, contacts, creates.map((c) => c.row), { onConflictDoNothing: 'externalId' }) : [];
    const insertedById = new Map(inserted.map((r) => [r.id, r]));
    for (const c of creates) {
      const row = insertedById.get(c.row.id!);
      if (row) done.push({ i: c.i, before: undefined, after: row, created: true }); // else created concurrently: the caller updates it
    }

    const changing = updates.filter((u) => Object.keys(u.set).length > 0);
    for (const u of updates) if (Object.keys(u.set).length === 0) done.push({ i: u.i, before: u.current, after: u.current, created: false });
    if (changing.length) {
      // Each contact's whole writable row, as the write leaves it, in one statement (the row types come from the table).
      const rows = changing.map((u) => {
        const next: Record<string, unknown> = { id: u.current.id };
        for (const k of SET_COLUMNS) next[columns[k].name] = k in u.set ? u.set[k] : u.current[k];
        return next;
      });
      const assignments = sql.join(SET_COLUMNS.map((k) => sql`${sql.identifier(columns[k].name)} = v.${sql.identifier(columns[k].name)}`), sql`, `);
      const res = (await tx.execute(sql`update ${contacts} as c set ${assignments}, updated_at = now() from jsonb_populate_recordset(null::contacts, ${JSON.stringify(rows)}::jsonb) as v where c.id = v.id returning c.*`)) as unknown as { rows: Record<string, unknown>[] };
      const after = new Map(res.rows.map((r) => fromDriverRow(contacts, r)).map((r) => [r.id, r]));
      for (const u of changing) done.push({ i: u.i, before: u.current, after: after.get(u.current.id)!, created: false });
    }
    done = done.sort((a, b) => a.i - b.i);

    const changes: ContactChange[] = done.map((d) => ({ before: d.before, after: d.after, source: opts.source, key: writes[d.i]!.key, occurredAt }));
    // The change of a contact nothing listens to is stored routed: marking it after the commit would write each event twice.
    const quiet = deps.ingest ? await quietContacts(deps.ingest, tx, done.map((d) => d.after.id)) : new Set<string>();
    routedNow = (e) => e.type === CONTACT_UPDATED && quiet.has(e.contactId);
    stored.push(...(await recordContactChanges(tx, changes, { routed: routedNow })));
    const audits = done.flatMap((d, n) => {
      const rec = stored[n]!;
      if (!d.created && rec.events.length === 0) return [];
      const w = writes[d.i]!;
      const externalId = 'create' in w.target ? undefined : w.target.externalId;
      return [{
        contactId: d.after.id,
        action: d.created ? 'create' : 'upsert',
        detail: {
          fields: Object.keys(rec.changes),
          source: opts.source,
          writeKey: w.key,
          ...(d.before && externalId !== undefined && d.before.externalId !== externalId && !('contactId' in w.target) ? { viaExternalId: externalId } : {}),
          ...w.auditDetail,
        },
        actor: opts.actor,
      }];
    });
    await insertJsonRows(tx, contactAudit, audits);
    if (opts.inTransaction) {
      const sofar = [...outcomes];
      for (const d of done) sofar[d.i] = { contactId: d.after.id };
      await opts.inTransaction(tx, sofar);
    }
  });
  await routeStoredEventsInBulk(deps.ingest, stored.flatMap((s) => s.events.filter((e) => !routedNow(e))), { log: deps.log });

  // As upsertContactAt does after its commit, for each contact written: merge duplicates, then fit.
  const log = deps.log ? { log: deps.log } : {};
  const needsMerge = done.filter((d) => opts.always || d.created || (d.before?.email ?? null) !== d.after.email || (d.before?.phone ?? null) !== d.after.phone);
  // Only a contact that another live contact shares an email or phone with has anything to merge: found in one query.
  const emails = [...new Set(needsMerge.flatMap((d) => (d.after.email ? [d.after.email] : [])))];
  const phones = [...new Set(needsMerge.flatMap((d) => (d.after.phone ? [d.after.phone] : [])))];
  const shared = new Map<string, number>();
  const live = sql`${contacts.mergedInto} is null`;
  const probes = [...(emails.length ? [probeRows(contacts.email, emails, live)] : []), ...(phones.length ? [probeRows(contacts.phone, phones, live)] : [])];
  if (probes.length) {
    // Each live contact once (union), by one index probe per email and phone.
    const rows = ((await withoutJit(deps.db, (tx) => tx.execute(sql.join(probes.map((p) => sql`select c.id, c.email, c.phone from ${p} as c`), sql` union `)))) as unknown as { rows: { email: string | null; phone: string | null }[] }).rows;
    for (const r of rows) {
      if (r.email) shared.set(`e:${r.email}`, (shared.get(`e:${r.email}`) ?? 0) + 1);
      if (r.phone) shared.set(`p:${r.phone}`, (shared.get(`p:${r.phone}`) ?? 0) + 1);
    }
  }
  const mergedCount = new Map<number, number>();
  const toMerge = needsMerge.filter((d) => (d.after.email && (shared.get(`e:${d.after.email}`) ?? 0) > 1) || (d.after.phone && (shared.get(`p:${d.after.phone}`) ?? 0) > 1));
  for (const d of toMerge) mergedCount.set(d.i, (await mergeDuplicateContacts(deps.db, d.after.id, { actor: opts.actor, ingest: deps.ingest, ...log })).length);

  const scoring = deps.scoring;
  if (scoring) {
    const fitted = done.filter((d, n) => opts.always || d.created || stored[n]!.events.length > 0 || (mergedCount.get(d.i) ?? 0) > 0);
    // Fit for all of them at once where that writes what applyFit would; the rest (thresholds crossed, …) one by one.
    // Without merges the contacts are as this batch wrote them: fit reads them again only if it has something to write.
    const known = toMerge.length === 0 ? new Map(fitted.map((d) => [d.after.id, d.after])) : undefined;
    const many = await applyFitMany(deps.db, scoring, fitted.map((d) => d.after.id), known ? { known } : {});
    await routeStoredEventsInBulk(deps.ingest, many.contactEvents, { log: deps.log });
    await pool(many.rest, 8, async (id) => {
      const fit = await applyFit(deps.db, scoring, id);
      await routeStoredEvents(deps.ingest, fit.contactEvents, deps.log);
      if (deps.ingest) for (const e of fit.emitted) await ingestEvent(deps.ingest, { ...e, source: 'scoring' });
    });
  }
  for (const d of done) outcomes[d.i] = { contactId: d.after.id };
  return outcomes;
}
