import { z } from 'zod';
import { isoInstant } from '../../bounds';
import { findContactByExternalId, upsertContactByExternalId } from '../../db/queries';
import { ingestEvent, type IngestDeps } from '../../ingest/event';
import { applyFit } from '../../scoring/apply';
import type { Metrics } from '../../metrics';
import { zodErrors } from '../problem';
import { defineRoute } from '../route';

export const EventContact = z
  .object({
    externalId: z.string().min(1).max(200),
    email: z.email().max(320).optional(),
    phone: z.string().min(3).max(40).optional(),
    firstName: z.string().max(200).optional(),
    lastName: z.string().max(200).optional(),
    company: z.string().max(300).optional(),
    locale: z.string().max(20).optional(),
    timezone: z.string().max(64).optional(),
  })
  .strict();

export const IngestEvent = z
  .object({
    id: z.string().min(1).max(200),
    type: z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/, 'must be a dotted lower-case name such as lead.created'),
    occurredAt: isoInstant().optional(),
    contact: EventContact,
    properties: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();
export type IngestEvent = z.infer<typeof IngestEvent>;

export const MAX_BATCH = 1000;
const IngestBatch = z.object({ events: z.array(z.unknown()).min(1).max(MAX_BATCH) }).strict();

const FieldError = z.object({ path: z.string(), message: z.string() });
const IngestResult = z.object({
  accepted: z.array(
    z.object({
      id: z.string(),
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

async function ingestOne(deps: EventsDeps, event: IngestEvent) {
  const { externalId, ...fields } = event.contact;
  const known = await findContactByExternalId(deps.db, externalId);
  const contact =
    known ?? (await upsertContactByExternalId(deps.db, { externalId, ...fields, email: fields.email?.toLowerCase() }));
  // A new contact gets its fit points (title, size, industry, region) before its first event is scored.
  if (!known && deps.scoring) await applyFit(deps.db, deps.scoring, contact.id);
  return ingestEvent(deps, {
    id: event.id,
    type: event.type,
    contactId: contact.id,
    properties: event.properties,
    occurredAt: event.occurredAt ? new Date(event.occurredAt) : new Date(),
    source: 'api',
  });
}
