/**
 * The one contact write pipeline, used by `PUT /v1/contacts/:externalId` and by the `contact` block of
 * `POST /v1/events`, so a contact created or changed through an event is exactly what PUT would have made:
 * normalize (email lower-cased and validated, phone to E.164 with the default region, region folded, tags unique), upsert by CRM
 * id (a merged CRM id updates its survivor), merge duplicates sharing the email or phone, re-evaluate fit scoring.
 * Each of those writes stores its `contact.updated` in its own transaction (sources `api`/`event`, `merge`,
 * `scoring`), and withdrawn consent a `contact.unsubscribed`; they are routed after each commit.
 */
import { eq, sql } from 'drizzle-orm';
import { normalizeEmail, normalizePhone, normalizeRegion, type Normalized } from '../channels/normalize';
import type { Db, DbOrTx } from '../db/client';
import { findContactById, type ContactRow, type NewContact } from '../db/queries';
import { contactAudit, contacts, type Consent } from '../db/schema';
import { ValidationError } from '../errors';
import { ingestEvent, type IncomingEvent, type IngestDeps } from '../ingest/event';
import { applyFit } from '../scoring/apply';
import type { ScoringModel } from '../scoring/model';
import { diffContacts, recordContactChange, type ContactChanges } from './changes';
import { mergeDuplicateContacts, type MergedContact } from './merge';
import { routeStoredEvents, type OutboxLog } from './outbox';

/** The writable fields, as the API names them (camelCase); `null` clears a field, absent leaves it. */
export type ContactFields = {
  email?: string | null | undefined;
  phone?: string | null | undefined;
  /** ISO country used to read national phone numbers and short region codes. @default CN */
  country?: string | undefined;
  firstName?: string | null | undefined;
  lastName?: string | null | undefined;
  company?: string | null | undefined;
  region?: string | null | undefined;
  industry?: string | null | undefined;
  jobTitle?: string | null | undefined;
  timezone?: string | null | undefined;
  locale?: string | null | undefined;
  lifecycleStage?: string | undefined;
  ownerId?: string | null | undefined;
  tags?: string[] | undefined;
  attributes?: Record<string, unknown> | undefined;
  consent?: Consent | undefined;
};

const defaultCountry = (f: Pick<ContactFields, 'country'>) => f.country?.toUpperCase() ?? 'CN';

/**
 * Phones recently normalized, by region and text: a write's phone is checked by the schema and then normalized for
 * storage, and libphonenumber is most of a bulk import's cleaning. Pure, so a bounded cache is safe.
 */
const recentPhones = new Map<string, Normalized>();

function normalizePhoneOnce(raw: string, region: string): Normalized {
  const key = `${region}\u0000${raw}`;
  let r = recentPhones.get(key);
  if (!r) {
    if (recentPhones.size >= 4096) recentPhones.clear();
    recentPhones.set(key, (r = normalizePhone(raw, region)));
  }
  return r;
}

/** The email and phone as a write stores them, or why not. */
function normalizeKeys(f: Pick<ContactFields, 'email' | 'phone' | 'country'>): { email?: Normalized; phone?: Normalized } {
  return { ...(f.email ? { email: normalizeEmail(f.email) } : {}), ...(f.phone ? { phone: normalizePhoneOnce(f.phone, defaultCountry(f)) } : {}) };
}

function keyIssues(n: { email?: Normalized; phone?: Normalized }): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  if (n.email && !n.email.ok) out.push({ path: 'email', message: n.email.error });
  if (n.phone && !n.phone.ok) out.push({ path: 'phone', message: n.phone.error });
  return out;
}

/** Normalization problems, by field (`email`, `phone`): the API reports them all at once as a 400. */
export function contactFieldIssues(f: Pick<ContactFields, 'email' | 'phone' | 'country'>): { path: string; message: string }[] {
  return keyIssues(normalizeKeys(f));
}

/**
 * The column values a write sets, normalized (what a write stores and what matching compares: bulk imports match
 * their rows with it before writing them through `upsertContactAt`).
 * @throws ValidationError when the email or phone cannot be normalized
 */
