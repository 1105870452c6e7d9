import { randomUUID } from 'node:crypto';
import { desc, eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import { contacts, events, journeyRuns, messages } from '../../db/schema';
import { contactFieldIssues, upsertContact, type ContactFields, type UpsertDeps } from '../../contacts/upsert';
import { isValidTimeZone, LifecycleStage } from '../../journey/schema';
import { explainScore } from '../../scoring/explain';
import { defineRoute } from '../route';
import { ContactRef, liveContact } from './contact-rights';

const Consent = z.enum(['opted_in', 'opted_out', 'unknown']);

/** The writable contact fields, shared with the `contact` block of `POST /v1/events` (one pipeline, one schema). */
export const contactFieldsShape = {
  email: z.string().max(320).nullable().optional(),
  phone: z.string().max(40).nullable().optional(),
  /** ISO country used to read national phone numbers and short region codes. @default CN */
  country: z.string().length(2).optional(),
  firstName: z.string().max(200).nullable().optional(),
  lastName: z.string().max(200).nullable().optional(),
  company: z.string().max(300).nullable().optional(),
  region: z.string().max(100).nullable().optional(),
  industry: z.string().max(100).nullable().optional(),
  jobTitle: z.string().max(200).nullable().optional(),
  timezone: z.string().refine(isValidTimeZone, 'is not an IANA time zone such as Asia/Shanghai').nullable().optional(),
  locale: z.string().max(20).nullable().optional(),
  lifecycleStage: LifecycleStage.optional(),
  ownerId: z.string().max(200).nullable().optional(),
  tags: z.array(z.string().min(1).max(100)).max(200).optional(),
  attributes: z.record(z.string(), z.unknown()).optional(),
  consent: z.object({ email: Consent.optional(), sms: Consent.optional(), chat: Consent.optional() }).strict().optional(),
};

/** Checked in the schema so one response reports every bad field, normalization problems included. */
export const checkContactFields = (c: Pick<ContactFields, 'email' | 'phone' | 'country'>, ctx: z.RefinementCtx) => {
  for (const issue of contactFieldIssues(c)) ctx.addIssue({ code: 'custom', path: [issue.path], message: issue.message });
};

export const ContactInput = z.object(contactFieldsShape).strict().superRefine(checkContactFields);

export function contactRoutes(deps: UpsertDeps) {
  return [
    defineRoute({
      method: 'put',
      path: '/v1/contacts/:externalId',
      tag: 'contacts',
      summary: 'Create or update a contact by its CRM id; email is lower-cased, phones become E.164, regions are folded; other contacts with the same email or phone are merged into it (listed in `merged`, audited). A change stores one contact.updated event (`changes`), withdrawn consent a contact.unsubscribed',
      auth: ['integration'],
      params: z.object({ externalId: z.string().min(1).max(200) }),
      body: ContactInput,
      responses: { 200: { description: 'Updated' }, 201: { description: 'Created' } },
      handler: async ({ params, body, req }) => {
        const r = await upsertContact(deps, params.externalId, body, {
          source: 'api',
          key: randomUUID(),
          actor: `api:${req.principal?.name ?? 'integration'}`,
          always: true,
        });
        return { status: r.created ? 201 : 200, body: { ...r.contact, merged: r.merged, changes: r.changes } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/contacts/:id',
      tag: 'contacts',
      summary: 'A 360° view (by our id or the CRM id; a UUID is our id first): fields, tags, score with its explanation, lifecycle, journeys, messages and timeline',
      auth: ['integration', 'marketer', 'ops'],
      params: ContactRef,
      responses: { 200: { description: 'The contact' }, 404: { description: 'No such contact' }, 410: { description: 'The contact was erased' } },
      handler: async ({ params }) => {
        const contact = await liveContact(deps.db, params.id);
        // Runs keep the contact id they started with: a merged duplicate's runs are this person's journeys too.
        const ids = [contact.id, ...(await deps.db.select({ id: contacts.id }).from(contacts).where(eq(contacts.mergedInto, contact.id))).map((r) => r.id)];
        const [runs, sent, timeline, score] = await Promise.all([
          deps.db.select().from(journeyRuns).where(inArray(journeyRuns.contactId, ids)).orderBy(desc(journeyRuns.startedAt)).limit(50),
          deps.db
            .select({ channel: messages.channel, status: messages.status, template: messages.template, journeyId: messages.journeyId, stepId: messages.stepId, sentAt: messages.sentAt, createdAt: messages.createdAt })
            .from(messages)
            .where(eq(messages.contactId, contact.id))
            .orderBy(desc(messages.createdAt))
            .limit(100),
          deps.db.select().from(events).where(eq(events.contactId, contact.id)).orderBy(desc(events.occurredAt)).limit(100),
          deps.scoring ? explainScore(deps.db, deps.scoring, contact.id) : Promise.resolve(undefined),
        ]);
        return {
          body: {
            ...contact,
            mergedFrom: ids.slice(1),
            scoreExplanation: score ?? null,
            journeys: runs.map((r) => ({ workflowId: r.workflowId, journeyId: r.journeyId, version: r.version, currentStep: r.currentStep, status: r.status, startedAt: r.startedAt })),
            messages: sent,
            timeline: timeline.map((e) => ({ id: e.id, type: e.type, occurredAt: e.occurredAt, source: e.source, properties: e.properties })),
          },
        };
      },
    }),
  ];
}
