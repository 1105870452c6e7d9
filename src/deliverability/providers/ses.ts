/**
 * Amazon SES bounce and complaint notifications, delivered by Amazon SNS to an HTTPS subscription. SNS signs each
 * message (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) with a certificate it serves at `SigningCertURL`; we
 * fetch that certificate only from an `https://sns.<region>.amazonaws.com[.cn]/…pem` URL, only through the guarded
 * outbound client, and accept only the topics configured (SES_SNS_TOPIC_ARNS). A subscription confirmation, once
 * verified, is confirmed by fetching its SubscribeURL (same host rule).
 */
import { createPublicKey, verify as verifySignature, X509Certificate } from 'node:crypto';
import { z } from 'zod';
import type { OutboundHttp } from '../../net/outbound';
import { classifyBounce } from '../classify';
import { addressOf, FeedbackSource, normalizeMessageId, uniq, type Feedback } from '../feedback';
import { IDEMPOTENCY_HEADER } from '../../channels/email/mailer';

/** The hosts SNS serves signing certificates and subscription confirmations from. */
export const SNS_HOST = /^sns\.[a-z0-9-]{1,30}\.amazonaws\.com(\.cn)?$/;

export type SesOptions = {
  /** SES_SNS_TOPIC_ARNS: the topics whose notifications are accepted; any other is refused. */
  topicArns: readonly string[];
  /** The guarded outbound client certificates and confirmations are fetched through. */
  http: OutboundHttp;
  /**
   * Which certificate and confirmation URLs may be fetched. @default https and a host matching {@link SNS_HOST}.
   * Only tests replace it (a local stand-in serving a test certificate); no setting reaches it.
   */
  allowUrl?: (url: URL) => boolean;
};

export const defaultSnsUrlAllowed = (url: URL): boolean => url.protocol === 'https:' && SNS_HOST.test(url.hostname) && url.port === '';

const str = (max: number) => z.string().min(1).max(max);
export const SnsEnvelope = z.object({
  Type: z.enum(['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation']),
  MessageId: str(100),
  TopicArn: str(256).regex(/^arn:aws(-cn|-us-gov)?:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+$/, 'must be an SNS topic ARN'),
  Message: z.string().max(256 * 1024),
  Timestamp: str(40),
  SignatureVersion: z.enum(['1', '2']),
  Signature: str(1024),
  SigningCertURL: str(1024),
  Subject: z.string().max(200).optional(),
  Token: z.string().max(1024).optional(),
  SubscribeURL: z.string().max(2048).optional(),
  UnsubscribeURL: z.string().max(2048).optional(),
});
export type SnsEnvelope = z.infer<typeof SnsEnvelope>;

/** The string SNS signs: named fields in byte order, each as `Name\nvalue\n` (RFC-less; per the SNS documentation). */
export function snsStringToSign(m: SnsEnvelope): string {
  const fields = m.Type === 'Notification' ? ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'] : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
  return fields
    .filter((f) => (m as Record<string, unknown>)[f] !== undefined)
    .map((f) => `${f}\n${String((m as Record<string, unknown>)[f])}\n`)
    .join('');
}

export class SnsRefused extends Error {
  override name = 'SnsRefused';
}

const MAX_CACHED_CERTS = 20;