export function normalizedValues(f: ContactFields): Partial<NewContact> {
  const keys = normalizeKeys(f);
  const issues = keyIssues(keys);
  if (issues.length) throw new ValidationError(`The contact is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  const country = defaultCountry(f);
  const values: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(f)) if (k !== 'country' && k !== 'consent' && v !== undefined) values[k] = v;
  if (keys.email?.ok) values.email = keys.email.value;
  if (keys.phone?.ok) values.phone = keys.phone.value;
  if (f.region) values.region = normalizeRegion(f.region, { country });
  // Tags are a set: a repeated tag is stored once (first occurrence keeps its place), as the tag step stores it.
  if (f.tags) values.tags = [...new Set(f.tags)];
  return values as Partial<NewContact>;
}

/** The live contact for a CRM id (or a contact id), locked: a merged contact leads to its survivor. */
async function lockByExternalId(tx: DbOrTx, externalId: string, by: 'externalId' | 'id' = 'externalId'): Promise<ContactRow | undefined> {
  let [row] = await tx.select().from(contacts).where(eq(by === 'id' ? contacts.id : contacts.externalId, externalId)).for('update');
  for (let hop = 0; row?.mergedInto && hop < 10; hop++) [row] = await tx.select().from(contacts).where(eq(contacts.id, row.mergedInto)).for('update');
  return row;
}

/**
 * Which contact a write goes to: by CRM id (PUT), by contact id (an import row matched by email or phone; `externalId`
 * is then stored on a contact that has none), or a new contact without a CRM id (an import row no contact matches).
 */
export type ContactTarget = { externalId: string } | { contactId: string; externalId?: string } | { create: true };

export type UpsertDeps = { db: Db; scoring?: ScoringModel | undefined; ingest?: IngestDeps | undefined; log?: OutboxLog };

export type UpsertOptions = {
  /** `api` for PUT, `event` for an event's contact block, `import` for a bulk import's row. */
  source: 'api' | 'event' | 'import';
  /** Identifies the write (the request's uuid, the event id): its `contact.updated` id is derived from it. */
  key: string;
  /** Recorded on audit rows, e.g. `api:crm-sync`. */
  actor: string;
  occurredAt?: Date;
  /**
   * Look for duplicates and re-evaluate fit even when nothing changed (PUT: a repair path for contacts written before
   * merging existed). Otherwise only a created contact or a changed email/phone is merged, and fit follows changes.
   * @default false
   */
  always?: boolean;
  /** Added to the audit row of the write (e.g. the journeys an event's unknown contact was refused by). */
  auditDetail?: Record<string, unknown>;
};

export type UpsertResult = {
  contact: ContactRow;
  created: boolean;
  /** Every field that differs from before the write, merge and fit points included. */
  changes: ContactChanges;
  merged: MergedContact[];
};

/**
 * Creates or updates the contact with this CRM id (see the module comment).
 * @throws ValidationError when the email or phone cannot be normalized
 */
export async function upsertContact(deps: UpsertDeps, externalId: string, fields: ContactFields, opts: UpsertOptions): Promise<UpsertResult> {
  return upsertContactAt(deps, { externalId }, fields, opts);
}

/**
 * `upsertContact` for any `ContactTarget`: the same normalization, write, audit, merge and fit.
 * @throws ValidationError when the email or phone cannot be normalized, or the target contact no longer exists
 */
export async function upsertContactAt(deps: UpsertDeps, target: ContactTarget, fields: ContactFields, opts: UpsertOptions): Promise<UpsertResult> {
  const values = normalizedValues(fields);
  const externalId = 'create' in target ? undefined : target.externalId;
  let stored: IncomingEvent[] = [];
  const { before, after, created } = await deps.db.transaction(async (tx) => {
    let current = 'contactId' in target ? await lockByExternalId(tx, target.contactId, 'id') : externalId !== undefined ? await lockByExternalId(tx, externalId) : undefined;
    if ('contactId' in target && !current) throw new ValidationError(`Contact ${target.contactId} does not exist.`, [{ path: 'contactId', message: 'no such contact' }]);
    let row: ContactRow | undefined;
    let isNew = false;
    if (!current) {
      const insert = tx.insert(contacts).values({ ...values, ...(externalId !== undefined ? { externalId } : {}), ...(fields.consent ? { consent: fields.consent } : {}) });
      const [inserted] = externalId !== undefined ? await insert.onConflictDoNothing({ target: contacts.externalId }).returning() : await insert.returning();
      if (inserted) {
        row = inserted;
        isNew = true;
      } else current = await lockByExternalId(tx, externalId!); // created concurrently: update it instead
    }
    if (current) {
      const set: Record<string, unknown> = { ...values };
      if ('contactId' in target && externalId !== undefined && current.externalId === null) set.externalId = externalId;
      if (fields.consent) set.consent = { ...current.consent, ...fields.consent };
      row = current;
      if (Object.keys(set).length > 0) {
        [row] = await tx
          .update(contacts)
          .set({ ...set, updatedAt: sql`now()` })
          .where(eq(contacts.id, current.id))
          .returning();
      }
    }
    const written = row!;
    const recorded = await recordContactChange(tx, { before: current, after: written, source: opts.source, key: opts.key, occurredAt: opts.occurredAt ?? new Date() });
    stored = recorded.events;
    if (isNew || recorded.events.length > 0) {
      await tx.insert(contactAudit).values({
        contactId: written.id,
        action: isNew ? 'create' : 'upsert',
        detail: {
          fields: Object.keys(recorded.changes),
          source: opts.source,
          writeKey: opts.key,
          ...(current && externalId !== undefined && current.externalId !== externalId && !('contactId' in target) ? { viaExternalId: externalId } : {}),
          ...opts.auditDetail,
        },
        actor: opts.actor,
      });
    }
    return { before: current, after: written, created: isNew };
  });
  await routeStoredEvents(deps.ingest, stored, deps.log);

  const identityChanged = created || (before?.email ?? null) !== after.email || (before?.phone ?? null) !== after.phone;
  // The same person known under another CRM id, email or phone: fold it in so journeys see one contact.
  const merged = opts.always || identityChanged ? await mergeDuplicateContacts(deps.db, after.id, { actor: opts.actor, ingest: deps.ingest, ...(deps.log ? { log: deps.log } : {}) }) : [];
  if (deps.scoring && (opts.always || created || stored.length > 0 || merged.length > 0)) {
    const fit = await applyFit(deps.db, deps.scoring, after.id);
    await routeStoredEvents(deps.ingest, fit.contactEvents, deps.log);
    // Fit points alone can cross a threshold (lead.mql); its id is deterministic, so a retry cannot emit twice.
    if (deps.ingest) for (const e of fit.emitted) await ingestEvent(deps.ingest, { ...e, source: 'scoring' });
  }
  const contact = (await findContactById(deps.db, after.id)) ?? after;
  return { contact, created, changes: diffContacts(before, contact), merged };
}
