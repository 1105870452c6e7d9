import { and, eq } from 'drizzle-orm';
import { z } from 'zod';
import { resolvePreferences, resolveView, type PageLanguage } from '../../channels/email/tracking';
import { signToken, verifyToken } from '../../channels/tokens';
import { resubscribeEmail, unsubscribeEmail } from '../../contacts/consent';
import { readPreferences, setTopicPreferences } from '../../contacts/preferences';
import type { Topics } from '../../contacts/topics';
import { messages } from '../../db/schema';
import { DomainError } from '../../errors';
import type { IngestDeps } from '../../ingest/event';
import { escapeHtml, page, PAGE_TEXT } from '../pages';
import { defineRoute } from '../route';
import { languageOf, recordTrackingEvent } from './tracking';

const Token = z.object({ token: z.string().min(10).max(4096) });

/** The form token of the preference page: it proves a POST comes from the page we served (CSRF). */
const FORM_TTL_SECONDS = 2 * 3600;

const PreferenceForm = z.object({
  form: z.string().min(10).max(4096),
  action: z.enum(['save', 'unsubscribe_all', 'resubscribe']),
  /** The checked topics (a repeated field: one value, several, or none at all). */
  topic: z.union([z.string().max(40), z.array(z.string().max(40)).max(50)]).optional(),
});

/** The hosted copy may show the message's images (any https/http origin) and its inline styles; it runs nothing. */
const HOSTED_COPY_CSP = "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export type MailPageDeps = IngestDeps & { secrets: readonly string[]; topics: Topics; now?: () => number };

