/**
 * Outgoing webhooks per the Standard Webhooks spec (https://www.standardwebhooks.com):
 *   webhook-id         stable message id; receivers dedupe on it, so retries keep it
 *   webhook-timestamp  unix seconds of THIS attempt; receivers reject stale ones (replay protection)
 *   webhook-signature  space-separated `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`, one per
 *                      active secret, so receivers keep verifying while secrets rotate
 * Secrets look like `whsec_<base64 key>`; the HMAC key is the decoded bytes.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ChannelError, requestFailureMessage, RESPONSE_BODY_MARKER } from './errors';
import { OutboundRefusedError, STRICT_OUTBOUND, type OutboundHttp, type OutboundResponse } from '../net/outbound';

export const WEBHOOK_SECRET_PREFIX = 'whsec_';

// A type alias (not an interface) so it is assignable to plain header records.
export type WebhookSignatureHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/** `whsec_` + 32 random bytes, base64. */
export function generateWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + randomBytes(32).toString('base64');
}

function secretKey(secret: string): Buffer {
  const b64 = secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret;
  const key = Buffer.from(b64, 'base64');
  // Buffer.from silently drops invalid characters; an empty or mangled key would sign with ~nothing.
  if (key.length < 16 || key.toString('base64').replace(/=+$/, '') !== b64.replace(/=+$/, '')) {
    throw new Error('webhooks: secret must be whsec_<base64> with at least 16 bytes of key');
  }
  return key;
}

function toSeconds(t: Date | number): number {
  return typeof t === 'number' ? Math.floor(t) : Math.floor(t.getTime() / 1000);
}

function sign(key: Buffer, id: string, timestamp: number, body: string | Buffer): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
}

/**
 * @param timestamp unix SECONDS (number) or a Date
 * @param body the exact bytes that will be sent
 */
export function signWebhook(args: {
  id: string;
  timestamp: number | Date;
  body: string | Buffer;
  secrets: readonly string[];
}): WebhookSignatureHeaders {
  if (args.secrets.length === 0) throw new Error('webhooks: at least one secret is required');
  if (!args.id || /[\s.]/.test(args.id)) {
    // '.' is the field separator of the signed content; allowing it would make signatures ambiguous.
    throw new Error(`webhooks: invalid webhook id "${args.id}"`);
  }
  const ts = toSeconds(args.timestamp);
  const signature = args.secrets
    .map((s) => `v1,${sign(secretKey(s), args.id, ts, args.body).toString('base64')}`)
    .join(' ');
  return { 'webhook-id': args.id, 'webhook-timestamp': String(ts), 'webhook-signature': signature };
}

export type WebhookVerifyFailure = 'missing_headers' | 'invalid_timestamp' | 'expired' | 'future' | 'tampered';
export type WebhookVerifyResult =
  | { ok: true; id: string; timestamp: number }
  | { ok: false; reason: WebhookVerifyFailure };

export type HeaderBag = Headers | Record<string, string | string[] | undefined>;

function getHeader(headers: HeaderBag, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === name) return Array.isArray(v) ? v[0] : v;
  }
  return undefined;
}

/**
 * Receiver side (also used by our tests and by anyone embedding itinera as a receiver).
 * `body` must be the raw request body, not re-serialized JSON.
 */
export function verifyWebhook(
  headers: HeaderBag,
  body: string | Buffer,
  secrets: readonly string[],
  opts: { toleranceSeconds?: number; now?: Date | number } = {},
): WebhookVerifyResult {
  const id = getHeader(headers, 'webhook-id');
  const tsRaw = getHeader(headers, 'webhook-timestamp');
  const sigRaw = getHeader(headers, 'webhook-signature');
  if (!id || !tsRaw || !sigRaw) return { ok: false, reason: 'missing_headers' };
  if (!/^\d{1,12}$/.test(tsRaw)) return { ok: false, reason: 'invalid_timestamp' };
  const ts = Number(tsRaw);
  const now = toSeconds(opts.now === undefined ? new Date() : typeof opts.now === 'number' ? new Date(opts.now) : opts.now);
  const tolerance = opts.toleranceSeconds ?? 300;
  // Checked before the signature, as the spec does: a replayed old request is rejected cheaply.
  if (ts < now - tolerance) return { ok: false, reason: 'expired' };
  if (ts > now + tolerance) return { ok: false, reason: 'future' };

  const given = sigRaw
    .split(' ')
    .filter((p) => p.startsWith('v1,'))
    .map((p) => Buffer.from(p.slice(3), 'base64'));
  for (const secret of secrets) {
    const expected = sign(secretKey(secret), id, ts, body);
    for (const g of given) {
      if (g.length === expected.length && timingSafeEqual(g, expected)) return { ok: true, id, timestamp: ts };
    }
  }
  return { ok: false, reason: 'tampered' };
}

