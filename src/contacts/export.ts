/**
 * Everything stored about a contact, for a subject access request (GDPR art. 15, PIPL art. 45): one JSON object with
 * a section per table that holds a contact id or their address. `CONTACT_TABLES` names every such table; a test reads
 * the database's columns and fails when a table with a contact column is missing here (and from the erasure).
 */
import { and, eq, inArray, or, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import {
  analyticsTouches,
  attributionContactCredits,
  attributionDirty,
  audienceLaunchEntries,
  contactFunnel,
  dealEvents,
  deals,
  contactAudit,
  contactImportRows,
  contacts,
  conversions,
  emailFeedback,
  events,
  journeyRuns,
  journeyRunSteps,
  messages,
  runArms,
  salesHandoffFeedback,
  salesHandoffs,
  scoreEvents,
  suppressions,
} from '../db/schema';

/** The tables holding a contact's data, in export order, and how each is found (by contact id, hand-off or address). */
export const CONTACT_TABLES = [
  'contacts',
  'contact_audit',
  'events',
  'score_events',
  'messages',
  'journey_runs',
  'journey_run_steps',
  'run_arms',
  'conversions',
  'sales_handoffs',
  'sales_handoff_feedback',
  'audience_launch_entries',
  'contact_import_rows',
  'suppressions',
  'email_feedback',
  'deals',
  'deal_events',
  'contact_funnel',
  'analytics_touches',
  'attribution_contact_credits',
  'attribution_dirty',
] as const;
export type ContactTable = (typeof CONTACT_TABLES)[number];

/** The contact and every duplicate merged into it (directly or through another duplicate): one person. */
export async function personIds(db: DbOrTx, contactId: string): Promise<string[]> {
  const ids = [contactId];
  let frontier = [contactId];
  for (let hop = 0; frontier.length > 0 && hop < 10; hop++) {
    const rows = await db.select({ id: contacts.id }).from(contacts).where(inArray(contacts.mergedInto, frontier));
    frontier = rows.map((r) => r.id).filter((id) => !ids.includes(id));
    ids.push(...frontier);
  }
  return ids;
}

export type ContactExport = { contactId: string; exportedAt: string; tables: Record<ContactTable, unknown[]> };

export async function exportContact(db: DbOrTx, contactId: string): Promise<ContactExport> {
  const ids = await personIds(db, contactId);
  const people = await db.select().from(contacts).where(inArray(contacts.id, ids));
  const handoffs = await db.select().from(salesHandoffs).where(inArray(salesHandoffs.contactId, ids));
  const handoffIds = handoffs.map((h) => h.id);
  const emails = people.flatMap((p) => (p.email ? [p.email] : []));
  const phones = people.flatMap((p) => (p.phone ? [p.phone] : []));
  const addressed = [
    ...(emails.length ? [and(eq(suppressions.channel, 'email'), inArray(suppressions.address, emails))] : []),
    ...(phones.length ? [and(eq(suppressions.channel, 'sms'), inArray(suppressions.address, phones))] : []),
  ];
  const tables: Record<ContactTable, unknown[]> = {
    contacts: people,
    contact_audit: await db.select().from(contactAudit).where(inArray(contactAudit.contactId, ids)).orderBy(contactAudit.id),
    events: await db.select().from(events).where(inArray(events.contactId, ids)).orderBy(events.occurredAt),
    score_events: await db.select().from(scoreEvents).where(inArray(scoreEvents.contactId, ids)).orderBy(scoreEvents.id),
    messages: await db.select().from(messages).where(inArray(messages.contactId, ids)).orderBy(messages.createdAt),
    journey_runs: await db.select().from(journeyRuns).where(inArray(journeyRuns.contactId, ids)).orderBy(journeyRuns.startedAt),
    journey_run_steps: await db.select().from(journeyRunSteps).where(inArray(journeyRunSteps.contactId, ids)).orderBy(journeyRunSteps.id),
    run_arms: await db.select().from(runArms).where(inArray(runArms.contactId, ids)).orderBy(runArms.assignedAt),
    conversions: await db.select().from(conversions).where(inArray(conversions.contactId, ids)).orderBy(conversions.id),
    sales_handoffs: handoffs,
    sales_handoff_feedback: handoffIds.length ? await db.select().from(salesHandoffFeedback).where(inArray(salesHandoffFeedback.handoffId, handoffIds)) : [],
    audience_launch_entries: await db.select().from(audienceLaunchEntries).where(inArray(audienceLaunchEntries.contactId, ids)),
    // Each imported row that wrote the contact, with the file's record it came from.
    contact_import_rows: await importedRows(db, ids),
    suppressions: addressed.length ? await db.select().from(suppressions).where(or(...addressed)) : [],
    email_feedback: await db.select().from(emailFeedback).where(inArray(emailFeedback.contactId, ids)).orderBy(emailFeedback.id),
    deals: await db.select().from(deals).where(inArray(deals.contactId, ids)).orderBy(deals.openedAt),
    deal_events: await db.select().from(dealEvents).where(inArray(dealEvents.contactId, ids)).orderBy(dealEvents.occurredAt),
    contact_funnel: await db.select().from(contactFunnel).where(inArray(contactFunnel.contactId, ids)),
    analytics_touches: await db.select().from(analyticsTouches).where(inArray(analyticsTouches.contactId, ids)).orderBy(analyticsTouches.occurredAt),
    // The contact's share of campaign and journey credit (src/analytics/credits.ts), and a pending recompute if any.
    attribution_contact_credits: await db
      .select()
      .from(attributionContactCredits)
      .where(inArray(attributionContactCredits.contactId, ids))
      .orderBy(attributionContactCredits.day, attributionContactCredits.model),
    attribution_dirty: await db.select().from(attributionDirty).where(inArray(attributionDirty.contactId, ids)),
  };
  return { contactId, exportedAt: new Date().toISOString(), tables };
}

/** The import rows that wrote any of `ids`, each with its source record from the uploaded file. */
async function importedRows(db: DbOrTx, ids: string[]): Promise<unknown[]> {
  const res = (await db.execute(sql`
    select r.import_id, r.row, r.outcome, r.contact_id, ch.records -> ((r.row - 1) % i.chunk_size) as record
    from ${contactImportRows} r
    join contact_imports i on i.id = r.import_id
    left join contact_import_chunks ch on ch.import_id = r.import_id and ch.seq = (r.row - 1) / i.chunk_size
    where r.contact_id in (select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)::uuid)
    order by r.import_id, r.row`)) as unknown as { rows: unknown[] };
  return res.rows;
}
