/**
 * A bounce or complaint, whatever brought it (a DSN or ARF report posted raw, or a provider's signed webhook), in the
 * one shape src/deliverability/apply.ts applies. Pure types and small helpers; no I/O.
 */
import type { BounceClass } from './classify';

export const FeedbackSource = { Smtp: 'smtp', Dsn: 'dsn', Arf: 'arf', Ses: 'ses', Mailgun: 'mailgun', SendGrid: 'sendgrid', Postmark: 'postmark' } as const;
export type FeedbackSource = (typeof FeedbackSource)[keyof typeof FeedbackSource];

export type Feedback = {
  source: FeedbackSource;
  /**
   * The provider's id for this event (SES feedbackId, Mailgun event id, SendGrid sg_event_id, Postmark ID) or, for a
   * raw report, its own Message-ID (else a hash of its bytes), for a refusal at send the message's idempotency key: a
   * redelivery carries the same one and is applied once.
   */
  eventId: string;
  occurredAt: Date;
  /**
   * Where to find our message: the Message-IDs and X-Itinera-Idempotency-Key values the report names, and the
   * `messages.id` of a verified VERP address the report was delivered to (src/deliverability/verp.ts).
   */
  refs: { messageIds: string[]; idempotencyKeys: string[]; messageRowIds?: string[] };
  /** The address the report is about, as it says (lower-cased); informational — our message's recipient is suppressed. */
  recipient: string | null;
} & (
  | { kind: 'bounce'; class: BounceClass; code: string | null; diagnostic: string | null }
  | { kind: 'complaint'; feedbackType: string | null }
);

/** `<id@host>` as stored in messages.provider_message_id, from a Message-ID written with or without brackets. */
export function normalizeMessageId(value: string | null | undefined): string | undefined {
  if (!value) return undefined;
  const m = /<?([^<>\s@]{1,200}@[^<>\s@]{1,200})>?/.exec(value.trim());
  return m ? `<${m[1]}>` : undefined;
}

/** Lower-cased address from `rfc822; a@b`, `<a@b>` or `a@b`. */
export function addressOf(value: string | null | undefined): string | null {
  if (!value) return null;
  const v = value.replace(/^\s*rfc822\s*;/i, '').trim();
  const m = /<?([^<>\s;]{1,254}@[^<>\s;]{1,254})>?/.exec(v);
  return m ? m[1]!.toLowerCase() : null;
}

export const uniq = (xs: (string | undefined)[]): string[] => [...new Set(xs.filter((x): x is string => x !== undefined && x.length > 0))];
