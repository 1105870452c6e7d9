import { randomUUID } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import { z } from 'zod';
import { resolveClick, resolveOpen, resolveUnsubscribe } from '../../channels/email/tracking';
import { contacts } from '../../db/schema';
import { unsubscribeEmail } from '../../contacts/consent';
import { ingestEvent, type IngestDeps } from '../../ingest/event';
import { DomainError } from '../../errors';
import { defineRoute } from '../route';

/** 43-byte transparent GIF. */
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

const Token = z.object({ token: z.string().min(10).max(4096) });

export type TrackingDeps = IngestDeps & { secrets: readonly string[]; now?: () => number };

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(
    title,
  )}</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}</style></head><body>${body}</body></html>`;
}

/**
 * Public, signed endpoints. Each verifies its token before doing anything: a tampered or expired token never
 * redirects and never unsubscribes anyone.
 */
export function trackingRoutes(deps: TrackingDeps) {
  const now = deps.now ?? Date.now;
  const record = async (type: string, contactId: string, properties: Record<string, unknown>) => {
    // A link outlives its contact (erased on request, src/contacts/erase.ts): the link still works, there is just no one
    // to record it for — an erased contact's tombstone gets no new events.
    const [known] = await deps.db.select({ id: contacts.id }).from(contacts).where(and(eq(contacts.id, contactId), isNull(contacts.erasedAt))).limit(1);
    if (!known) return;
    await ingestEvent(deps, { id: `${type}:${randomUUID()}`, type, contactId, properties, occurredAt: new Date(now()), source: 'tracking' });
  };

  const unsubscribe = async (token: string) => {
    const r = resolveUnsubscribe(deps.secrets, token, now());
    if (!r.ok) throw new DomainError('invalid_token', 400, `This unsubscribe link is not valid (${r.reason}).`);
    // contact.unsubscribed (what journeys exit on) is stored with the consent change and routed by unsubscribeEmail;
    // email.unsubscribed stays for email stats and the scoring model.
    if (!(await unsubscribeEmail(deps.db, r.contactId, { source: 'unsubscribe_link', messageKey: r.messageKey, topic: r.listId }, deps))) return;
    await record('email.unsubscribed', r.contactId, { message_key: r.messageKey, list_id: r.listId ?? null });
  };

  return [
    defineRoute({
      method: 'get',
      path: '/t/c/:token',
      tag: 'tracking',
      summary: 'Click redirect: 302 to the signed destination only',
      auth: 'public',
      params: Token,
      responses: { 302: { description: 'Redirect to the destination the token signs' }, 400: { description: 'Invalid or expired link' } },
      handler: async ({ params, res }) => {
        const r = resolveClick(deps.secrets, params.token, now());
        if (!r.ok) throw new DomainError('invalid_token', 400, `This link is not valid (${r.reason}).`);
        await record('email.clicked', r.contactId, { message_key: r.messageKey, url: r.url, link_tag: r.tag ?? null });
        res.set('Cache-Control', 'no-store').redirect(302, r.url);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/t/o/:token',
      tag: 'tracking',
      summary: 'Open pixel (always a 1×1 GIF; only a valid token records an open)',
      auth: 'public',
      params: Token,
      responses: { 200: { description: 'A transparent GIF', contentType: 'image/gif' } },
      handler: async ({ params, res }) => {
        const r = resolveOpen(deps.secrets, params.token, now());
        if (r.ok) await record('email.opened', r.contactId, { message_key: r.messageKey });
        res
          // Mail clients show it inside another origin's page; helmet's same-origin default would make them refuse it.
          .set({ 'Content-Type': 'image/gif', 'Cache-Control': 'no-store, max-age=0', 'Cross-Origin-Resource-Policy': 'cross-origin' }).status(200).end(PIXEL);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/u/:token',
      tag: 'tracking',
      summary: 'Unsubscribe page; the button POSTs back (a GET never unsubscribes: link scanners follow GETs)',
      auth: 'public',
      params: Token,
      responses: { 200: { description: 'A confirmation page', contentType: 'text/html' }, 400: { description: 'Invalid link' } },
      handler: async ({ params, res }) => {
        const r = resolveUnsubscribe(deps.secrets, params.token, now());
        if (!r.ok) throw new DomainError('invalid_token', 400, `This unsubscribe link is not valid (${r.reason}).`);
        res
          .type('html')
          .send(
            page(
              'Unsubscribe',
              `<h1>Unsubscribe</h1><p>Stop receiving marketing email from us?</p><form method="post" action="/u/${escapeHtml(
                params.token,
              )}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
            ),
          );
      },
    }),
    defineRoute({
      method: 'post',
      path: '/u/:token',
      tag: 'tracking',
      summary: 'RFC 8058 one-click unsubscribe (List-Unsubscribe=One-Click) and the page form',
      auth: 'public',
      params: Token,
      responses: { 200: { description: 'Unsubscribed', contentType: 'text/html' }, 400: { description: 'Invalid link' } },
      handler: async ({ params, res }) => {
        await unsubscribe(params.token);
        res.type('html').send(page('Unsubscribed', '<h1>You are unsubscribed</h1><p>You will not receive marketing email from us again.</p>'));
      },
    }),
  ];
}
