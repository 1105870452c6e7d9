import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { apiKeys } from '../db/schema';
import { DomainError } from '../errors';
import { sessionCookie, sessionPrincipal } from './sessions';

export const Role = { marketer: 'marketer', integration: 'integration', ops: 'ops', admin: 'admin' } as const;
export type Role = (typeof Role)[keyof typeof Role];
export const ROLES = Object.values(Role);

/** `itk_` + 12-char public prefix + `_` + 43-char secret (256 bits). Only the prefix and a hash are stored. */
const KEY_RE = /^itk_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/**
 * The key sent in `Authorization` (any case of the `Bearer` scheme: RFC 7235 auth-schemes are case-insensitive) or in
 * `X-Api-Key`.
 */
export function presentedKey(authorization: string | undefined, xApiKey: string | undefined): string | undefined {
  const bearer = authorization && /^bearer[ \t]+(.*)$/is.exec(authorization.trim());
  const raw = bearer ? bearer[1] : xApiKey;
  return raw?.trim() || undefined;
}

export type CreatedKey = { id: string; key: string; prefix: string; role: Role; name: string };

export async function createApiKey(db: Db, opts: { name: string; role: Role; dev?: boolean }): Promise<CreatedKey> {
  const prefix = randomBytes(9).toString('base64url').replace(/[-_]/g, 'x').slice(0, 12);
  const secret = randomBytes(32).toString('base64url');
  const [row] = await db
    .insert(apiKeys)
    .values({ prefix, hash: hashSecret(secret), name: opts.name, role: opts.role, dev: opts.dev ?? false })
    .returning({ id: apiKeys.id });
  // After the commit: a prefix remembered as unknown before it was created is looked up again.
  creations++;
  return { id: row!.id, key: `itk_${prefix}_${secret}`, prefix, role: opts.role, name: opts.name };
}

/** How long `authenticate` trusts a key row it read: the revocation delay seen by other processes. */
export const KEY_CACHE_TTL_MS = 5_000;
const KEY_CACHE_MAX = 10_000;
/** Bumped by every revocation in this process: cached key rows older than it are not trusted. */
let revocations = 0;
/** Bumped by every key created in this process: prefixes cached as unknown before it are looked up again. */
let creations = 0;

export async function revokeApiKey(db: Db, id: string): Promise<boolean> {
  const rows = await db
    .update(apiKeys)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id });
  // After the commit, so no read begun before it is trusted afterwards.
  revocations++;
  return rows.length === 1;
}

/** How the caller proved who they are: an API key, or a console session cookie (which also carries a CSRF token). */
export type Principal = {
  keyId: string;
  role: Role;
  name: string;
  session?: { id: string; csrfToken: string; expiresAt: Date };
};

/**
 * Checks a presented key against its row without any cache: for the sign-in that exchanges a key for a session, where
 * a revocation must count at once. Throws the same 401s as `authenticate`.
 */
export async function verifyApiKey(db: Db, raw: string): Promise<typeof apiKeys.$inferSelect> {
  const m = KEY_RE.exec(raw.trim());
  if (!m) throw new DomainError('invalid_api_key', 401, 'The API key is malformed.');
  const [, prefix, secret] = m;
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.prefix, prefix!)).limit(1);
  const expected = row ? Buffer.from(row.hash, 'hex') : Buffer.alloc(32);
  if (!row || !timingSafeEqual(expected, Buffer.from(hashSecret(secret!), 'hex'))) throw new DomainError('invalid_api_key', 401, 'The API key is not valid.');
  if (row.revokedAt) throw new DomainError('revoked_api_key', 401, 'The API key has been revoked.');
  return row;
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

/**
 * Accepts keys only in the `Authorization: Bearer` or `X-Api-Key` header — never in a query string, where they would
 * end up in logs and browser history. Without a key, a console session cookie (see `./sessions`) is accepted, with
 * its CSRF token required on every unsafe method.
 *
 * Key rows are kept for `cacheMs` by prefix: one integration key sends thousands of requests a second, and reading
 * its row for each was a database round trip per request. A revocation made in this process (`revokeApiKey`: the API
 * or the CLI code path) is honoured at once; one made by another process within `cacheMs`. A well-formed key whose
 * prefix is unknown is remembered as unknown for as long, so repeating it (a scanner, a deleted key still configured
 * somewhere) costs no query; a key created in this process is usable at once, one created elsewhere within `cacheMs`
 * of a failed try with that very prefix.
 */
