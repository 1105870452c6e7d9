/**
 * The CRM's answer to a hand-off, and what the hand-off looks like to the API.
 *
 * accepted → the hand-off is accepted and the contact becomes a sales-qualified lead (`sql`, never a demotion);
 * rejected → the hand-off is rejected with the reason and the contact is recycled into nurture (back to `lead`, tagged
 * `recycled`). Either way an event (`handoff.accepted` / `handoff.rejected`) goes through the normal ingest path, so
 * running journeys react. The same answer again changes nothing (and re-ingests the event under its fixed id, which is
 * a no-op unless the first attempt stopped before it); a different answer to a finished hand-off is a conflict.
 */
import { and, desc, eq, sql, type SQL } from 'drizzle-orm';
import type { Db, DbOrTx } from '../db/client';
import { contactAudit, contacts, messages, salesHandoffFeedback, salesHandoffs } from '../db/schema';
import { ingestEvent, type IncomingEvent, type IngestDeps, type IngestOutcome } from '../ingest/event';
import { ConflictError, NotFoundError } from '../errors';
import { recordContactChange } from '../contacts/changes';
import { routeStoredEvents } from '../contacts/outbox';
import { LIFECYCLE_ORDER } from '../journey/schema';

export type HandoffFeedback =
  | { outcome: 'accepted'; opportunityId?: string | undefined; note?: string | undefined; by?: string | undefined }
  | { outcome: 'rejected'; reason: string; note?: string | undefined; by?: string | undefined };

export const RECYCLED_TAG = 'recycled';

type HandoffRow = typeof salesHandoffs.$inferSelect;

export type HandoffView = HandoffRow & {
  crm: { status: string; attempts: number; error: string | null; deliveredAt: Date | null } | null;
  feedback: { outcome: string; reason: string | null; detail: Record<string, unknown>; eventId: string; receivedAt: Date } | null;
};

const SELECT = {
  handoff: salesHandoffs,
  crmStatus: messages.status,
  crmAttempts: messages.attempts,
  crmError: messages.error,
  crmSentAt: messages.sentAt,
  feedback: salesHandoffFeedback,
};

function toView(r: {
  handoff: HandoffRow;
  crmStatus: string | null;
  crmAttempts: number | null;
  crmError: string | null;
  crmSentAt: Date | null;
  feedback: typeof salesHandoffFeedback.$inferSelect | null;
}): HandoffView {
  return {
    ...r.handoff,
    crm: r.crmStatus === null ? null : { status: r.crmStatus, attempts: r.crmAttempts ?? 0, error: r.crmError, deliveredAt: r.crmSentAt },
    feedback: r.feedback
      ? { outcome: r.feedback.outcome, reason: r.feedback.reason, detail: r.feedback.detail, eventId: r.feedback.eventId, receivedAt: r.feedback.createdAt }
      : null,
  };
}

function joined(db: DbOrTx) {
  return db
    .select(SELECT)
    .from(salesHandoffs)
    .leftJoin(messages, and(eq(messages.idempotencyKey, salesHandoffs.idempotencyKey), eq(messages.channel, 'crm')))
    .leftJoin(salesHandoffFeedback, eq(salesHandoffFeedback.handoffId, salesHandoffs.id));
}

export async function getHandoff(db: DbOrTx, id: string): Promise<HandoffView | undefined> {
  const [row] = await joined(db).where(eq(salesHandoffs.id, id)).limit(1);
  return row ? toView(row) : undefined;
}

export type HandoffListFilter = {
  status?: string | undefined;
  repId?: string | undefined;
  team?: string | undefined;
  contactId?: string | undefined;
  /** Keyset position: rows strictly older than (createdAt, id). `createdAt` is Postgres' own text, microseconds kept. */
  before?: { createdAt: string; id: string } | undefined;
  limit: number;
};

/** Newest first; each item also carries its exact creation time as text for the next page's cursor. */
export async function listHandoffs(db: DbOrTx, f: HandoffListFilter): Promise<(HandoffView & { cursorTime: string })[]> {
  const filters: SQL[] = [];
  if (f.status) filters.push(eq(salesHandoffs.status, f.status));
  if (f.repId) filters.push(eq(salesHandoffs.repId, f.repId));
  if (f.team) filters.push(eq(salesHandoffs.team, f.team));
  if (f.contactId) filters.push(eq(salesHandoffs.contactId, f.contactId));
  if (f.before) filters.push(sql`(${salesHandoffs.createdAt}, ${salesHandoffs.id}) < (${f.before.createdAt}::timestamptz, ${f.before.id}::uuid)`);
  const rows = await db
    .select({ ...SELECT, cursorTime: sql<string>`${salesHandoffs.createdAt}::text` })
    .from(salesHandoffs)
    .leftJoin(messages, and(eq(messages.idempotencyKey, salesHandoffs.idempotencyKey), eq(messages.channel, 'crm')))
    .leftJoin(salesHandoffFeedback, eq(salesHandoffFeedback.handoffId, salesHandoffs.id))
    .where(and(...filters))
    .orderBy(desc(salesHandoffs.createdAt), desc(salesHandoffs.id))
    .limit(f.limit);
  return rows.map((r) => ({ ...toView(r), cursorTime: r.cursorTime }));
}

export const handoffEventId = (handoffId: string, outcome: HandoffFeedback['outcome']) => `handoff:${handoffId}:${outcome}`;

