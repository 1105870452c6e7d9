/**
 * Erasure on request (GDPR art. 17, PIPL art. 47). Personal data leaves every table `CONTACT_TABLES` names; rows that
 * statistics count stay, anonymous, so every count and rate stays true:
 *
 * - contacts: the row stays as an empty tombstone (`erased_at` set; no CRM id, address, name, attributes, tags or
 *   consent) so the anonymous rows keep their contact; reads answer 410, and no launch, date trigger or score decay
 *   touches it again;
 * - events keep type, time and source, and of their properties only those statistics read (`message_key`, `amount`);
 * - messages keep channel, journey, step, template, status and times, and lose recipient, subject, body and error;
 * - bounce and complaint records keep their class, code and times (bounce rates stay true) and lose the diagnostic,
 *   which quotes the address;
 * - score history keeps its points, audit rows and hand-off feedback their action, hand-offs their status;
 * - runs, steps, arms, conversions and launch entries hold no personal data and stay; so do the analytics rollups
 *   (contact_funnel: stage times and UTM values; analytics_touches; attribution_contact_credits and attribution_dirty,
 *   the contact's share of credit by model, day and touch; deals and their events lose `company`);
 * - the email and phone leave the suppression list and come back as salted hashes (src/contacts/erased-address.ts),
 *   so the address is never messaged again, whoever it later belongs to in the CRM.
 *
 * Running runs are cancelled first (graceful: they record `cancelled` themselves), so none sends while or after the
 * data goes. One `erase` audit row records who asked, when and how many rows of each table changed — no personal data.
 * Workflow histories in Temporal still hold what runs were given until the namespace's retention period ends.
 */
