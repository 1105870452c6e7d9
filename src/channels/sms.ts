/**
 * SMS senders: Twilio's REST API (production) and an outbox (embedded default, no provider).
 *
 * Only the small Twilio subset we need is spoken, through the guarded outbound client (src/net/outbound.ts), so there is no SDK to pin and any
 * Twilio-compatible gateway (or a local test server) works by changing `baseUrl`.
 */
import { OutboundRefusedError, STRICT_OUTBOUND, type OutboundHttp, type OutboundResponse } from '../net/outbound';
import { ChannelError, requestFailureMessage, RESPONSE_BODY_MARKER } from './errors';

export interface SmsMessage {
  /** E.164 (see normalize.ts). */
  to: string;
  body: string;
  /** Stable per logical send; Twilio drops a repeated request with the same token. */
  idempotencyKey: string;
  /**
   * The step's SMS template name and the context `body` was rendered with, for template-only providers (Aliyun:
   * src/channels/aliyun-sms.ts), which send an approved template's id and variables instead of text.
   */
  template?: string | undefined;
  context?: Record<string, unknown> | undefined;
}

/** Twilio message statuses plus `stored` for the outbox. */
export type SmsStatus =
  | 'queued' | 'accepted' | 'scheduled' | 'sending' | 'sent' | 'delivered' | 'undelivered' | 'failed'
  | 'stored' | (string & {});

export interface SmsSendResult {
  providerMessageId: string;
  status: SmsStatus;
}

export interface SmsSender {
  send(msg: SmsMessage): Promise<SmsSendResult>;
}

abstract class SmsError extends ChannelError {
  constructor(
    message: string,
    /** HTTP status, undefined for network errors and timeouts. */
    readonly status: number | undefined,
    /** Provider error code, e.g. Twilio 21211 (invalid To number). */
    readonly providerCode: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
/** 429, 5xx, network, timeout, bad credentials: retry later. */
export class SmsTransientError extends SmsError {
  override name = 'SmsTransientError';
  readonly kind = 'transient' as const;
}
/** The request itself is wrong (invalid number, unsubscribed recipient…): retrying cannot help. */
export class SmsPermanentError extends SmsError {
  override name = 'SmsPermanentError';
  readonly kind = 'permanent' as const;
}

export interface TwilioSmsOptions {
  /** @default 'https://api.twilio.com' */
  baseUrl?: string;
  accountSid: string;
  authToken: string;
  /** Sender number (E.164) or alphanumeric id. Ignored when messagingServiceSid is set. */
  from?: string;
  /** Send through a Messaging Service (sender pools, compliance) instead of a fixed From. */
  messagingServiceSid?: string;
  /** @default 10000 */
  timeoutMs?: number;
  /** Delivery receipts URL (Twilio StatusCallback). */
  statusCallbackUrl?: string;
  /** The guarded client (OUTBOUND_ALLOW for a gateway on the private network). @default strict */
  http?: OutboundHttp;
}

interface TwilioError {
  code?: number;
  message?: string;
  status?: number;
}

export function createTwilioSmsSender(options: TwilioSmsOptions): SmsSender {
  if (!options.from && !options.messagingServiceSid) {
    throw new Error('twilio: either from or messagingServiceSid is required');
  }
  const base = (options.baseUrl ?? 'https://api.twilio.com').replace(/\/+$/, '');
  const url = `${base}/2010-04-01/Accounts/${encodeURIComponent(options.accountSid)}/Messages.json`;
  const auth = `Basic ${Buffer.from(`${options.accountSid}:${options.authToken}`).toString('base64')}`;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const http = options.http ?? STRICT_OUTBOUND;

  return {
    async send(msg) {
      const form = new URLSearchParams({ To: msg.to, Body: msg.body });
      if (options.messagingServiceSid) form.set('MessagingServiceSid', options.messagingServiceSid);
      else form.set('From', options.from!);
      if (options.statusCallbackUrl) form.set('StatusCallback', options.statusCallbackUrl);

      let res: OutboundResponse;
      try {
        // 3xx comes back as a status (the client never follows redirects) and is permanent below: a gateway that
        // redirects is a wrong TWILIO_BASE_URL.
        res = await http.request(url, {
          method: 'POST',
          headers: {
            authorization: auth,
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
            'I-Twilio-Idempotency-Token': msg.idempotencyKey,
          },
          body: form.toString(),
          timeoutMs,
        });
      } catch (err) {
        if (err instanceof OutboundRefusedError) throw new SmsPermanentError(`twilio: ${err.message}`, undefined, undefined, { cause: err });
        // The request may have reached Twilio; the idempotency token makes the retry safe.
        throw new SmsTransientError(requestFailureMessage(err, 'twilio', timeoutMs), undefined, undefined, { cause: err });
      }

      const text = res.body;
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      const ok = res.status >= 200 && res.status < 300;

      if (ok) {
        const body = json as { sid?: unknown; status?: unknown } | undefined;
        if (typeof body?.sid !== 'string') {
          // Accepted but unreadable: retrying is safe thanks to the idempotency token.
          throw new SmsTransientError(`twilio: ${res.status} response without a message sid`, res.status, undefined);
        }
        return { providerMessageId: body.sid, status: typeof body.status === 'string' ? body.status : 'queued' };
      }

      const e = (json ?? {}) as TwilioError;
      const detail = `twilio: HTTP ${res.status}${e.code !== undefined ? ` code ${e.code}` : ''}${RESPONSE_BODY_MARKER}${e.message ?? truncate(text, 300)}`;
      if (isTransientStatus(res.status)) throw new SmsTransientError(detail, res.status, e.code);
      throw new SmsPermanentError(detail, res.status, e.code);
    },
  };
}

/**
 * 429 and 5xx are the provider's problem; 408 a timeout. 401 means OUR credentials are wrong or were
 * rotated: that is configuration, not a property of this message, so it is retried (as a failing
 * SMTP login is) rather than permanently failing every queued message while an operator fixes it.
 */
function isTransientStatus(status: number): boolean {
  return status === 401 || status === 408 || status === 429 || status >= 500;
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/**
 * Embedded default: hands each message to `store` (e.g. an insert into an `sms_outbox` table that an
 * operator or a gateway drains). `store` returns the id it assigned, which becomes providerMessageId.
 */
export function createOutboxSmsSender(store: (msg: SmsMessage) => Promise<string>): SmsSender {
  return {
    async send(msg) {
      const id = await store({ to: msg.to, body: msg.body, idempotencyKey: msg.idempotencyKey });
      return { providerMessageId: id, status: 'stored' };
    },
  };
}
