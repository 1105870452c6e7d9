import { z } from 'zod';
import { isoInstant } from '../../bounds';
import { isDeepStrictEqual } from 'node:util';
import { eq, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { findContactByExternalId, type ContactRow, type NewContact } from '../../db/queries';
import { contactAudit, contacts } from '../../db/schema';
import { normalizedValues, upsertContact } from '../../contacts/upsert';
import { ingestEvent, type IngestDeps, type IngestOutcome } from '../../ingest/event';
import { matchesFilters } from '../../journey/conditions';
import { checkContactFields, contactFieldsShape } from './contacts';
import type { Metrics } from '../../metrics';
import { zodErrors } from '../problem';
import { defineRoute } from '../route';
import { crmPropertyIssues } from '../../analytics/crm-events';

/** The contact the event is about: its CRM id, and any fields to write — the same fields and rules as PUT /v1/contacts. */
export const EventContact = z
  .object({ externalId: z.string().min(1).max(200), ...contactFieldsShape })
  .strict()
  .superRefine(checkContactFields);

export const IngestEvent = z
  .object({
    id: z.string().min(1).max(200),
    type: z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/, 'must be a dotted lower-case name such as lead.created'),
    occurredAt: isoInstant().optional(),
    contact: EventContact,
    properties: z.record(z.string(), z.unknown()).default({}),
  })
  .strict()
  // CRM deal and payment events carry the fields analytics read (src/analytics/crm-events.ts): checked here, named.
  .superRefine((e, ctx) => {
    for (const issue of crmPropertyIssues(e.type, e.properties)) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  });
export type IngestEvent = z.infer<typeof IngestEvent>;

export const MAX_BATCH = 1000;
const IngestBatch = z.object({ events: z.array(z.unknown()).min(1).max(MAX_BATCH) }).strict();

const FieldError = z.object({ path: z.string(), message: z.string() });
const IngestResult = z.object({
  accepted: z.array(
    z.object({
      id: z.string(),
      /** Our id of the contact the event is about; null when the event was refused before any contact existed. */
      contactId: z.string().nullable(),
      duplicate: z.boolean(),
      runs: z.array(z.string()),
      notEntered: z.array(z.object({ journeyId: z.string(), reason: z.string() })).optional(),
    }),
  ),
  rejected: z.array(z.object({ index: z.number().int(), id: z.string().optional(), errors: z.array(FieldError) })),
});

export type EventsDeps = IngestDeps & { metrics?: Pick<Metrics, 'eventIngested'> };

export function eventRoutes(deps: EventsDeps) {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/events',
      tag: 'events',
      summary: 'Ingest one event, or a batch of up to 1,000 as {"events": [...]}; events are deduplicated by id',
      auth: ['integration'],
      // Documented as the union; validated in the handler so a single bad event reports its own fields.
      bodyDoc: z.union([IngestEvent, IngestBatch]),
      responses: { 202: { description: 'What was accepted, and why anything was rejected', schema: IngestResult } },
      handler: async ({ req }) => {
        // A batch answers per event (202 with rejections); a single event that is invalid is a plain 400.
        const raw = req.body as unknown;
        const isBatch = typeof raw === 'object' && raw !== null && 'events' in raw;
        const items = isBatch ? IngestBatch.parse(raw).events : [IngestEvent.parse(raw)];
        const accepted: z.infer<typeof IngestResult>['accepted'] = [];
        const rejected: z.infer<typeof IngestResult>['rejected'] = [];
        for (const [index, item] of items.entries()) {
          const parsed = IngestEvent.safeParse(item);
          if (!parsed.success) {
            const id = (item as { id?: unknown } | null)?.id;
            rejected.push({ index, id: typeof id === 'string' ? id : undefined, errors: zodErrors(parsed.error, ['events', String(index)]) });
            deps.metrics?.eventIngested('invalid', 'rejected');
            continue;
          }
          const result = await ingestOne(deps, parsed.data);
          deps.metrics?.eventIngested(parsed.data.type, result.duplicate ? 'duplicate' : 'accepted');
          accepted.push(result);
        }
        return { status: 202, body: { accepted, rejected } };
      },
    }),
  ];
}

/** Why a journey did not start for an event about a CRM id we did not know (settings.unknown_contact: reject). */
export const UNKNOWN_CONTACT = 'unknown_contact';
const DAY_MS = 86_400_000;

