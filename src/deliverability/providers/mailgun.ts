/**
 * Mailgun webhooks (JSON): `signature: { timestamp, token, signature }` in the body, the signature being the hex
 * HMAC-SHA256 of timestamp + token under the webhook signing key (MAILGUN_WEBHOOK_SIGNING_KEY); `event-data` holds the
 * event. `failed` (severity permanent / temporary) is a bounce, `complained` a complaint; other events are ignored.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { classifyBounce } from '../classify';
import { addressOf, FeedbackSource, normalizeMessageId, uniq, type Feedback } from '../feedback';
import { CORRELATION_KEY } from '../correlation';

export const MailgunBody = z.object({
  signature: z.object({
    timestamp: z.string().regex(/^\d{1,12}$/, 'must be seconds since the epoch'),
    token: z.string().min(1).max(200),
    signature: z.string().regex(/^[0-9a-f]{64}$/, 'must be a hex HMAC-SHA256'),
  }),
  'event-data': z.object({
    id: z.string().min(1).max(200),
    event: z.string().min(1).max(40),
    timestamp: z.number().optional(),
    severity: z.string().max(20).optional(),
    reason: z.string().max(60).optional(),
    recipient: z.string().max(320).optional(),
    'delivery-status': z.object({
      code: z.union([z.number(), z.string().max(20)]).optional(),
      message: z.string().max(2000).optional(),
      description: z.string().max(2000).optional(),
      'enhanced-code': z.string().max(20).optional(),
    }).loose().optional(),
    message: z.object({ headers: z.record(z.string(), z.unknown()).optional() }).loose().optional(),
    'user-variables': z.record(z.string(), z.unknown()).optional(),
  }).loose(),
});
export type MailgunBody = z.infer<typeof MailgunBody>;

export function mailgunSignature(signingKey: string, timestamp: string, token: string): string {
  return createHmac('sha256', signingKey).update(timestamp + token).digest('hex');
}

export function verifyMailgun(signingKey: string, body: MailgunBody): boolean {
  const expected = Buffer.from(mailgunSignature(signingKey, body.signature.timestamp, body.signature.token), 'hex');
  const given = Buffer.from(body.signature.signature, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function mailgunFeedback(body: MailgunBody, now = new Date()): Feedback | undefined {
  const e = body['event-data'];
  const headers = e.message?.headers ?? {};
  const vars = e['user-variables'] ?? {};
  const refs = {
    messageIds: uniq([normalizeMessageId(typeof headers['message-id'] === 'string' ? headers['message-id'] : undefined)]),
    idempotencyKeys: uniq([typeof vars[CORRELATION_KEY] === 'string' ? (vars[CORRELATION_KEY] as string).slice(0, 300) : undefined]),
  };
  const occurredAt = e.timestamp !== undefined && Number.isFinite(e.timestamp) ? new Date(e.timestamp * 1000) : now;
  const base = { source: FeedbackSource.Mailgun, eventId: e.id, occurredAt: Number.isNaN(occurredAt.getTime()) ? now : occurredAt, refs, recipient: addressOf(e.recipient) };
  if (e.event === 'complained') return { ...base, kind: 'complaint', feedbackType: 'abuse' };
  if (e.event !== 'failed') return undefined;
  const ds = e['delivery-status'] ?? {};
  const diagnostic = [ds['enhanced-code'], ds.code !== undefined ? String(ds.code) : undefined, ds.message, ds.description].filter(Boolean).join(' ').slice(0, 500);
  const classified = classifyBounce(ds['enhanced-code'] ?? (ds.code !== undefined ? String(ds.code) : undefined), diagnostic);
  // Mailgun's own verdict when the receiver's reply says nothing usable (605: an address Mailgun already suppresses).
  const permanent = e.severity === 'permanent';
  const klass = classified && !(classified.class === 'hard' && !permanent) ? classified.class : permanent ? 'hard' : 'soft';
  return { ...base, kind: 'bounce', class: klass, code: classified?.code ?? (e.reason ? `mailgun/${e.reason}`.slice(0, 60) : null), diagnostic: diagnostic || null };
}
