/**
 * Applies a bounce or complaint (src/deliverability/feedback.ts), once per provider event:
 *
 * - matched to our message by the Message-ID the report names (messages.provider_message_id), our
 *   X-Itinera-Idempotency-Key header or the VERP address it was delivered to (src/deliverability/verp.ts); unmatched, it is recorded as `unmatched` and nothing else changes;
 * - hard bounce: the message becomes `bounced` and its recipient is suppressed (`bounced`, which stops transactional
 *   mail too; src/contacts/may-deliver.ts);
 * - soft bounce: counted; the `softBounceLimit`-th within `softBounceWindowMs` suppresses the address as a hard bounce;
 * - policy bounce (5.7.x…): recorded and reported, the address stays deliverable;
 * - complaint: the address is suppressed for marketing (`complaint`); an existing suppression is never weakened;
 * - then `email.bounced` / `email.complained` goes through the ingest path to the contact's runs, with an id derived
 *   from the provider event, so a redelivery is a duplicate there too.
 */
import { and, desc, eq, inArray, or, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { contacts, emailFeedback, messages, suppressions } from '../db/schema';
import { MARKETING_ONLY_SUPPRESSIONS, SuppressionReason } from '../contacts/may-deliver';
import { ingestEvent, type IngestDeps } from '../ingest/event';
import { storableText } from '../bounds';
import type { Feedback } from './feedback';
import { DEFAULT_DELIVERABILITY, type DeliverabilityOptions } from './settings';

export { DEFAULT_DELIVERABILITY, type DeliverabilityOptions };


export const FeedbackOutcome = { Suppressed: 'suppressed', Counted: 'counted', Reported: 'reported', Unmatched: 'unmatched' } as const;
export type FeedbackOutcome = (typeof FeedbackOutcome)[keyof typeof FeedbackOutcome];

export type FeedbackResult = { matched: boolean; duplicate: boolean; outcome: FeedbackOutcome; messageId: string | null };

export const EMAIL_BOUNCED = 'email.bounced';
export const EMAIL_COMPLAINED = 'email.complained';

type Matched = { id: string; idempotencyKey: string; contactId: string | null; journeyId: string | null; stepId: string | null; recipient: string };

async function findMessage(db: Db, refs: Feedback['refs']): Promise<Matched | undefined> {
  const by = [
    ...(refs.messageIds.length ? [inArray(messages.providerMessageId, refs.messageIds.slice(0, 20))] : []),
    ...(refs.idempotencyKeys.length ? [inArray(messages.idempotencyKey, refs.idempotencyKeys.slice(0, 20))] : []),
    ...(refs.messageRowIds?.length ? [inArray(messages.id, refs.messageRowIds.slice(0, 20))] : []),
  ];
  if (by.length === 0) return undefined;
  const [m] = await db
    .select({ id: messages.id, idempotencyKey: messages.idempotencyKey, contactId: messages.contactId, journeyId: messages.journeyId, stepId: messages.stepId, recipient: messages.recipient })
    .from(messages)
    .where(and(eq(messages.channel, 'email'), or(...by)))
    .orderBy(desc(messages.createdAt))
    .limit(1);
  return m;
}

/** The event type and properties journeys see. */
function eventOf(fb: Feedback, m: Matched): { type: string; properties: Record<string, unknown> } {
  if (fb.kind === 'bounce') {
    return { type: EMAIL_BOUNCED, properties: { message_key: m.idempotencyKey, kind: fb.class, code: fb.code, provider: fb.source, step_id: m.stepId } };
  }
  return { type: EMAIL_COMPLAINED, properties: { message_key: m.idempotencyKey, feedback_type: fb.feedbackType, provider: fb.source, step_id: m.stepId } };
}

export async function applyFeedback(deps: { db: Db; ingest: IngestDeps; options?: DeliverabilityOptions }, fb: Feedback): Promise<FeedbackResult> {
  const { db } = deps;
  const options = deps.options ?? DEFAULT_DELIVERABILITY;
  const message = await findMessage(db, fb.refs);
  const suppress = (tx: Db, address: string, reason: SuppressionReason) =>
    tx
      .insert(suppressions)
      .values({ channel: 'email', address, reason })
      .onConflictDoUpdate({
        target: [suppressions.channel, suppressions.address],
        // A bounce replaces an unsubscribe or complaint (it stops more); nothing replaces a bounce, manual or erased entry.
        set: { reason },
        setWhere: reason === SuppressionReason.Bounced ? inArray(suppressions.reason, [...MARKETING_ONLY_SUPPRESSIONS]) : sql`false`,
      });

  const applied = await db.transaction(async (tx) => {
    const [row] = await tx
      .insert(emailFeedback)
      .values({
        source: fb.source,
        eventId: fb.eventId.slice(0, 300),
        kind: fb.kind,
        bounceClass: fb.kind === 'bounce' ? fb.class : null,
        code: fb.kind === 'bounce' ? fb.code : fb.feedbackType,
        diagnostic: fb.kind === 'bounce' && fb.diagnostic ? storableText(fb.diagnostic) : null,
        messageId: message?.id ?? null,
        contactId: message?.contactId ?? null,
        journeyId: message?.journeyId ?? null,
        stepId: message?.stepId ?? null,
        outcome: message ? FeedbackOutcome.Reported : FeedbackOutcome.Unmatched,
        occurredAt: fb.occurredAt,
      })
      .onConflictDoNothing()
      .returning({ id: emailFeedback.id });
    if (!row) {
      const [before] = await tx.select({ outcome: emailFeedback.outcome }).from(emailFeedback).where(and(eq(emailFeedback.source, fb.source), eq(emailFeedback.eventId, fb.eventId.slice(0, 300))));
      return { duplicate: true, outcome: (before?.outcome ?? FeedbackOutcome.Unmatched) as FeedbackOutcome };
    }
    // An erased contact's message has no recipient left: recorded, nothing to suppress.
    if (!message || !message.recipient) return { duplicate: false, outcome: message ? FeedbackOutcome.Reported : FeedbackOutcome.Unmatched };
    const address = message.recipient.toLowerCase();
    let outcome: FeedbackOutcome = FeedbackOutcome.Reported;
    if (fb.kind === 'complaint') {
      await suppress(tx, address, SuppressionReason.Complaint);
      outcome = FeedbackOutcome.Suppressed;
    } else if (fb.class === 'hard') {
      await suppress(tx, address, SuppressionReason.Bounced);
      outcome = FeedbackOutcome.Suppressed;
    } else if (fb.class === 'soft') {
      // One address's soft bounces are counted one report at a time, so two arriving together cannot both miss the limit.
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`soft-bounce:${address}`}))`);
      const since = new Date(fb.occurredAt.getTime() - options.softBounceWindowMs);
      const res = (await tx.execute(sql`
        select count(*)::int as n from ${emailFeedback} f join ${messages} m on m.id = f.message_id
        where f.kind = 'bounce' and f.bounce_class = 'soft' and m.recipient = ${message.recipient}
          and f.occurred_at > ${since.toISOString()}::timestamptz and f.occurred_at <= ${fb.occurredAt.toISOString()}::timestamptz`)) as unknown as { rows?: { n: number }[] };
      const n = Number((res.rows ?? (res as unknown as { n: number }[]))[0]?.n ?? 0);
      if (n >= options.softBounceLimit) {
        await suppress(tx, address, SuppressionReason.Bounced);
        outcome = FeedbackOutcome.Suppressed;
      } else outcome = FeedbackOutcome.Counted;
    }
    if (fb.kind === 'bounce' && (fb.class === 'hard' || outcome === FeedbackOutcome.Suppressed)) {
      await tx
        .update(messages)
        .set({ status: 'bounced', error: storableText(`bounce ${fb.code ?? ''} (${fb.source})${fb.diagnostic ? `: ${fb.diagnostic}` : ''}`), updatedAt: sql`now()` })
        .where(and(eq(messages.id, message.id), inArray(messages.status, ['sent', 'delivered'])));
    }
    await tx.update(emailFeedback).set({ outcome }).where(eq(emailFeedback.id, row.id));
    return { duplicate: false, outcome };
  });

  // Routed after the commit, and again on a redelivery: the ingest path stores the event once by its id and routes it
  // until routing succeeds, so a failure here is retried by the provider's redelivery and never doubles.
  if (message?.contactId) {
    const [alive] = await db.select({ id: contacts.id }).from(contacts).where(and(eq(contacts.id, message.contactId), sql`${contacts.erasedAt} is null`)).limit(1);
    if (alive) {
      const e = eventOf(fb, message);
      // Stamped when we learn of it: a report's own times (the MTA's Arrival-Date is about when we sent) can be earlier
      // than the step now waiting for it, and a wait only hears events that happen after it began.
      await ingestEvent(deps.ingest, { id: `${e.type}:${fb.source}:${fb.eventId.slice(0, 300)}`, type: e.type, contactId: message.contactId, properties: { ...e.properties, reported_at: fb.occurredAt.toISOString() }, occurredAt: new Date(), source: 'deliverability' });
    }
  }
  return { matched: message !== undefined, duplicate: applied.duplicate, outcome: applied.outcome, messageId: message?.id ?? null };
}
