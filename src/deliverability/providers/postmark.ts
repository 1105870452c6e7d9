/**
 * Postmark's bounce and spam-complaint webhooks (JSON, one event per request), authenticated by the HTTP Basic
 * credentials written into the webhook URL in Postmark (POSTMARK_WEBHOOK_USER / POSTMARK_WEBHOOK_PASSWORD). Postmark's
 * `MessageID` is its own; our message is found by the metadata the mailer adds (src/deliverability/correlation.ts).
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { z } from 'zod';
import { BounceClass } from '../classify';
import { addressOf, FeedbackSource, normalizeMessageId, uniq, type Feedback } from '../feedback';
import { CORRELATION_KEY } from '../correlation';
import { header, parseHeaders, splitHeaderBlock } from '../mime';

export const PostmarkBody = z.object({
  RecordType: z.string().min(1).max(40),
  // Postmark's ids pass 2^32; kept only as text (email_feedback.event_id), so any safe integer is fine.
  ID: z.union([z.number().refine(Number.isSafeInteger, 'must be an integer'), z.string().min(1).max(100)]),
  Type: z.string().max(60).optional(),
  TypeCode: z.number().int().min(0).max(2_147_483_647).optional(),
  MessageID: z.string().max(100).optional(),
  Email: z.string().max(320).optional(),
  Details: z.string().max(4000).optional(),
  Description: z.string().max(2000).optional(),
  BouncedAt: z.string().max(60).optional(),
  Metadata: z.record(z.string(), z.unknown()).optional(),
  /** The bounce message itself when "include content" is on: its headers name our Message-ID. */
  Content: z.string().max(512 * 1024).optional(),
}).loose();
export type PostmarkBody = z.infer<typeof PostmarkBody>;

/** Postmark's bounce types (by `Type`) onto our classes; a type not here (AutoResponder, Subscribe…) is not a bounce. */
const TYPES: Record<string, BounceClass> = {
  HardBounce: BounceClass.Hard,
  BadEmailAddress: BounceClass.Hard,
  ManuallyDeactivated: BounceClass.Hard,
  SoftBounce: BounceClass.Soft,
  Transient: BounceClass.Soft,
  DnsError: BounceClass.Soft,
  Unknown: BounceClass.Soft,
  Blocked: BounceClass.Policy,
  SpamNotification: BounceClass.Policy,
  VirusNotification: BounceClass.Policy,
  ChallengeVerification: BounceClass.Policy,
  DMARCPolicy: BounceClass.Policy,
};

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time check of `Authorization: Basic …` against the configured credentials. */
export function postmarkAuthorized(authorization: string | undefined, user: string, password: string): boolean {
  const m = /^Basic ([A-Za-z0-9+/=]{1,400})$/.exec(authorization ?? '');
  if (!m) return false;
  return timingSafeEqual(digest(Buffer.from(m[1]!, 'base64').toString('utf8')), digest(`${user}:${password}`));
}

export function postmarkFeedback(b: PostmarkBody, now = new Date()): Feedback | undefined {
  const key = b.Metadata?.[CORRELATION_KEY];
  const original = b.Content ? header(parseHeaders(splitHeaderBlock(Buffer.from(b.Content, 'utf8')).head), 'message-id') : undefined;
  const refs = { messageIds: uniq([normalizeMessageId(original)]), idempotencyKeys: uniq([typeof key === 'string' ? key.slice(0, 300) : undefined]) };
  const at = b.BouncedAt ? Date.parse(b.BouncedAt) : NaN;
  const base = { source: FeedbackSource.Postmark, eventId: `${b.RecordType}:${b.ID}`, occurredAt: Number.isFinite(at) ? new Date(at) : now, refs, recipient: addressOf(b.Email) };
  if (b.RecordType === 'SpamComplaint' || b.Type === 'SpamComplaint') return { ...base, kind: 'complaint', feedbackType: 'abuse' };
  if (b.RecordType !== 'Bounce') return undefined;
  const klass = b.Type ? TYPES[b.Type] : undefined;
  if (!klass) return undefined;
  return { ...base, kind: 'bounce', class: klass, code: `postmark/${b.Type}`.slice(0, 60), diagnostic: (b.Details ?? b.Description)?.slice(0, 500) ?? null };
}