/** Pages an email links to besides the unsubscribe page: its hosted copy and the contact's preference centre. */
export function mailPageRoutes(deps: MailPageDeps) {
  const now = deps.now ?? Date.now;

  const preferencePage = async (token: string, contactId: string, language: PageLanguage, notice?: string): Promise<string | undefined> => {
    const prefs = await readPreferences(deps.db, contactId, deps.topics);
    if (!prefs) return undefined;
    const t = PAGE_TEXT[language];
    const head = `<h1>${escapeHtml(t.preferencesTitle)}</h1>${notice ? `<p role="status"><strong>${escapeHtml(notice)}</strong></p>` : ''}`;
    const form = signToken(deps.secrets, { k: 'f', c: contactId }, FORM_TTL_SECONDS, now());
    const action = `/p/${escapeHtml(token)}`;
    const hidden = `<input type="hidden" name="form" value="${escapeHtml(form)}">`;
    if (prefs.email.marketing === 'opted_out' || prefs.email.suppressed !== null) {
      // Only an unsubscribe can be undone here: a complaint or a bounce keeps the address suppressed.
      const canUndo = prefs.email.suppressed === null || prefs.email.suppressed === 'unsubscribed';
      const undo = canUndo ? `<form method="post" action="${action}">${hidden}<button type="submit" name="action" value="resubscribe">${escapeHtml(t.resubscribe)}</button></form>` : '';
      return page(language, t.preferencesTitle, `${head}<p>${escapeHtml(t.allOff)}</p>${undo}`);
    }
    const boxes = deps.topics
      .map((topic) => {
        const label = language === 'zh' ? topic.label['zh-CN'] : topic.label.en;
        return `<label><input type="checkbox" name="topic" value="${escapeHtml(topic.id)}"${prefs.email.topics[topic.id] ? ' checked' : ''}> ${escapeHtml(label)}</label>`;
      })
      .join('');
    return page(
      language,
      t.preferencesTitle,
      `${head}<p>${escapeHtml(t.preferencesIntro)}</p>` +
        `<form method="post" action="${action}">${hidden}<fieldset>${boxes}</fieldset><button type="submit" name="action" value="save">${escapeHtml(t.save)}</button></form>` +
        `<form method="post" action="${action}">${hidden}<p><button type="submit" name="action" value="unsubscribe_all">${escapeHtml(t.unsubscribeAll)}</button></p></form>`,
    );
  };

  const preferencesToken = (token: string) => {
    const r = resolvePreferences(deps.secrets, token, now());
    if (!r.ok) throw new DomainError('invalid_token', 400, `This preferences link is not valid (${r.reason}).`);
    return r;
  };
  const gone = (language: PageLanguage) => page(language, PAGE_TEXT[language].goneTitle, `<h1>${escapeHtml(PAGE_TEXT[language].goneTitle)}</h1><p>${escapeHtml(PAGE_TEXT[language].goneBody)}</p>`);

  return [
    defineRoute({
      method: 'get',
      path: '/v/:token',
      tag: 'tracking',
      summary: 'The hosted copy of a sent email (its view-in-browser link)',
      auth: 'public',
      params: Token,
      responses: {
        200: { description: 'The email as sent', contentType: 'text/html' },
        400: { description: 'Invalid link' },
        404: { description: 'The message is not (or no longer) hosted', contentType: 'text/html' },
      },
      handler: async ({ params, res }) => {
        const r = resolveView(deps.secrets, params.token, now());
        if (!r.ok) throw new DomainError('invalid_token', 400, `This link is not valid (${r.reason}).`);
        const [row] = await deps.db
          .select({ html: messages.html })
          .from(messages)
          .where(and(eq(messages.idempotencyKey, r.messageKey), eq(messages.contactId, r.contactId), eq(messages.channel, 'email')))
          .limit(1);
        res.set('Cache-Control', 'private, no-store');
        if (!row?.html) {
          res.status(404).type('html').send(gone(await languageOf(deps.db, r.contactId, r.language)));
          return;
        }
        res.set('Content-Security-Policy', HOSTED_COPY_CSP).type('html').send(row.html);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/p/:token',
      tag: 'tracking',
      summary: 'Preference centre: opt in or out per subscription topic, or unsubscribe from all marketing email',
      auth: 'public',
      params: Token,
      responses: {
        200: { description: 'The preference page', contentType: 'text/html' },
        400: { description: 'Invalid link' },
        404: { description: 'The contact no longer exists', contentType: 'text/html' },
      },
      handler: async ({ params, res }) => {
        const r = preferencesToken(params.token);
        const language = await languageOf(deps.db, r.contactId, r.language);
        const html = await preferencePage(params.token, r.contactId, language);
        res.set('Cache-Control', 'private, no-store');
        if (!html) res.status(404).type('html').send(gone(language));
        else res.type('html').send(html);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/p/:token',
      tag: 'tracking',
      summary: 'Saves the preference page (its form carries a signed form token: CSRF)',
      auth: 'public',
      params: Token,
      body: PreferenceForm,
      responses: {
        200: { description: 'The preference page, saved', contentType: 'text/html' },
        400: { description: 'Invalid link, form token or topic' },
        404: { description: 'The contact no longer exists', contentType: 'text/html' },
      },
      handler: async ({ params, body, res }) => {
        const r = preferencesToken(params.token);
        const form = verifyToken(deps.secrets, body.form, now());
        if (!form.ok || form.payload['k'] !== 'f' || form.payload['c'] !== r.contactId) {
          throw new DomainError('invalid_form', 400, 'This form has expired or was not served by us; open the preferences link again.');
        }
        const language = await languageOf(deps.db, r.contactId, r.language);
        const t = PAGE_TEXT[language];
        let found: boolean;
        if (body.action === 'resubscribe') {
          await resubscribeEmail(deps.db, r.contactId, { source: 'preference_page', messageKey: r.messageKey });
          found = true;
        } else if (body.action === 'unsubscribe_all') {
          found = await unsubscribeEmail(deps.db, r.contactId, { source: 'preference_page', messageKey: r.messageKey }, deps);
          // As the unsubscribe link does: email stats and scoring count unsubscribes per message.
          if (found) await recordTrackingEvent(deps, new Date(now()), 'email.unsubscribed', r.contactId, { message_key: r.messageKey, list_id: null });
        } else {
          const checked = new Set<string>(body.topic === undefined ? [] : typeof body.topic === 'string' ? [body.topic] : body.topic);
          const known = new Set(deps.topics.map((x) => x.id));
          const unknown = [...checked].filter((x) => !known.has(x));
          if (unknown.length > 0) throw new DomainError('unknown_topic', 400, `Unknown topic: ${unknown.join(', ').slice(0, 200)}.`);
          found = await setTopicPreferences(
            deps.db,
            r.contactId,
            { email: Object.fromEntries(deps.topics.map((x) => [x.id, checked.has(x.id)])) },
            { source: 'preference_page', actor: 'contact' },
            deps,
          );
        }
        const html = found ? await preferencePage(params.token, r.contactId, language, t.saved) : undefined;
        res.set('Cache-Control', 'private, no-store');
        if (!html) res.status(404).type('html').send(gone(language));
        else res.type('html').send(html);
      },
    }),
  ];
}
