/**
 * The typed itinera client: `paths` and `operations` are generated from the API's OpenAPI document
 * (client/src/schema.ts), requests go through openapi-fetch, so a wrong path, parameter or body is a compile error.
 * Also verifies the signed webhooks itinera sends (hand-offs to the CRM): Standard Webhooks, HMAC-SHA256.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import createClient, { type Client } from 'openapi-fetch';
import type { components, operations, paths } from './schema';

export type { components, operations, paths };
export type ItineraClient = Client<paths>;

export type ItineraClientOptions = {
  /** Where the API listens, e.g. `https://itinera.example.cn`. */
  baseUrl: string;
  /** An API key (`itk_…`); the CRM side uses one with the `integration` role. */
  apiKey: string;
  /** @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
};

export function createItineraClient(opts: ItineraClientOptions): ItineraClient {
  return createClient<paths>({
    baseUrl: opts.baseUrl.replace(/\/$/, ''),
    headers: { Authorization: `Bearer ${opts.apiKey}` },
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
}

/** What itinera posts to the CRM webhook for a new hand-off (`type: handoff.created`). */
export type HandoffCreated = {
  type: 'handoff.created';
  handoff: { id: string; status: string; team: string | null; assignment: string; taskTitle: string | null; dueAt: string | null; createdAt: string; journeyId: string | null };
  rep: { id: string | null; name: string | null; email: string | null };
  contact: {
    id: string;
    externalId: string | null;
    email: string | null;
    phone: string | null;
    firstName: string | null;
    lastName: string | null;
    company: string | null;
    jobTitle: string | null;
    region: string | null;
    industry: string | null;
    score: number;
    lifecycleStage: string | null;
  };
  /** POST {"outcome":"accepted"} or {"outcome":"rejected","reason":"…"} here (or use `POST /v1/handoffs/{id}/feedback`). */
  feedbackUrl: string;
};

export type WebhookVerification = { ok: true; id: string; timestamp: number } | { ok: false; reason: 'missing_headers' | 'invalid_timestamp' | 'expired' | 'future' | 'tampered' | 'bad_secret' };

type Headers = Record<string, string | string[] | undefined> | { get(name: string): string | null };

function header(h: Headers, name: string): string | undefined {
  if (typeof (h as { get?: unknown }).get === 'function') return (h as { get(n: string): string | null }).get(name) ?? undefined;
  for (const [k, v] of Object.entries(h as Record<string, string | string[] | undefined>)) if (k.toLowerCase() === name) return Array.isArray(v) ? v[0] : v;
  return undefined;
}

/**
 * Checks a webhook from itinera: `webhook-signature` holds `v1,<base64 HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")>`
 * for each of itinera's active secrets (`whsec_<base64 key>`), and the timestamp must be within `toleranceSeconds`.
 * Pass the raw body bytes as received (not re-serialized JSON); dedupe on the returned `id` (retries keep it).
 */
export function verifyWebhook(headers: Headers, body: string | Uint8Array, secrets: readonly string[], opts: { toleranceSeconds?: number; now?: Date } = {}): WebhookVerification {
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const sig = header(headers, 'webhook-signature');
  if (!id || !ts || !sig) return { ok: false, reason: 'missing_headers' };
  if (!/^\d{1,12}$/.test(ts)) return { ok: false, reason: 'invalid_timestamp' };
  const timestamp = Number(ts);
  const now = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const tolerance = opts.toleranceSeconds ?? 300;
  if (timestamp < now - tolerance) return { ok: false, reason: 'expired' };
  if (timestamp > now + tolerance) return { ok: false, reason: 'future' };
  const given = sig.split(' ').filter((p) => p.startsWith('v1,')).map((p) => Buffer.from(p.slice(3), 'base64'));
  for (const secret of secrets) {
    const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
    if (key.length < 16) return { ok: false, reason: 'bad_secret' };
    const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
    if (given.some((g) => g.length === expected.length && timingSafeEqual(g, expected))) return { ok: true, id, timestamp };
  }
  return { ok: false, reason: 'tampered' };
}
