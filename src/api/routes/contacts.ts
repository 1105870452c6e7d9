import { randomUUID } from 'node:crypto';
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import { contacts, events, journeyRuns, journeys, messages, salesHandoffs } from '../../db/schema';
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
      summary:
        'A 360° view (by our id or the CRM id; a UUID is our id first): fields, tags, score with its explanation, lifecycle history, the journeys with the step each run is at, messages with their opens and clicks, sales hand-offs and one timeline of events (the newest 100 of each list; merged-away duplicates included)',
      auth: ['integration', 'marketer', 'ops'],
      params: ContactRef,
      responses: { 200: { description: 'The contact' }, 404: { description: 'No such contact' }, 410: { description: 'The contact was erased' } },
      handler: async ({ params }) => {
        const contact = await liveContact(deps.db, params.id);
        // Runs keep the contact id they started with: a merged duplicate's runs are this person's journeys too.
        const ids = [contact.id, ...(await deps.db.select({ id: contacts.id }).from(contacts).where(eq(contacts.mergedInto, contact.id))).map((r) => r.id)];
        const [runs, sent, timeline, score, lifecycle, handoffs] = await Promise.all([
          deps.db
            .select({ run: journeyRuns, journeyName: journeys.name })
            .from(journeyRuns)
            .leftJoin(journeys, eq(journeys.id, journeyRuns.journeyId))
            .where(inArray(journeyRuns.contactId, ids))
            .orderBy(desc(journeyRuns.startedAt))
            .limit(50),
          deps.db
            .select({
              id: messages.id,
              key: messages.idempotencyKey,
              channel: messages.channel,
              status: messages.status,
              template: messages.template,
              subject: messages.subject,
              journeyId: messages.journeyId,
              stepId: messages.stepId,
              sentAt: messages.sentAt,
              createdAt: messages.createdAt,
            })
            .from(messages)
            .where(inArray(messages.contactId, ids))
            .orderBy(desc(messages.createdAt))
            .limit(100),
          deps.db.select().from(events).where(inArray(events.contactId, ids)).orderBy(desc(events.occurredAt)).limit(100),
          deps.scoring ? explainScore(deps.db, deps.scoring, contact.id) : Promise.resolve(undefined),
          // Every stage change is a contact.updated event naming lifecycle_stage (src/contacts/changes.ts).
          deps.db
            .select({ occurredAt: events.occurredAt, properties: events.properties })
            .from(events)
            .where(and(inArray(events.contactId, ids), eq(events.type, 'contact.updated'), sql`${events.properties}->'changes' ? 'lifecycle_stage'`))
            .orderBy(desc(events.occurredAt))
            .limit(100),
          deps.db
            .select({
              id: salesHandoffs.id,
              status: salesHandoffs.status,
              journeyId: salesHandoffs.journeyId,
              team: salesHandoffs.team,
              repId: salesHandoffs.repId,
              reason: salesHandoffs.reason,
              taskTitle: salesHandoffs.taskTitle,
              dueAt: salesHandoffs.dueAt,
              escalatedAt: salesHandoffs.escalatedAt,
              createdAt: salesHandoffs.createdAt,
            })
            .from(salesHandoffs)
            .where(inArray(salesHandoffs.contactId, ids))
            .orderBy(desc(salesHandoffs.createdAt))
            .limit(50),
        ]);
        // Opens and clicks are events naming the message by its key (src/api/routes/tracking.ts); one query for the page.
        const keys = sent.map((m) => m.key);
        const engagement = keys.length
          ? await deps.db
              .select({
                key: sql<string>`${events.properties}->>'message_key'`,
                type: events.type,
                count: sql<number>`count(*)`.mapWith(Number),
                first: sql<Date>`min(${events.occurredAt})`.mapWith(events.occurredAt),
              })
              .from(events)
              .where(and(inArray(events.contactId, ids), inArray(events.type, ['email.opened', 'email.clicked']), inArray(sql`${events.properties}->>'message_key'`, keys)))
              .groupBy(sql`${events.properties}->>'message_key'`, events.type)
          : [];
        const tracked = (key: string, type: string) => engagement.find((e) => e.key === key && e.type === type);
        return {
          body: {
            ...contact,
            mergedFrom: ids.slice(1),
            scoreExplanation: score ?? null,
            lifecycleHistory: lifecycle.map((e) => {
              const p = e.properties as { changes: Record<string, { from: unknown; to: unknown }>; source?: string };
              return { at: e.occurredAt, from: p.changes.lifecycle_stage!.from, to: p.changes.lifecycle_stage!.to, source: p.source ?? null };
            }),
            journeys: runs.map(({ run: r, journeyName }) => ({
              workflowId: r.workflowId,
              journeyId: r.journeyId,
              journeyName,
              version: r.version,
              currentStep: r.currentStep,
              status: r.status,
              startedAt: r.startedAt,
              endedAt: r.endedAt,
            })),
            messages: sent.map(({ key, ...m }) => {
              const opened = tracked(key, 'email.opened');
              const clicked = tracked(key, 'email.clicked');
              return { ...m, opens: opened?.count ?? 0, firstOpenedAt: opened?.first ?? null, clicks: clicked?.count ?? 0, firstClickedAt: clicked?.first ?? null };
            }),
            handoffs,
            timeline: timeline.map((e) => ({ id: e.id, type: e.type, occurredAt: e.occurredAt, source: e.source, properties: e.properties })),
          },
        };
      },
    }),
  ];
}
