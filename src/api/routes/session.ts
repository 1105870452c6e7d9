import { z } from 'zod';
import type { Db } from '../../db/client';
import { ConflictError } from '../../errors';
import { ROLES, verifyApiKey } from '../auth';
import { defineRoute } from '../route';
import { createSession, CSRF_HEADER, revokeSession, SESSION_COOKIE } from '../sessions';

const Me = z.object({
  keyId: z.uuid(),
  name: z.string(),
  role: z.enum(ROLES as [string, ...string[]]),
  via: z.enum(['session', 'key']),
  expiresAt: z.date().nullable().meta({ description: 'When the session ends (absolute); null when called with a key' }),
  csrfToken: z.string().nullable().meta({ description: `Send it as ${CSRF_HEADER} on every unsafe request made with the session cookie; null with a key` }),
});

const ALL_ROLES = ROLES.filter((r) => r !== 'admin');

/** The console's sign-in: an API key exchanged for a session cookie, and who the caller is. */
export function sessionRoutes(deps: { db: Db; ttlMs: number }) {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/session',
      tag: 'session',
      summary: `Sign in: exchange an API key for an httpOnly, SameSite=Strict ${SESSION_COOKIE} cookie with the key's role; the answer carries the CSRF token that unsafe requests with the cookie must send as ${CSRF_HEADER}`,
      auth: 'public',
      body: z.strictObject({ apiKey: z.string().min(1).max(200) }),
      responses: { 201: { description: 'Signed in; Set-Cookie carries the session', schema: Me }, 401: { description: 'The key is not valid or has been revoked' } },
      handler: async ({ body, req, res }) => {
        const key = await verifyApiKey(deps.db, body.apiKey);
        const s = await createSession(deps.db, { req, res, key, ttlMs: deps.ttlMs });
        res.set('Cache-Control', 'no-store');
        return { status: 201, body: { keyId: s.keyId, name: s.name, role: s.role, via: 'session', expiresAt: s.session.expiresAt, csrfToken: s.session.csrfToken } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/session',
      tag: 'session',
      summary: 'Who the caller is: key, role, and for a session its expiry and CSRF token',
      auth: ALL_ROLES,
      responses: { 200: { description: 'The caller', schema: Me } },
      handler: async ({ req, res }) => {
        const p = req.principal!;
        res.set('Cache-Control', 'no-store');
        return {
          body: { keyId: p.keyId, name: p.name, role: p.role, via: p.session ? 'session' : 'key', expiresAt: p.session?.expiresAt ?? null, csrfToken: p.session?.csrfToken ?? null },
        };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/session',
      tag: 'session',
      summary: `Sign out: revoke the session the cookie names and clear the cookie (needs ${CSRF_HEADER})`,
      auth: ALL_ROLES,
      responses: { 204: { description: 'Signed out' }, 409: { description: 'Called with an API key, not a session' } },
      handler: async ({ req, res }) => {
        const session = req.principal!.session;
        if (!session) throw new ConflictError('This request is signed with an API key, not a console session: there is no session to end (revoke the key instead).');
        await revokeSession(deps.db, { req, res, id: session.id });
        return { status: 204 };
      },
    }),
  ];
}
