import { and, eq, isNull, ne, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client';
import type { ContactRow } from '../db/queries';
import { contactAudit, contacts, conversions, events, messages, salesHandoffs, scoreEvents, type Consent, type ConsentStatus } from '../db/schema';
import { LifecycleStage } from '../journey/schema';
import type { IncomingEvent, IngestDeps } from '../ingest/event';
import { recordContactChange } from './changes';
import { routeStoredEvents, type OutboxLog } from './outbox';

export type MergedContact = { id: string; externalId: string | null; matchedOn: ('email' | 'phone')[] };

const FILLABLE = ['email', 'phone', 'firstName', 'lastName', 'company', 'region', 'industry', 'jobTitle', 'timezone', 'locale', 'ownerId'] as const;

const STAGE_ORDER = LifecycleStage.options;
const furtherStage = (a: string, b: string) => (STAGE_ORDER.indexOf(b as LifecycleStage) > STAGE_ORDER.indexOf(a as LifecycleStage) ? b : a);

/** An opt-out anywhere wins (we must never mail someone who said stop); then an opt-in; then unknown. */
function mergeConsent(a: Consent, b: Consent): Consent {
  const out: Consent = { ...a };
  for (const ch of ['email', 'sms', 'chat'] as const) {
    const x = a[ch];
    const y = b[ch];
    const pick: ConsentStatus | undefined =
      x === 'opted_out' || y === 'opted_out' ? 'opted_out' : x === 'opted_in' || y === 'opted_in' ? 'opted_in' : (x ?? y);
    if (pick !== undefined) out[ch] = pick;
  }
  return out;
}

/**
 * Folds every other live contact that shares the survivor's email or phone into the survivor, in one transaction:
 * empty fields are filled from the duplicate, tags and attributes united (the survivor's values win), scores added
 * (fit points are recomputed by the caller), consent merged with opt-outs winning, the further lifecycle stage kept.
 * The duplicate's events, messages, score events, conversions and hand-offs move to the survivor so its 360° view is
 * whole; the duplicate row stays, pointing at the survivor (`merged_into`), and every read by id or external id
 * follows that pointer — runs already in flight for the duplicate carry on with the survivor's data. Both rows get an
 * audit entry saying what merged and why. What the survivor gained is one `contact.updated` (source `merge`), stored in
 * the same transaction and routed after it through `opts.ingest` (else by the outbox sweeper).
 */
export async function mergeDuplicateContacts(db: Db, survivorId: string, opts: { actor: string; ingest?: IngestDeps | undefined; log?: OutboxLog }): Promise<MergedContact[]> {
  let stored: IncomingEvent[] = [];
  const result = await db.transaction(async (tx) => {
    const [survivor] = await tx.select().from(contacts).where(eq(contacts.id, survivorId)).for('update');
    if (!survivor || survivor.mergedInto) return [];
    const keys: SQL[] = [];
    if (survivor.email) keys.push(eq(contacts.email, survivor.email));
    if (survivor.phone) keys.push(eq(contacts.phone, survivor.phone));
    if (keys.length === 0) return [];
    const dups = await tx
      .select()
      .from(contacts)
      .where(and(ne(contacts.id, survivor.id), isNull(contacts.mergedInto), or(...keys)))
      .orderBy(contacts.createdAt)
      .for('update');
    if (dups.length === 0) return [];

    let merged: ContactRow = survivor;
    const out: MergedContact[] = [];
    for (const dup of dups) {
      const matchedOn = [...(survivor.email && dup.email === survivor.email ? ['email' as const] : []), ...(survivor.phone && dup.phone === survivor.phone ? ['phone' as const] : [])];
      const filled: Record<string, unknown> = {};
      for (const f of FILLABLE) if ((merged[f] === null || merged[f] === '') && dup[f]) filled[f] = dup[f];
      const tagsAdded = dup.tags.filter((t) => !merged.tags.includes(t));
      const next: Partial<ContactRow> = {
        ...filled,
        tags: [...merged.tags, ...tagsAdded],
        attributes: { ...dup.attributes, ...merged.attributes },
        score: merged.score + dup.score,
        consent: mergeConsent(merged.consent, dup.consent),
        lifecycleStage: furtherStage(merged.lifecycleStage, dup.lifecycleStage),
      };
      const moved: Record<string, number> = {};
      for (const [name, table] of [
        ['events', events],
        ['messages', messages],
        ['scoreEvents', scoreEvents],
        ['conversions', conversions],
        ['salesHandoffs', salesHandoffs],
      ] as const) {
        const r = await tx.update(table).set({ contactId: survivor.id }).where(eq(table.contactId, dup.id)).returning({ x: sql`1` });
        if (r.length > 0) moved[name] = r.length;
      }
      await tx.update(contacts).set({ mergedInto: survivor.id, updatedAt: sql`now()` }).where(eq(contacts.id, dup.id));
      [merged] = await tx.update(contacts).set({ ...next, updatedAt: sql`now()` }).where(eq(contacts.id, survivor.id)).returning() as [ContactRow];
      const detail = { mergedContactId: dup.id, mergedExternalId: dup.externalId, matchedOn, filled: Object.keys(filled), tagsAdded, scoreAdded: dup.score, moved };
      await tx.insert(contactAudit).values([
        { contactId: survivor.id, action: 'merge', detail, actor: opts.actor },
        { contactId: dup.id, action: 'merged_into', detail: { survivorId: survivor.id, survivorExternalId: survivor.externalId, matchedOn }, actor: opts.actor },
      ]);
      out.push({ id: dup.id, externalId: dup.externalId, matchedOn });
    }
    // A duplicate merges once (it then points at the survivor), so the first one's id keys this write.
    ({ events: stored } = await recordContactChange(tx, { before: survivor, after: merged, source: 'merge', key: `merge:${out[0]!.id}` }));
    return out;
  });
  await routeStoredEvents(opts.ingest, stored, opts.log);
  return result;
}