import type { Client } from '@temporalio/client';
import { and, eq, inArray, or, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import {
  contactAudit,
  contacts,
  emailFeedback,
  dealEvents,
  deals,
  events,
  journeyRuns,
  messages,
  salesHandoffFeedback,
  salesHandoffs,
  scoreEvents,
  suppressions,
} from '../db/schema';
import { cancelRun } from '../runs/repair';
import { erasedAddresses, erasureSalts } from './erased-address';
import { type ContactTable, personIds } from './export';
import { SuppressionReason } from './may-deliver';

/** Event properties statistics read (src/db/stats.ts): anonymous, kept so engagement and revenue stay true. */
export const KEPT_EVENT_PROPERTIES = ['message_key', 'amount'] as const;

export type ErasureReport = {
  contactId: string;
  /** The contact and the duplicates merged into it, all erased. */
  contacts: number;
  runsCancelled: string[];
  /** Rows changed per table. */
  rows: Partial<Record<ContactTable, number>>;
  auditId: number;
};

export async function eraseContact(
  deps: { db: Db; temporal: Client; signingSecrets: readonly string[] },
  contactId: string,
  actor: string,
): Promise<ErasureReport> {
  const { db } = deps;
  const ids = await personIds(db, contactId);
  const running = await db
    .select({ workflowId: journeyRuns.workflowId })
    .from(journeyRuns)
    .where(and(inArray(journeyRuns.contactId, ids), eq(journeyRuns.status, 'running')));
  const runsCancelled: string[] = [];
  for (const { workflowId } of running) if ((await cancelRun(deps.temporal, workflowId)) === 'requested') runsCancelled.push(workflowId);

  const salts = erasureSalts(deps.signingSecrets);
  return db.transaction(async (tx) => {
    const people = await tx.select().from(contacts).where(inArray(contacts.id, ids)).for('update');
    const rows: Partial<Record<ContactTable, number>> = {};
    const count = (r: unknown) => ((r as { rowCount?: number | null }).rowCount ?? (r as { affectedRows?: number }).affectedRows ?? 0);

    const addresses = people.flatMap((p) => [
      ...(p.email ? [{ channel: 'email' as const, address: p.email }] : []),
      ...(p.phone ? [{ channel: 'sms' as const, address: p.phone }] : []),
    ]);
    if (addresses.length > 0) {
      rows.suppressions = count(
        await tx.delete(suppressions).where(or(...addresses.map((a) => and(eq(suppressions.channel, a.channel), eq(suppressions.address, a.address))))),
      );
      // A merged duplicate often shares the survivor's email or phone: one row per hash, or the upsert hits a row twice.
      const hashed = [
        ...new Map(
          addresses.flatMap((a) => erasedAddresses(salts, a.channel, a.address).map((address) => [`${a.channel}\n${address}`, { channel: a.channel, address, reason: SuppressionReason.Erased }] as const)),
        ).values(),
      ];
      await tx
        .insert(suppressions)
        .values(hashed)
        .onConflictDoUpdate({ target: [suppressions.channel, suppressions.address], set: { reason: SuppressionReason.Erased } });
    }
    rows.contacts = count(
      await tx
        .update(contacts)
        .set({
          externalId: null, email: null, phone: null, firstName: null, lastName: null, company: null, region: null, industry: null,
          jobTitle: null, timezone: null, locale: null, ownerId: null, attributes: {}, tags: [], consent: {}, topicConsent: {},
          erasedAt: sql`now()`, updatedAt: sql`now()`,
        })
        .where(inArray(contacts.id, ids)),
    );
    const kept = sql.raw(KEPT_EVENT_PROPERTIES.map((k) => `'${k}'`).join(', '));
    rows.events = count(
      await tx
        .update(events)
        .set({ properties: sql`(select coalesce(jsonb_object_agg(key, value), '{}'::jsonb) from jsonb_each(${events.properties}) where key in (${kept}))` })
        .where(inArray(events.contactId, ids)),
    );
    rows.messages = count(
      await tx.update(messages).set({ recipient: '', subject: null, body: null, html: null, error: null, updatedAt: sql`now()` }).where(inArray(messages.contactId, ids)),
    );
    rows.email_feedback = count(await tx.update(emailFeedback).set({ diagnostic: null }).where(inArray(emailFeedback.contactId, ids)));
    rows.deals = count(await tx.update(deals).set({ company: null }).where(inArray(deals.contactId, ids)));
    rows.deal_events = count(await tx.update(dealEvents).set({ fields: sql`${dealEvents.fields} - 'company'` }).where(inArray(dealEvents.contactId, ids)));
    rows.score_events = count(await tx.update(scoreEvents).set({ reason: '' }).where(inArray(scoreEvents.contactId, ids)));
    rows.contact_audit = count(await tx.update(contactAudit).set({ detail: {} }).where(inArray(contactAudit.contactId, ids)));
    const handoffs = await tx
      .update(salesHandoffs)
      .set({ taskTitle: null, reason: null, updatedAt: sql`now()` })
      .where(inArray(salesHandoffs.contactId, ids))
      .returning({ id: salesHandoffs.id });
    rows.sales_handoffs = handoffs.length;
    if (handoffs.length > 0) {
      rows.sales_handoff_feedback = count(
        await tx.update(salesHandoffFeedback).set({ reason: null, detail: {} }).where(inArray(salesHandoffFeedback.handoffId, handoffs.map((h) => h.id))),
      );
    }
    // Imported rows: the file's record the contact came from is blanked in its chunk, its dedupe keys dropped, and the
    // row unlinked (its outcome stays, so the import's counts stay true).
    const imported = (await tx.execute(sql`
      with mine as (
        select r.import_id, r.row, i.chunk_size from contact_import_rows r join contact_imports i on i.id = r.import_id
        where r.contact_id in (select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)::uuid)
      ), blanked as (
        update contact_import_chunks ch
        set records = (
          select jsonb_agg(case when m.row is null then rec else '{"f":[],"e":"erased"}'::jsonb end order by ord)
          from jsonb_array_elements(ch.records) with ordinality as e(rec, ord)
          left join mine m on m.import_id = ch.import_id and (m.row - 1) / m.chunk_size = ch.seq and (m.row - 1) % m.chunk_size = e.ord - 1
        )
        where exists (select 1 from mine m where m.import_id = ch.import_id and (m.row - 1) / m.chunk_size = ch.seq)
      )
      -- The row unlinked and its in-file dedupe keys (email:…, phone:…, externalId:…) dropped.
      update contact_import_rows r set contact_id = null, keys = null from mine m where r.import_id = m.import_id and r.row = m.row
    `)) as unknown as { rowCount?: number | null; affectedRows?: number };
    rows.contact_import_rows = count(imported);
    const [audit] = await tx
      .insert(contactAudit)
      .values({ contactId, action: 'erase', actor, detail: { contacts: ids.length, runsCancelled: runsCancelled.length, rows } })
      .returning({ id: contactAudit.id });
    return { contactId, contacts: ids.length, runsCancelled, rows, auditId: audit!.id };
  });
}
