import { randomUUID } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import { z } from 'zod';
import { pageLanguage, resolveClick, resolveOpen, resolveUnsubscribe, type PageLanguage } from '../../channels/email/tracking';
import { escapeHtml, page, PAGE_TEXT } from '../pages';
import { contacts } from '../../db/schema';
import { unsubscribeEmail } from '../../contacts/consent';
import { setTopicPreferences } from '../../contacts/preferences';
import { DEFAULT_TOPICS, type Topic, type Topics } from '../../contacts/topics';
import { ingestEvent, type IngestDeps } from '../../ingest/event';
import { DomainError } from '../../errors';
import { defineRoute } from '../route';

/** 43-byte transparent GIF. */
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

const Token = z.object({ token: z.string().min(10).max(4096) });

export type TrackingDeps = IngestDeps & {
  secrets: readonly string[];
  /** MAIL_TOPICS: an unsubscribe link signed for one of these withdraws that topic only. @default DEFAULT_TOPICS */
  topics?: Topics;
  now?: () => number;
};

/** Records what a recipient did with a link (`email.clicked`, `email.unsubscribed`…) as an event of the contact. */
export async function recordTrackingEvent(deps: IngestDeps, at: Date, type: string, contactId: string, properties: Record<string, unknown>): Promise<void> {
  // A link outlives its contact (erased on request, src/contacts/erase.ts): the link still works, there is just no one
  // to record it for — an erased contact's tombstone gets no new events.
  const [known] = await deps.db.select({ id: contacts.id }).from(contacts).where(and(eq(contacts.id, contactId), isNull(contacts.erasedAt))).limit(1);
  if (!known) return;
  await ingestEvent(deps, { id: `${type}:${randomUUID()}`, type, contactId, properties, occurredAt: at, source: 'tracking' });
}

/** The page's language: the message's (signed into links since they carry it), else the contact's locale. */
export async function languageOf(db: IngestDeps['db'], contactId: string, signed: PageLanguage | undefined): Promise<PageLanguage> {
  if (signed) return signed;
  const [row] = await db.select({ locale: contacts.locale }).from(contacts).where(eq(contacts.id, contactId)).limit(1);
  return pageLanguage(row?.locale);
}

/**
 * Public, signed endpoints. Each verifies its token before doing anything: a tampered or expired token never
 * redirects and never unsubscribes anyone.
 */
export function trackingRoutes(deps: TrackingDeps) {
  const now = deps.now ?? Date.now;
  const record = (type: string, contactId: string, properties: Record<string, unknown>) => recordTrackingEvent(deps, new Date(now()), type, contactId, properties);

  const topics = deps.topics ?? DEFAULT_TOPICS;
  /** The configured topic a link was signed for; links without one (and older links naming a list) unsubscribe from all. */
  const topicOf = (listId: string | undefined): Topic | undefined => (listId === undefined ? undefined : topics.find((t) => t.id === listId));
  const fill = (text: string, topic: Topic, language: PageLanguage) => text.replace('{topic}', topic.label[language === 'zh' ? 'zh-CN' : 'en']);

  /** `all`: every marketing email (the page's second button); otherwise the link's topic, if it has one. */
  const unsubscribe = async (token: string, all: boolean) => {
    const r = resolveUnsubscribe(deps.secrets, token, now());
    if (!r.ok) throw new DomainError('invalid_token', 400, `This unsubscribe link is not valid (${r.reason}).`);
    const language = await languageOf(deps.db, r.contactId, r.language);
    const topic = all ? undefined : topicOf(r.listId);
    // contact.unsubscribed (what journeys exit on, with the topic when it is one) is stored with the consent change and
    // routed by the write; email.unsubscribed stays for email stats and the scoring model.
    const done = topic
      ? await setTopicPreferences(deps.db, r.contactId, { email: { [topic.id]: false } }, { source: 'unsubscribe_link', actor: 'recipient' }, deps)
      : await unsubscribeEmail(deps.db, r.contactId, { source: 'unsubscribe_link', messageKey: r.messageKey, topic: r.listId }, deps);
    if (done) await record('email.unsubscribed', r.contactId, { message_key: r.messageKey, list_id: r.listId ?? null, ...(topic ? { topic: topic.id } : {}) });
    return { language, topic };
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
        const language = await languageOf(deps.db, r.contactId, r.language);
        const t = PAGE_TEXT[language];
        const topic = topicOf(r.listId);
        const action = `/u/${escapeHtml(params.token)}`;
        const allForm = `<form method="post" action="${action}"><input type="hidden" name="scope" value="all"><button type="submit">${escapeHtml(t.unsubscribeAll)}</button></form>`;
        const body = topic
          ? `<h1>${escapeHtml(t.unsubscribeTitle)}</h1><p>${escapeHtml(fill(t.unsubscribeTopicQuestion, topic, language))}</p><form method="post" action="${action}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">${escapeHtml(fill(t.unsubscribeTopicButton, topic, language))}</button></form>${allForm}`
          : `<h1>${escapeHtml(t.unsubscribeTitle)}</h1><p>${escapeHtml(t.unsubscribeQuestion)}</p><form method="post" action="${action}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">${escapeHtml(t.unsubscribeButton)}</button></form>`;
        res.type('html').send(page(language, t.unsubscribeTitle, body));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/u/:token',
      tag: 'tracking',
      summary: 'RFC 8058 one-click unsubscribe (List-Unsubscribe=One-Click) and the page form: a link signed for a MAIL_TOPICS topic withdraws that topic only (contact.unsubscribed with the topic); `scope=all`, and links without a topic, withdraw all marketing email',
      auth: 'public',
      params: Token,
      bodyDoc: z.object({ 'List-Unsubscribe': z.literal('One-Click').optional(), scope: z.literal('all').optional() }),
      responses: { 200: { description: 'Unsubscribed', contentType: 'text/html' }, 400: { description: 'Invalid link' } },
      handler: async ({ params, req, res }) => {
        const all = typeof req.body === 'object' && req.body !== null && (req.body as Record<string, unknown>).scope === 'all';
        const { language, topic } = await unsubscribe(params.token, all);
        const t = PAGE_TEXT[language];
        const text = topic ? fill(t.unsubscribedTopicBody, topic, language) : t.unsubscribedBody;
        res.type('html').send(page(language, t.unsubscribedTitle, `<h1>${escapeHtml(t.unsubscribedTitle)}</h1><p>${escapeHtml(text)}</p>`));
      },
    }),
  ];
}