export function authenticate(
  db: Db,
  opts: {
    /** @default KEY_CACHE_TTL_MS */
    cacheMs?: number;
    now?: () => number;
    /** True when the client has used up its failed authentications: a prefix never accepted then fails without a query. */
    exhausted?: (req: Request) => Promise<boolean>;
  } = {},
): RequestHandler {
  const ttl = opts.cacheMs ?? KEY_CACHE_TTL_MS;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { row: typeof apiKeys.$inferSelect; until: number; epoch: number }>();
  const unknown = new Map<string, { until: number; epoch: number }>();
  const remember = <V>(map: Map<string, V>, key: string, value: V) => {
    if (map.size >= KEY_CACHE_MAX) map.clear();
    map.set(key, value);
  };
  const invalid = () => new DomainError('invalid_api_key', 401, 'The API key is not valid.');
  return async (req, _res, next) => {
    const raw = presentedKey(req.get('authorization'), req.get('x-api-key'));
    if (!raw) {
      // No key: the console's session cookie, if any. A key, when sent, always wins over a cookie.
      const cookie = sessionCookie(req.get('cookie'));
      if (cookie === undefined) return next(new DomainError('unauthenticated', 401, 'An API key is required in the Authorization header.'));
      try {
        const p = await sessionPrincipal(db, cookie, req);
        req.principal = { ...p, role: p.role as Role };
      } catch (err) {
        return next(err);
      }
      return next();
    }
    const m = KEY_RE.exec(raw);
    if (!m) return next(new DomainError('invalid_api_key', 401, 'The API key is malformed.'));
    const [, prefix, secret] = m;
    const cached = cache.get(prefix!);
    let row = cached && cached.until > now() && cached.epoch === revocations ? cached.row : undefined;
    if (!row) {
      const missing = unknown.get(prefix!);
      if (missing && missing.until > now() && missing.epoch === creations) return next(invalid());
      // Past the address's failure limit only keys this process has accepted before are looked up (their row may
      // be stale): a flood of made-up prefixes then costs no query at all.
      if (!cached && (await opts.exhausted?.(req))) return next(invalid());
      const epoch = revocations;
      const created = creations;
      [row] = await db.select().from(apiKeys).where(eq(apiKeys.prefix, prefix!)).limit(1);
      if (ttl > 0) {
        if (row) remember(cache, prefix!, { row, until: now() + ttl, epoch });
        else remember(unknown, prefix!, { until: now() + ttl, epoch: created });
      }
    }
    const expected = row ? Buffer.from(row.hash, 'hex') : Buffer.alloc(32);
    const actual = Buffer.from(hashSecret(secret!), 'hex');
    if (!row || !timingSafeEqual(expected, actual)) return next(invalid());
    if (row.revokedAt) return next(new DomainError('revoked_api_key', 401, 'The API key has been revoked.'));
    // At most one write a minute per key: enough to tell an unused key from a live one.
    if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > 60_000) {
      row.lastUsedAt = new Date(); // the cached row: concurrent requests do not all write
      await db.update(apiKeys).set({ lastUsedAt: sql`now()` }).where(eq(apiKeys.id, row.id));
    }
    req.principal = { keyId: row.id, role: row.role as Role, name: row.name };
    next();
  };
}

/**
 * Whether a caller may read what a remote server answered (webhook, CRM, robot, SMS gateway response bodies, kept
 * truncated in error messages): ops and admin, who debug deliveries. Below them a body is the receiver's text, which
 * may be anything a webhook URL reached, so those roles get the status and the reason only.
 */
export function seesResponseBodies(principal: Principal | undefined): boolean {
  return principal?.role === 'ops' || principal?.role === 'admin';
}

/** `admin` may do everything; other roles only what their job needs. */
export function requireRole(...roles: Role[]): RequestHandler {
  return (req, _res, next) => {
    const role = req.principal?.role;
    if (!role) return next(new DomainError('unauthenticated', 401, 'An API key is required in the Authorization header.'));
    if (role !== 'admin' && !roles.includes(role)) {
      return next(new DomainError('forbidden', 403, `The ${role} role may not do this; it needs ${[...roles, 'admin'].join(' or ')}.`));
    }
    next();
  };
}