abstract class WebhookError extends ChannelError {
  constructor(
    message: string,
    /** HTTP status; undefined for network errors and timeouts. */
    readonly status: number | undefined,
    /** First {@link MAX_ERROR_BODY} characters of the response body. */
    readonly responseBody: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
/** 5xx, 408, 429, network, timeout: retry with backoff. */
export class WebhookTransientError extends WebhookError {
  override name = 'WebhookTransientError';
  readonly kind = 'transient' as const;
}
/** Other 4xx, 3xx: the receiver refuses this request or the URL is wrong; retrying will not help. */
export class WebhookPermanentError extends WebhookError {
  override name = 'WebhookPermanentError';
  readonly kind = 'permanent' as const;
}

export const MAX_ERROR_BODY = 1024;

export function truncateBody(s: string, max = MAX_ERROR_BODY): string {
  return s.length > max ? `${s.slice(0, max)}…[${s.length - max} more chars]` : s;
}

/** 2xx → ok; 408/429/5xx → transient; everything else (3xx, 4xx) → permanent. */
export function classifyHttpStatus(status: number): 'ok' | 'transient' | 'permanent' {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 408 || status === 429 || status >= 500) return 'transient';
  return 'permanent';
}

export interface DeliverWebhookOptions {
  url: string;
  /** @default 'POST'. GET and DELETE carry no body: pass `''`. */
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** A string is sent as-is; anything else is JSON-serialized once (the signature covers those exact bytes). */
  body: unknown;
  /** Extra headers; cannot override the webhook-* signature headers. */
  headers?: Record<string, string>;
  /** Signing secrets (`whsec_…`). Empty/omitted: sent unsigned. */
  secrets?: readonly string[];
  /** Stable message id: the idempotency key of this delivery. Kept across retries. */
  id: string;
  /** @default 10000 */
  timeoutMs?: number;
  now?: Date | number;
  /** The guarded client. @default one that refuses every private address (no allow-list) */
  http?: OutboundHttp;
}

export interface WebhookDelivery {
  status: number;
  /** Truncated response body. */
  body: string;
  durationMs: number;
}

/**
 * Sends a request through the guarded client and maps its outcomes onto the transient/permanent split: a refused
 * address is permanent (the same URL resolves the same way), no response is transient, the status decides the rest.
 */
export async function httpDeliver(
  http: OutboundHttp,
  url: string,
  init: { method: string; headers: Record<string, string>; body: string; timeoutMs: number },
  label: string,
): Promise<WebhookDelivery & { rawBody: string }> {
  const started = performance.now();
  let res: OutboundResponse;
  try {
    // Never follows a redirect: that would re-send a signed payload to a host nobody configured (or checked).
    res = await http.request(url, init);
  } catch (err) {
    if (err instanceof OutboundRefusedError) throw new WebhookPermanentError(`${label}: ${err.message}`, undefined, undefined, { cause: err });
    throw new WebhookTransientError(requestFailureMessage(err, label, init.timeoutMs), undefined, undefined, { cause: err });
  }
  const rawBody = res.body;
  const out = { status: res.status, body: truncateBody(rawBody), rawBody, durationMs: performance.now() - started };
  const cls = classifyHttpStatus(res.status);
  if (cls === 'ok') return out;
  const msg = `${label}: HTTP ${res.status}${out.body ? `${RESPONSE_BODY_MARKER}${truncateBody(rawBody, 200)}` : ''}`;
  if (cls === 'transient') throw new WebhookTransientError(msg, res.status, out.body);
  throw new WebhookPermanentError(msg, res.status, out.body);
}

export async function deliverWebhook(opts: DeliverWebhookOptions): Promise<WebhookDelivery> {
  const body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  const bodiless = opts.method === 'GET' || opts.method === 'DELETE';
  if (bodiless && body !== '') throw new Error(`webhooks: a ${opts.method} request carries no body`);
  const headers: Record<string, string> = { ...(bodiless ? {} : { 'content-type': 'application/json' }), 'user-agent': 'itinera-webhooks/1' };
  for (const [k, v] of Object.entries(opts.headers ?? {})) {
    if (!k.toLowerCase().startsWith('webhook-')) headers[k.toLowerCase()] = v;
  }
  const now = opts.now ?? Date.now();
  if (opts.secrets && opts.secrets.length > 0) {
    Object.assign(
      headers,
      signWebhook({ id: opts.id, timestamp: toSeconds(typeof now === 'number' ? now / 1000 : now), body, secrets: opts.secrets }),
    );
  } else {
    headers['webhook-id'] = opts.id;
  }
  const { rawBody: _raw, ...result } = await httpDeliver(
    opts.http ?? STRICT_OUTBOUND,
    opts.url,
    { method: opts.method ?? 'POST', headers, body, timeoutMs: opts.timeoutMs ?? 10_000 },
    'webhook',
  );
  return result;
}