export type FeedbackResult = { handoff: HandoffView; duplicate: boolean; event: IngestOutcome };

/**
 * Applies the CRM's answer once, then ingests its event.
 * @throws NotFoundError for an unknown hand-off, ConflictError when it was already answered differently
 */
export async function recordHandoffFeedback(deps: { db: Db; ingest: IngestDeps }, id: string, fb: HandoffFeedback, actor: string): Promise<FeedbackResult> {
  const eventId = handoffEventId(id, fb.outcome);
  let contactEvents: IncomingEvent[] = [];
  const { handoff, duplicate, occurredAt } = await deps.db.transaction(async (tx) => {
    const [h] = await tx.select().from(salesHandoffs).where(eq(salesHandoffs.id, id)).for('update');
    if (!h) throw new NotFoundError('Handoff', id);
    if (h.status === fb.outcome) {
      const [prev] = await tx.select({ at: salesHandoffFeedback.createdAt }).from(salesHandoffFeedback).where(eq(salesHandoffFeedback.handoffId, id));
      return { handoff: h, duplicate: true, occurredAt: prev?.at ?? h.updatedAt };
    }
    if (h.status === 'accepted' || h.status === 'rejected') {
      throw new ConflictError(`Handoff "${id}" was already ${h.status}; it cannot now be ${fb.outcome}.`);
    }
    const reason = fb.outcome === 'rejected' ? fb.reason : null;
    const [updated] = await tx
      .update(salesHandoffs)
      .set({ status: fb.outcome, reason, updatedAt: sql`now()` })
      .where(eq(salesHandoffs.id, id))
      .returning();
    const detail = {
      ...(fb.outcome === 'accepted' && fb.opportunityId ? { opportunityId: fb.opportunityId } : {}),
      ...(fb.note ? { note: fb.note } : {}),
      ...(fb.by ? { by: fb.by } : {}),
    };
    const [stored] = await tx
      .insert(salesHandoffFeedback)
      .values({ handoffId: id, outcome: fb.outcome, reason, detail, eventId, actor })
      .returning({ createdAt: salesHandoffFeedback.createdAt });
    contactEvents = await applyToContact(tx, updated!, fb, actor);
    return { handoff: updated!, duplicate: false, occurredAt: stored!.createdAt };
  });
  // After the commit: routing signals Temporal, which must not see an answer that could still roll back.
  await routeStoredEvents(deps.ingest, contactEvents);
  const event = await ingestEvent(deps.ingest, {
    id: eventId,
    type: `handoff.${fb.outcome}`,
    contactId: handoff.contactId,
    properties: {
      handoff_id: handoff.id,
      rep_id: handoff.repId,
      team: handoff.team,
      journey_id: handoff.journeyId,
      ...(fb.outcome === 'rejected' ? { reason: fb.reason } : {}),
      ...(fb.outcome === 'accepted' && fb.opportunityId ? { opportunity_id: fb.opportunityId } : {}),
    },
    occurredAt,
    source: 'crm',
  });
  return { handoff: (await getHandoff(deps.db, id))!, duplicate, event };
}

const stageIndex = (s: string) => LIFECYCLE_ORDER.indexOf(s as (typeof LIFECYCLE_ORDER)[number]);

/** Applies the answer to the contact; returns its `contact.updated` (source `crm`) to route after the commit. */
async function applyToContact(tx: DbOrTx, h: HandoffRow, fb: HandoffFeedback, actor: string): Promise<IncomingEvent[]> {
  const [c] = await tx.select().from(contacts).where(eq(contacts.id, h.contactId)).for('update');
  if (!c) return [];
  const changed = async () => {
    const [after] = await tx.select().from(contacts).where(eq(contacts.id, c.id));
    return after ? (await recordContactChange(tx, { before: c, after, source: 'crm', key: `handoff:${h.id}:${fb.outcome}` })).events : [];
  };
  const audit = (suffix: string, action: string, detail: Record<string, unknown>) =>
    tx.insert(contactAudit).values({ idempotencyKey: `handoff:${h.id}:${suffix}`, contactId: c.id, action, detail: { ...detail, handoffId: h.id }, actor }).onConflictDoNothing();
  if (fb.outcome === 'accepted') {
    // A contact who is already an opportunity or customer stays one.
    if (stageIndex(c.lifecycleStage) < stageIndex('sql')) {
      await tx.update(contacts).set({ lifecycleStage: 'sql', updatedAt: sql`now()` }).where(eq(contacts.id, c.id));
      await audit('lifecycle', 'set_lifecycle_stage', { stage: 'sql', previous: c.lifecycleStage });
    }
    return changed();
  }
  // Recycled into nurture: only a lead that sales was working (mql/sql) moves back; a customer is never demoted.
  const recycle = c.lifecycleStage === 'mql' || c.lifecycleStage === 'sql';
  const tags = c.tags.includes(RECYCLED_TAG) ? c.tags : [...c.tags, RECYCLED_TAG];
  await tx
    .update(contacts)
    .set({ tags, ...(recycle ? { lifecycleStage: 'lead' } : {}), updatedAt: sql`now()` })
    .where(eq(contacts.id, c.id));
  if (recycle) await audit('lifecycle', 'set_lifecycle_stage', { stage: 'lead', previous: c.lifecycleStage, reason: fb.reason });
  await audit('tag', 'tag', { tags: [RECYCLED_TAG], reason: fb.reason });
  return changed();
}