async function ingestOne(deps: EventsDeps, event: IngestEvent): Promise<IngestOutcome & { contactId: string | null }> {
  const { externalId, ...fields } = event.contact;
  const occurredAt = event.occurredAt ? new Date(event.occurredAt) : new Date();
  const { contact: found, refused } = await contactForEvent(deps.db, externalId, event.id);
  let contact = found;
  // A write that would change nothing (the CRM repeats the contact's fields on every event) is not made: the pipeline
  // would lock and rewrite the row only to record no change, no audit and no contact.updated.
  const writes = Object.values(fields).some((v) => v !== undefined) && (!contact || fields.consent !== undefined || changesContact(contact, normalizedValues(fields)));
  let router = deps.router;
  const rejected: { journeyId: string; reason: string }[] = [];
  const refuse = (journeyIds: Iterable<string>) => {
    const refusing = new Set(journeyIds);
    for (const journeyId of refusing) rejected.push({ journeyId, reason: UNKNOWN_CONTACT });
    const { triggers } = deps.router;
    router = { ...deps.router, triggers: { triggersFor: async (type) => (await triggers.triggersFor(type)).filter((t) => !refusing.has(t.journeyId)) } };
    return refusing;
  };
  // A re-delivery of the event that created this contact (its first routing failed): the journeys that refused the
  // unknown contact then still do not start. Only a contact created in the last day can have been created by it.
  if (Array.isArray(refused) && refused.length > 0) refuse(refused.filter((j): j is string => typeof j === 'string'));
  let refusedJourneys: string[] = [];
  if (!contact) {
    // An unknown CRM id: the journeys this event would start decide whether it may create the contact. An event
    // that starts no journey creates it (and scores it), as before.
    const triggered = (await deps.router.triggers.triggersFor(event.type)).filter(
      (t) => !t.where || matchesFilters(t.where, event.properties, occurredAt.getTime()),
    );
    const refusing = refuse(triggered.filter((t) => (t.unknownContact ?? 'reject') === 'reject').map((t) => t.journeyId));
    if (triggered.length > 0 && triggered.every((t) => refusing.has(t.journeyId))) {
      return { id: event.id, contactId: null, duplicate: false, runs: [], notEntered: rejected };
    }
    refusedJourneys = [...refusing];
  }
  if (!contact || writes) {
    // The PUT /v1/contacts pipeline: normalized, merged, fit-scored, and a change is a contact.updated (source event).
    const r = await upsertContact({ ...deps, ingest: deps }, externalId, fields, {
      source: 'event',
      key: `event:${event.id}`,
      actor: 'event',
      occurredAt,
      ...(refusedJourneys.length ? { auditDetail: { refusedJourneys } } : {}),
    });
    contact = r.contact;
  }
  const outcome = await ingestEvent({ ...deps, router }, {
    id: event.id,
    type: event.type,
    contactId: contact.id,
    properties: event.properties,
    occurredAt,
    source: 'api',
  });
  if (rejected.length === 0) return { ...outcome, contactId: contact.id };
  return { ...outcome, contactId: contact.id, notEntered: [...rejected, ...(outcome.notEntered ?? [])] };
}

/**
 * The live contact of a CRM id and, when it was created in the last day (only then can this event have created it),
 * the journeys that refused it then (its create audit row keyed by this event): one statement where the CRM id names
 * a live contact, which is every event but those about a merged-away id.
 */
async function contactForEvent(db: Db, externalId: string, eventId: string): Promise<{ contact: ContactRow | undefined; refused: unknown }> {
  const refusedOf = (contactId: SQL | string) => sql<unknown>`(select ${contactAudit.detail}->'refusedJourneys' from ${contactAudit}
    where ${contactAudit.contactId} = ${contactId} and ${contactAudit.action} = 'create' and ${contactAudit.detail}->>'writeKey' = ${`event:${eventId}`} limit 1)`;
  const recent = sql`${contacts.createdAt} > now() - interval '1 day'`;
  const [row] = await db
    .select({ contact: contacts, refused: sql<unknown>`case when ${recent} then ${refusedOf(sql`${contacts.id}`)} end` })
    .from(contacts)
    .where(eq(contacts.externalId, externalId))
    .limit(1);
  if (!row?.contact.mergedInto) return { contact: row?.contact, refused: row?.refused };
  const contact = await findContactByExternalId(db, externalId);
  if (!contact || Date.now() - contact.createdAt.getTime() >= DAY_MS) return { contact, refused: undefined };
  const res = await db.execute(sql`select ${refusedOf(contact.id)} as refused`);
  const [audit] = ((res as { rows?: unknown[] }).rows ?? (res as unknown as unknown[])) as { refused: unknown }[];
  return { contact, refused: audit?.refused };
}

/** Whether writing these (normalized) values would change a column of the contact. */
function changesContact(contact: ContactRow, values: Partial<NewContact>): boolean {
  return Object.entries(values).some(([k, v]) => !isDeepStrictEqual((contact as Record<string, unknown>)[k] ?? null, v ?? null));
}
