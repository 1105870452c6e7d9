/**
 * SendGrid's signed Event Webhook: a JSON array of events, signed with ECDSA P-256 / SHA-256 over the
 * `X-Twilio-Email-Event-Webhook-Timestamp` header followed by the raw body, the base64 DER signature in
 * `X-Twilio-Email-Event-Webhook-Signature`; the public key (SENDGRID_WEBHOOK_PUBLIC_KEY) is the base64 DER
 * SubjectPublicKeyInfo SendGrid shows. `bounce` (type bounce or blocked) is a bounce, `spamreport` a complaint;
 * `deferred` is SendGrid still trying and, like every other event, is ignored.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { classifyBounce } from '../classify';
import { addressOf, FeedbackSource, normalizeMessageId, uniq, type Feedback } from '../feedback';
import { CORRELATION_KEY } from '../correlation';

export const SENDGRID_SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const SENDGRID_TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

/** The public key as SendGrid shows it (base64 DER) or as PEM. Throws a sentence when it is neither. */
export function sendgridPublicKey(value: string): KeyObject {
  try {
    const v = value.trim();
    const key = v.includes('BEGIN PUBLIC KEY') ? createPublicKey(v) : createPublicKey({ key: Buffer.from(v, 'base64'), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ec') throw new Error('not an EC key');
    return key;
  } catch {
    throw new Error('is not an ECDSA public key (base64 DER as SendGrid shows it, or PEM)');
  }
}

export function verifySendgrid(key: KeyObject, timestamp: string | undefined, rawBody: Buffer, signature: string | undefined): boolean {
  if (!timestamp || !signature || timestamp.length > 20 || signature.length > 200) return false;
  try {
    return verify('sha256', Buffer.concat([Buffer.from(timestamp, 'utf8'), rawBody]), key, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

const Event = z.object({
  event: z.string().min(1).max(40),
  email: z.string().max(320).optional(),
  timestamp: z.number().optional(),
  sg_event_id: z.string().min(1).max(200),
  sg_message_id: z.string().max(300).optional(),
  'smtp-id': z.string().max(400).optional(),
  status: z.string().max(40).optional(),
  reason: z.string().max(2000).optional(),
  type: z.string().max(40).optional(),
  bounce_classification: z.string().max(60).optional(),
  [CORRELATION_KEY]: z.string().max(300).optional(),
}).loose();
export const SendgridBody = z.array(Event).min(1).max(1000);
export type SendgridEvent = z.infer<typeof Event>;

export function sendgridFeedback(e: SendgridEvent, now = new Date()): Feedback | undefined {
  const refs = { messageIds: uniq([normalizeMessageId(e['smtp-id'])]), idempotencyKeys: uniq([e[CORRELATION_KEY]]) };
  const at = e.timestamp !== undefined ? new Date(e.timestamp * 1000) : now;
  const base = { source: FeedbackSource.SendGrid, eventId: e.sg_event_id, occurredAt: Number.isNaN(at.getTime()) ? now : at, refs, recipient: addressOf(e.email) };
  if (e.event === 'spamreport') return { ...base, kind: 'complaint', feedbackType: 'abuse' };
  if (e.event !== 'bounce') return undefined;
  const classified = classifyBounce(e.status, e.reason);
  // A `blocked` event is the receiver refusing us (reputation, content), not the address: policy unless it says 5.1.x.
  const klass = e.type === 'blocked' && classified?.class !== 'hard' ? 'policy' : (classified?.class ?? 'soft');
  return { ...base, kind: 'bounce', class: klass, code: classified?.code ?? e.status ?? null, diagnostic: e.reason?.slice(0, 500) ?? null };
}
