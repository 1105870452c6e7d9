/**
 * Signed, URL-safe tokens for links that leave our hands (click tracking, open pixels,
 * unsubscribe). Format: `base64url(JSON payload) "." base64url(HMAC-SHA256(secret, first part))`.
 *
 * Why not JWT: we need exactly one algorithm and no header to negotiate, which removes the whole
 * `alg: none` / algorithm-confusion class of bugs and keeps links short.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type TokenPayload = Record<string, unknown>;

export type VerifyTokenResult<P extends TokenPayload = TokenPayload> =
  | { ok: true; payload: P & { exp: number } }
  | { ok: false; reason: TokenFailureReason };

export const TokenFailureReason = {
  Malformed: 'malformed',
  Tampered: 'tampered',
  Expired: 'expired',
} as const;
export type TokenFailureReason = (typeof TokenFailureReason)[keyof typeof TokenFailureReason];

const SIGNATURE_BYTES = 32; // SHA-256 output
const BASE64URL = /^[A-Za-z0-9_-]+$/;

function assertSecrets(secrets: readonly string[]): void {
  // An empty secret would make every token forgeable; fail loudly at the call site instead.
  if (secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new Error('tokens: at least one non-empty secret is required');
  }
}

function toUnixSeconds(now: Date | number): number {
  return Math.floor((typeof now === 'number' ? now : now.getTime()) / 1000);
}

/** Whether `text` (already known to hold only base64url characters) is the encoding the signer would write. */
function isCanonical(text: string): boolean {
  return Buffer.from(text, 'base64url').toString('base64url') === text;
}

function mac(secret: string, data: string): Buffer {
  return createHmac('sha256', secret).update(data).digest();
}

/**
 * Signs `payload` with the FIRST secret (the others only verify, which is how rotation works:
 * prepend the new secret, keep the old one until the longest-lived token it signed has expired).
 *
 * @param now the clock is injected so Temporal activities and tests stay deterministic.
 * A payload key `exp` is overwritten with `now + ttlSeconds` (unix seconds).
 */
export function signToken(
  secrets: readonly string[],
  payload: TokenPayload,
  ttlSeconds: number,
  now: Date | number = Date.now(),
): string {
  assertSecrets(secrets);
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new Error(`tokens: ttlSeconds must be a positive number, got ${ttlSeconds}`);
  }
  const body = Buffer.from(
    JSON.stringify({ ...payload, exp: toUnixSeconds(now) + Math.floor(ttlSeconds) }),
    'utf8',
  ).toString('base64url');
  return `${body}.${mac(secrets[0]!, body).toString('base64url')}`;
}

/**
 * Verifies a token against every secret in constant time per comparison. The signature is checked
 * BEFORE the payload is parsed so attacker-controlled JSON never reaches the parser.
 */
export function verifyToken<P extends TokenPayload = TokenPayload>(
  secrets: readonly string[],
  token: string,
  now: Date | number = Date.now(),
): VerifyTokenResult<P> {
  assertSecrets(secrets);
  if (typeof token !== 'string') return { ok: false, reason: 'malformed' };
  const parts = token.split('.');
  if (parts.length !== 2) return { ok: false, reason: 'malformed' };
  const [body, sig] = parts as [string, string];
  if (!BASE64URL.test(body) || !BASE64URL.test(sig)) return { ok: false, reason: 'malformed' };
  // Only the one canonical text of each part is ours: the decoder ignores a last character's spare bits (and a
  // dangling sixth-bit character), so without this `…A` and `…B` could carry the same bytes and both verify.
  if (!isCanonical(body)) return { ok: false, reason: 'malformed' };
  const given = Buffer.from(sig, 'base64url');
  // A wrong-length or non-canonical signature cannot be ours; for a caller it is indistinguishable from tampering.
  if (given.length !== SIGNATURE_BYTES || given.toString('base64url') !== sig) return { ok: false, reason: 'tampered' };

  let matched = false;
  for (const secret of secrets) {
    // No early exit: the time taken must not reveal which secret matched.
    if (timingSafeEqual(mac(secret, body), given)) matched = true;
  }
  if (!matched) return { ok: false, reason: 'tampered' };

  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (
    typeof payload !== 'object' ||
    payload === null ||
    Array.isArray(payload) ||
    typeof (payload as { exp?: unknown }).exp !== 'number'
  ) {
    return { ok: false, reason: 'malformed' };
  }
  const p = payload as P & { exp: number };
  if (toUnixSeconds(now) >= p.exp) return { ok: false, reason: 'expired' };
  return { ok: true, payload: p };
}
