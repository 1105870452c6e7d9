import { and, desc, eq, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import { queryInt32 } from '../../bounds';
import type { Db } from '../../db/client';
import { messages } from '../../db/schema';
import { decodeCursor, encodeCursor } from '../pagination';
import { defineRoute } from '../route';
import { seesResponseBodies } from '../auth';
import { withoutOpsDetail } from '../../channels/errors';

export const Message = z.object({
  id: z.uuid(),
  channel: z.string(),
  status: z.string(),
  provider: z.string().nullable(),
  providerMessageId: z.string().nullable(),
  recipient: z.string(),
  contactId: z.string().nullable(),
  journeyId: z.string().nullable(),
  workflowId: z.string().nullable(),
  stepId: z.string().nullable(),
  template: z.string().nullable(),
  subject: z.string().nullable(),
  /** The rendered text of SMS and chat messages (the outbox); an email's HTML is only served at its view-in-browser link. */
  body: z.string().nullable(),
  /** Why the send failed; the receiver's response text in it is shown to ops and admin only. */
  error: z.string().nullable(),
  attempts: z.number().int(),
  createdAt: z.date(),
  sentAt: z.date().nullable(),
});

const ListQuery = z.strictObject({
  channel: z.enum(['email', 'sms', 'chat', 'webhook', 'crm']).optional(),
  status: z.string().min(1).max(30).optional(),
  /** `outbox`: what the embedded providers kept instead of sending (SMS and chat without a configured gateway). */
  provider: z.string().min(1).max(30).optional(),
  contactId: z.uuid().optional(),
  journeyId: z.string().min(1).max(100).optional(),
  workflowId: z.string().min(1).max(300).optional(),
  limit: queryInt32({ min: 1, max: 500 }).default(50),
  cursor: z.string().max(200).optional(),
});

/** Messages of every channel, newest first; with `provider=outbox` it is the SMS and chat outbox of the embedded default. */
export function messageRoutes(deps: { db: Db }) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/messages',
      tag: 'messages',
      summary: 'Messages (email, SMS, chat, webhooks) with status and, for SMS and chat, the text; `provider=outbox` lists what the embedded outbox kept',
      auth: ['marketer', 'ops'],
      query: ListQuery,
      responses: { 200: { description: 'A page of messages', schema: z.object({ items: z.array(Message), nextCursor: z.string().nullable() }) } },
      handler: async ({ query: q, req }) => {
        const filters: SQL[] = [];
        if (q.channel) filters.push(eq(messages.channel, q.channel));
        if (q.status) filters.push(eq(messages.status, q.status));
        if (q.provider) filters.push(eq(messages.provider, q.provider));
        if (q.contactId) filters.push(eq(messages.contactId, q.contactId));
        if (q.journeyId) filters.push(eq(messages.journeyId, q.journeyId));
        if (q.workflowId) filters.push(eq(messages.workflowId, q.workflowId));
        if (q.cursor) {
          // Compared in the database as (created_at, id): microsecond timestamps never round-trip through a JS Date.
          const c = decodeCursor(q.cursor) as { t: number; id?: unknown };
          if (typeof c.id !== 'string' || !z.uuid().safeParse(c.id).success) decodeCursor('');
          filters.push(sql`(${messages.createdAt}, ${messages.id}) < (select m.created_at, m.id from messages m where m.id = ${c.id as string})`);
        }
        const rows = await deps.db
          .select()
          .from(messages)
          .where(and(...filters))
          .orderBy(desc(messages.createdAt), desc(messages.id))
          .limit(q.limit + 1);
        const bodies = seesResponseBodies(req.principal);
        const items = rows
          .slice(0, q.limit)
          // The hosted copy's HTML (up to 200k characters each) is served at its signed link, not listed.
          .map(({ updatedAt: _u, idempotencyKey: _k, html: _h, ...m }) => (bodies || m.error === null ? m : { ...m, error: withoutOpsDetail(m.error) }));
        const last = rows[q.limit - 1];
        return { body: { items, nextCursor: rows.length > q.limit && last ? encodeCursor({ t: last.createdAt.getTime(), id: last.id }) : null } };
      },
    }),
  ];
}
