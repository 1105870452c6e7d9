import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { apiKeys, consoleSessions } from '../db/schema';
import { DomainError } from '../errors';

/**
 * Console sessions: the browser signs in once with an API key and then carries an httpOnly cookie instead, so no
 * script on the page ever holds the key. The cookie is `SameSite=Strict` (no other site's page can make the browser
 * send it) and every unsafe method also needs the session's CSRF token in `X-CSRF-Token`, a header only our own
 * origin's scripts can set. Sessions expire a fixed time after sign-in (absolute, not sliding: a stolen cookie is
 * good for at most that long, and no request has to write to extend it), end at sign-out, and end with their key.
 */
export const SESSION_COOKIE = 'itinera_session';
export const CSRF_HEADER = 'X-CSRF-Token';
/** @default 8 hours — a working day. */
export const SESSION_TTL_DEFAULT_MS = 8 * 3600_000;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** The session cookie's value from a `Cookie` header, or undefined when there is none. */
export function sessionCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function cookieHeader(req: Request, value: string, maxAgeSeconds: number): string {
  // Secure when the request came over https — directly, or through a proxy TRUST_PROXY trusts (X-Forwarded-Proto).
  return [`${SESSION_COOKIE}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${maxAgeSeconds}`, ...(req.secure ? ['Secure'] : [])].join('; ');
}

export type SessionView = { keyId: string; role: string; name: string; session: { id: string; csrfToken: string; expiresAt: Date } };

export async function createSession(db: Db, opts: { req: Request; res: Response; key: { id: string; role: string; name: string }; ttlMs: number }): Promise<SessionView> {
  const token = randomBytes(32).toString('base64url');
  const csrfToken = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + opts.ttlMs);
  const [row] = await db
    .insert(consoleSessions)
    .values({ idHash: sha256(token), apiKeyId: opts.key.id, role: opts.key.role, csrfToken, expiresAt })
    .returning({ id: consoleSessions.id });
  opts.res.append('Set-Cookie', cookieHeader(opts.req, token, Math.floor(opts.ttlMs / 1000)));
  return { keyId: opts.key.id, role: opts.key.role, name: opts.key.name, session: { id: row!.id, csrfToken, expiresAt } };
}

export async function revokeSession(db: Db, opts: { req: Request; res: Response; id: string }): Promise<void> {
  await db.update(consoleSessions).set({ revokedAt: sql`now()` }).where(and(eq(consoleSessions.id, opts.id), isNull(consoleSessions.revokedAt)));
  opts.res.append('Set-Cookie', cookieHeader(opts.req, '', 0));
}

/**
 * The caller a session cookie names, read from the database on every request (no cache: sign-out and a key's
 * revocation count at once). Throws 401 for an unknown, expired or revoked session (or key), 403 for an unsafe
 * method without the session's CSRF token.
 */
export async function sessionPrincipal(db: Db, cookie: string, req: Request): Promise<SessionView> {
  const ended = () => new DomainError('session_ended', 401, 'The console session has ended or is not valid; sign in again.');
  if (!TOKEN_RE.test(cookie)) throw ended();
  const [row] = await db
    .select({ id: consoleSessions.id, role: consoleSessions.role, csrfToken: consoleSessions.csrfToken, expiresAt: consoleSessions.expiresAt, keyId: apiKeys.id, name: apiKeys.name })
    .from(consoleSessions)
    .innerJoin(apiKeys, eq(apiKeys.id, consoleSessions.apiKeyId))
    .where(and(eq(consoleSessions.idHash, sha256(cookie)), isNull(consoleSessions.revokedAt), isNull(apiKeys.revokedAt), gt(consoleSessions.expiresAt, sql`now()`)))
    .limit(1);
  if (!row) throw ended();
  if (!SAFE_METHODS.has(req.method)) {
    const sent = req.get(CSRF_HEADER) ?? '';
    const ok = sent.length === row.csrfToken.length && timingSafeEqual(Buffer.from(sent), Buffer.from(row.csrfToken));
    if (!ok) throw new DomainError('csrf_token_invalid', 403, `A request signed in by the console's cookie must carry the session's ${CSRF_HEADER} header.`);
  }
  return { keyId: row.keyId, role: row.role, name: row.name, session: { id: row.id, csrfToken: row.csrfToken, expiresAt: row.expiresAt } };
}
