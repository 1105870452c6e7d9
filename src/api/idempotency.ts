import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Db } from '../db/client';
import { claimIdempotencyKey, completeIdempotencyKey, IDEMPOTENCY_IN_FLIGHT_SECONDS, IDEMPOTENCY_TTL_HOURS, releaseIdempotencyKey } from '../db/idempotency';
import { DomainError, ValidationError } from '../errors';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
/** Set on a response that is the stored answer to an earlier request with the same key. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

/**
 * How a route honours `Idempotency-Key`. `replay`: a retry gets the first response again. `refuse`: the first response
 * holds a secret that is never stored, so a retry is a 409 whose detail is `refusal(firstBody)` — which must not
 * contain the secret.
 */
export type Idempotency = { mode: 'replay' } | { mode: 'refuse'; refusal: (body: unknown) => string };

const KEY_RE = /^[\x20-\x7e]{1,255}$/;

/** The header's value, or undefined when absent; anything but 1–255 printable ASCII characters is a 400. */
export function idempotencyKeyOf(req: Request): string | undefined {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  const value = Array.isArray(raw) ? raw.join(', ') : raw;
  if (!KEY_RE.test(value)) {
    throw new ValidationError(`The ${IDEMPOTENCY_HEADER} header is invalid.`, [
      { path: IDEMPOTENCY_HEADER, message: 'must be 1 to 255 printable ASCII characters (space to ~), e.g. a UUID' },
    ]);
  }
  return value;
}

/** JSON with object members sorted by name at every depth: the same document however its members were ordered. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** What makes two requests "the same": method, path, query and body (as parsed: JSON, or the text of a YAML body). */
export function requestFingerprint(req: Request): string {
  const path = req.originalUrl.split('?')[0]!;
  return createHash('sha256').update(canonicalJson([req.method, path, req.query ?? {}, req.body ?? null])).digest('hex');
}

export type RouteOutcome = { status?: number; body?: unknown; headers?: Record<string, string> } | void;

/**
 * Runs `handle` at most once per (API key, `key`: the validated `Idempotency-Key`) within 24 h. Without a key it
 * just runs it. A success (2xx) is stored and answered again to a retry with the same request; a failure lets the
 * key go, so the retry runs again. Sends the response itself.
 */
export async function runIdempotent(
  db: Db,
  mode: Idempotency,
  key: string | undefined,
  req: Request,
  res: Response,
  handle: () => Promise<RouteOutcome>,
): Promise<void> {
  const apiKeyId = req.principal?.keyId;
  if (key === undefined || !apiKeyId) return send(res, await handle());

  const claim = await claimIdempotencyKey(db, apiKeyId, key, requestFingerprint(req), mode.mode === 'replay');
  switch (claim.kind) {
    case 'mismatch':
      throw new DomainError(
        'idempotency_key_reused',
        422,
        `This ${IDEMPOTENCY_HEADER} was already used with another request in the last ${IDEMPOTENCY_TTL_HOURS} hours; send a new key for a new request.`,
        [{ path: IDEMPOTENCY_HEADER, message: 'already used for another request (a different method, path or body)' }],
      );
    case 'in_flight':
      res.set('Retry-After', '1');
      throw new DomainError(
        'idempotency_key_in_flight',
        409,
        `A request with this ${IDEMPOTENCY_HEADER} is still being processed; retry shortly to get its response (a request stalled for ${IDEMPOTENCY_IN_FLIGHT_SECONDS} s is abandoned and runs again).`,
      );
    case 'refused':
      throw new DomainError('idempotent_replay_refused', 409, claim.detail);
    case 'replay': {
      const { status, headers, body } = claim.response;
      res.set(headers);
      res.set(REPLAYED_HEADER, 'true');
      res.status(status);
      if (body === null) res.end();
      else res.type('application/json').send(body);
      return;
    }
    case 'claimed':
      break;
  }

  let out: RouteOutcome;
  try {
    out = await handle();
  } catch (err) {
    await releaseIdempotencyKey(db, apiKeyId, key, claim.claim);
    throw err;
  }
  const status = (out ? out.status : undefined) ?? 200;
  if (!out || res.headersSent || status >= 300) {
    // Answered by the handler itself, or not a success: nothing to replay.
    await releaseIdempotencyKey(db, apiKeyId, key, claim.claim);
    return send(res, out);
  }
  const text = out.body === undefined ? null : JSON.stringify(out.body);
  // Stored before the answer leaves, so a retry that overtakes it finds either "in flight" or this response.
  await completeIdempotencyKey(db, apiKeyId, key, claim.claim, {
    status,
    headers: out.headers ?? {},
    body: mode.mode === 'replay' ? text : mode.refusal(out.body),
  });
  sendText(res, status, out.headers, text);
}

function send(res: Response, out: RouteOutcome): void {
  if (!out || res.headersSent) return;
  sendText(res, out.status ?? 200, out.headers, out.body === undefined ? null : JSON.stringify(out.body));
}

/** The body as the exact text a replay sends, so the first answer and its replays are byte for byte the same. */
function sendText(res: Response, status: number, headers: Record<string, string> | undefined, text: string | null): void {
  if (headers) res.set(headers);
  res.status(status);
  if (text === null) res.end();
  else res.type('application/json').send(text);
}
