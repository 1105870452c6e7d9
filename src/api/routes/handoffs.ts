import { z } from 'zod';
import { queryInt32 } from '../../bounds';
import { NotFoundError, ValidationError } from '../../errors';
import { seesResponseBodies, type Principal } from '../auth';
import { withoutOpsDetail } from '../../channels/errors';
import type { IngestDeps } from '../../ingest/event';
import { getHandoff, listHandoffs, recordHandoffFeedback } from '../../sales/feedback';
import { decodeCursor, encodeCursor } from '../pagination';
import { defineRoute } from '../route';

const HandoffStatus = z.enum(['pending', 'accepted', 'rejected', 'escalated']);

export const Handoff = z.object({
  id: z.string(),
  idempotencyKey: z.string(),
  contactId: z.string(),
  journeyId: z.string().nullable(),
  workflowId: z.string().nullable(),
  team: z.string().nullable(),
  repId: z.string().nullable(),
  status: z.string(),
  reason: z.string().nullable(),
  taskTitle: z.string().nullable().describe("The sales task's title, rendered for the contact"),
  dueAt: z.date().nullable(),
  escalatedAt: z.date().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
  crm: z
    .object({ status: z.string(), attempts: z.number().int(), error: z.string().nullable(), deliveredAt: z.date().nullable() })
    .nullable()
    .describe('The CRM webhook for this hand-off: delivered, pending (being retried), failed, or skipped when none is configured'),
  feedback: z
    .object({ outcome: z.string(), reason: z.string().nullable(), detail: z.record(z.string(), z.unknown()), eventId: z.string(), receivedAt: z.date() })
    .nullable(),
});

const Note = z.string().min(1).max(2000);
const By = z.string().min(1).max(200).describe('Who decided in the CRM (user id or name)');

export const HandoffFeedbackBody = z.discriminatedUnion(
  'outcome',
  [
    z.object({ outcome: z.literal('accepted'), opportunityId: z.string().min(1).max(200).optional(), note: Note.optional(), by: By.optional() }).strict(),
    z.object({ outcome: z.literal('rejected'), reason: z.string().trim().min(1, 'must not be empty').max(500), note: Note.optional(), by: By.optional() }).strict(),
  ],
  { error: (iss) => (iss.code === 'invalid_union' ? 'must be "accepted" or "rejected"' : undefined) },
);

const IdParams = z.object({ id: z.uuid('must be a hand-off id (uuid)') });

const ListQuery = z
  .object({
    status: HandoffStatus.optional(),
    repId: z.string().min(1).max(200).optional(),
    team: z.string().min(1).max(200).optional(),
    contactId: z.uuid().optional(),
    limit: queryInt32({ min: 1, max: 500 }).default(50),
    cursor: z.string().max(300).optional(),
  })
  .strict();

/** `created_at::text` as Postgres wrote it (`2026-05-01 09:30:00.123456+00`); anything else would fail in SQL, not here. */
const PG_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/;
const isPgTimestamp = (s: string) => {
  const m = PG_TIMESTAMP.exec(s);
  if (!m) return false;
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return y >= 1 && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d && h < 24 && mi < 60 && se < 60;
};

const PageCursor = z.object({ t: z.number(), ts: z.string().max(64).refine(isPgTimestamp), id: z.uuid() });

export function handoffRoutes(deps: IngestDeps) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/handoffs',
      tag: 'handoffs',
      summary: 'List sales hand-offs, newest first, filtered by status, rep, team or contact',
      auth: ['integration', 'ops'],
      query: ListQuery,
      responses: { 200: { description: 'A page of hand-offs', schema: z.object({ items: z.array(Handoff), nextCursor: z.string().nullable() }) } },
      handler: async ({ query: q, req }) => {
        let before: { createdAt: string; id: string } | undefined;
        if (q.cursor) {
          const c = PageCursor.safeParse(decodeCursor(q.cursor));
          if (!c.success) throw new ValidationError('The cursor is not one this API issued.', [{ path: 'query.cursor', message: 'invalid cursor' }]);
          before = { createdAt: c.data.ts, id: c.data.id };
        }
        const rows = await listHandoffs(deps.db, { status: q.status, repId: q.repId, team: q.team, contactId: q.contactId, before, limit: q.limit + 1 });
        const page = rows.slice(0, q.limit);
        const last = page.at(-1);
        const items = page.map(({ cursorTime: _t, ...h }) => forRole(h, req.principal));
        return {
          body: {
            items,
            nextCursor: rows.length > q.limit && last ? encodeCursor({ t: last.createdAt.getTime(), ts: last.cursorTime, id: last.id }) : null,
          },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/handoffs/:id',
      tag: 'handoffs',
      summary: 'One sales hand-off: its rep, status, CRM webhook delivery and the CRM feedback',
      auth: ['integration', 'ops'],
      params: IdParams,
      responses: { 200: { description: 'The hand-off', schema: Handoff }, 404: { description: 'No such hand-off' } },
      handler: async ({ params, req }) => {
        const h = await getHandoff(deps.db, params.id);
        if (!h) throw new NotFoundError('Handoff', params.id);
        return { body: forRole(h, req.principal) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/handoffs/:id/feedback',
      tag: 'handoffs',
      summary:
        'The CRM accepts or rejects a hand-off: accepted makes the contact a sales-qualified lead, rejected (with a reason) ' +
        'recycles it into nurture; either emits handoff.accepted / handoff.rejected to running journeys. Repeating an answer is ' +
        'safe; a different answer to a finished hand-off is 409',
      auth: ['integration'],
      params: IdParams,
      body: HandoffFeedbackBody,
      responses: {
        200: {
          description: 'The hand-off after the answer; `duplicate` when it had already been given',
          schema: z.object({
            handoff: Handoff,
            duplicate: z.boolean(),
            event: z.object({ id: z.string(), duplicate: z.boolean(), runs: z.array(z.string()) }),
          }),
        },
        404: { description: 'No such hand-off' },
        409: { description: 'The hand-off was already answered differently' },
      },
      handler: async ({ params, body, req }) => {
        const actor = `api:${req.principal?.name ?? 'integration'}`;
        const r = await recordHandoffFeedback({ db: deps.db, ingest: deps }, params.id, body, actor);
        return { body: { handoff: r.handoff, duplicate: r.duplicate, event: { id: r.event.id, duplicate: r.event.duplicate, runs: r.event.runs } } };
      },
    }),
  ];
}

/** The CRM's response text in a delivery error is for ops and admin; an integration key sees the status and reason. */
function forRole<H extends { crm: { error: string | null } | null }>(h: H, principal: Principal | undefined): H {
  if (!h.crm?.error || seesResponseBodies(principal)) return h;
  return { ...h, crm: { ...h.crm, error: withoutOpsDetail(h.crm.error) } };
}