/** Verifies SNS envelopes, caching the few certificates SNS rotates between. */
export function createSnsVerifier(opts: SesOptions) {
  const allowed = opts.allowUrl ?? defaultSnsUrlAllowed;
  const certs = new Map<string, ReturnType<typeof createPublicKey>>();

  async function certificate(urlText: string) {
    const cached = certs.get(urlText);
    if (cached) return cached;
    let url: URL;
    try {
      url = new URL(urlText);
    } catch {
      throw new SnsRefused('SigningCertURL is not a URL');
    }
    if (!allowed(url) || !url.pathname.endsWith('.pem')) throw new SnsRefused('SigningCertURL is not an Amazon SNS certificate URL (https://sns.<region>.amazonaws.com/….pem)');
    const res = await opts.http.request(url.toString(), { method: 'GET', timeoutMs: 10_000 });
    if (res.status !== 200 || res.truncated) throw new SnsRefused(`the signing certificate could not be fetched (HTTP ${res.status})`);
    let key;
    try {
      const cert = new X509Certificate(res.body);
      const now = Date.now();
      if (Date.parse(cert.validTo) < now || Date.parse(cert.validFrom) > now) throw new SnsRefused('the signing certificate is not valid now');
      key = cert.publicKey;
    } catch (err) {
      if (err instanceof SnsRefused) throw err;
      throw new SnsRefused('the signing certificate is not an X.509 certificate');
    }
    if (certs.size >= MAX_CACHED_CERTS) certs.delete(certs.keys().next().value!);
    certs.set(urlText, key);
    return key;
  }

  return {
    /** The envelope, once its topic is ours and its signature checks out. */
    async verify(body: unknown): Promise<SnsEnvelope> {
      const parsed = SnsEnvelope.safeParse(body);
      if (!parsed.success) throw new SnsRefused(`not an SNS message: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'} ${i.message}`).slice(0, 3).join('; ')}`);
      const m = parsed.data;
      if (!opts.topicArns.includes(m.TopicArn)) throw new SnsRefused('the topic is not one of SES_SNS_TOPIC_ARNS');
      const key = await certificate(m.SigningCertURL);
      const ok = verifySignature(m.SignatureVersion === '1' ? 'sha1' : 'sha256', Buffer.from(snsStringToSign(m), 'utf8'), key, Buffer.from(m.Signature, 'base64'));
      if (!ok) throw new SnsRefused('the signature does not match the message');
      return m;
    },
    /** Confirms a verified subscription by fetching its SubscribeURL (an SNS URL only). */
    async confirm(m: SnsEnvelope): Promise<void> {
      let url: URL;
      try {
        url = new URL(m.SubscribeURL ?? '');
      } catch {
        throw new SnsRefused('SubscribeURL is not a URL');
      }
      if (!allowed(url)) throw new SnsRefused('SubscribeURL is not an Amazon SNS URL');
      const res = await opts.http.request(url.toString(), { method: 'GET', timeoutMs: 10_000 });
      if (res.status !== 200) throw new SnsRefused(`the subscription could not be confirmed (HTTP ${res.status})`);
    },
  };
}

const Recipient = z.object({ emailAddress: z.string().max(320), action: z.string().max(40).optional(), status: z.string().max(40).optional(), diagnosticCode: z.string().max(2000).optional() });
const Mail = z.object({
  messageId: z.string().max(200).optional(),
  timestamp: z.string().max(40).optional(),
  headers: z.array(z.object({ name: z.string().max(200), value: z.string().max(2000) })).max(200).optional(),
  commonHeaders: z.object({ messageId: z.string().max(400).optional() }).loose().optional(),
}).loose();
const SesNotification = z.object({
  notificationType: z.string().max(40).optional(),
  eventType: z.string().max(40).optional(),
  mail: Mail,
  bounce: z.object({
    feedbackId: z.string().min(1).max(300),
    bounceType: z.string().max(40),
    bounceSubType: z.string().max(60).optional(),
    bouncedRecipients: z.array(Recipient).min(1).max(100),
    timestamp: z.string().max(40).optional(),
  }).loose().optional(),
  complaint: z.object({
    feedbackId: z.string().min(1).max(300),
    complainedRecipients: z.array(z.object({ emailAddress: z.string().max(320) })).max(100).default([]),
    complaintFeedbackType: z.string().max(40).optional(),
    timestamp: z.string().max(40).optional(),
  }).loose().optional(),
}).loose();

const when = (s: string | undefined, fallback: Date) => {
  const t = s ? Date.parse(s) : NaN;
  return Number.isFinite(t) ? new Date(t) : fallback;
};

/**
 * The bounce or complaint an SES notification carries (`notificationType` from identity notifications, `eventType`
 * from configuration-set event publishing). Undefined for the other types (Delivery, Send, Open…): nothing to apply.
 */
export function sesFeedback(envelope: SnsEnvelope, now = new Date()): Feedback | undefined {
  let json: unknown;
  try {
    json = JSON.parse(envelope.Message);
  } catch {
    throw new SnsRefused('the SNS Message is not the JSON of an SES notification');
  }
  const parsed = SesNotification.safeParse(json);
  if (!parsed.success) throw new SnsRefused(`not an SES notification: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'Message'} ${i.message}`).slice(0, 3).join('; ')}`);
  const n = parsed.data;
  const type = n.notificationType ?? n.eventType;
  const headers = n.mail.headers ?? [];
  const headerValue = (name: string) => headers.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;
  const refs = {
    messageIds: uniq([normalizeMessageId(n.mail.commonHeaders?.messageId), normalizeMessageId(headerValue('message-id'))]),
    idempotencyKeys: uniq([headerValue(IDEMPOTENCY_HEADER)?.slice(0, 300)]),
  };
  if (type === 'Bounce' && n.bounce) {
    const b = n.bounce;
    const r = b.bouncedRecipients[0]!;
    // The recipient's status and diagnostic decide (a Permanent bounce for 5.7.1 is a policy refusal, not a bad address);
    // SES's own type decides when it gave neither.
    const classified = classifyBounce(r.status, r.diagnosticCode) ?? (b.bounceType === 'Permanent' ? { class: 'hard' as const, code: null } : { class: 'soft' as const, code: null });
    const klass = b.bounceType === 'Transient' && classified.class === 'hard' ? 'soft' : classified.class;
    return {
      source: FeedbackSource.Ses, eventId: b.feedbackId, occurredAt: when(b.timestamp, now), refs, recipient: addressOf(r.emailAddress),
      kind: 'bounce', class: klass, code: classified.code ?? `${b.bounceType}/${b.bounceSubType ?? ''}`.slice(0, 60), diagnostic: r.diagnosticCode?.slice(0, 500) ?? null,
    };
  }
  if (type === 'Complaint' && n.complaint) {
    const c = n.complaint;
    return {
      source: FeedbackSource.Ses, eventId: c.feedbackId, occurredAt: when(c.timestamp, now), refs, recipient: addressOf(c.complainedRecipients[0]?.emailAddress),
      kind: 'complaint', feedbackType: c.complaintFeedbackType ?? null,
    };
  }
  return undefined;
}
