import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { decodeEntities } from '../../src/templates/email';
import { upsertContactByExternalId } from '../../src/db/queries';
import { TEMPLATES_DIR } from '../../src/paths';
import { startTestStack, TEST_SECRETS, type TestStack } from '../helpers/stack';
import { messageLinks } from '../../src/channels/email/tracking';
import { verifyToken } from '../../src/channels/tokens';
import type { CapturedMail } from '../helpers/smtp';

const BASE = 'http://itinera.test';
const ADDRESS = 'ACME Ltd · 100 Century Ave · Shanghai';
/** What the sample templates read from the event that started the run. */
const TRIGGER = {
  title: 'Close faster',
  replay_url: 'https://itinera.dev/webinars/close-faster/replay',
  materials_url: 'https://itinera.dev/webinars/close-faster/slides',
  survey_url: 'https://itinera.dev/survey/close-faster',
  date: '2027-01-31',
};
const SAMPLES = readdirSync(TEMPLATES_DIR).filter((n) => !n.startsWith('_') && !n.startsWith('.') && statSync(join(TEMPLATES_DIR, n)).isDirectory()).sort();
const LOCALES = ['zh-CN', 'en'] as const;
const WORDS = {
  'zh-CN': { unsubscribe: '退订', preferences: '订阅偏好', view: '在浏览器中查看', other: 'Unsubscribe' },
  en: { unsubscribe: 'Unsubscribe', preferences: 'Email preferences', view: 'View in browser', other: '退订' },
} as const;

const hrefs = (html: string) => [...html.matchAll(/\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)].map((m) => decodeEntities(m[1] ?? m[2] ?? ''));
/** The raw List-Unsubscribe header, unfolded. */
const listUnsubscribe = (mail: CapturedMail) =>
  /^List-Unsubscribe:(.*)$/im.exec(mail.raw.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ''))?.[1]?.trim();
const local = (url: string) => url.slice(BASE.length);
const withoutPixel = (html: string) => html.replace(/<img src="http:\/\/itinera\.test\/t\/o\/[^"]+"[^>]*>/, '');

/**
 * Every sample template, for a zh-CN and an en contact, through the real send activity and SMTP server: one localized
 * footer with working signed links (unsubscribe, preferences, view in browser), the sender's address, a complete text
 * part, and every link answered by the real HTTP app.
 */
describe('sample emails carry one localized footer whose links all work', () => {
  let stack: TestStack;
  const contactIds: Record<(typeof LOCALES)[number], string> = { 'zh-CN': '', en: '' };

  beforeAll(async () => {
    stack = await startTestStack();
    for (const locale of LOCALES) {
      const c = await upsertContactByExternalId(stack.db.db, { externalId: `render-${locale}`, email: `render-${locale.toLowerCase()}@example.com`, firstName: 'Lin', locale });
      contactIds[locale] = c.id;
    }
  });
  afterAll(async () => {
    await stack?.stop();
  });

  let sent = 0;
  async function send(template: string, locale: (typeof LOCALES)[number], category: 'marketing' | 'transactional'): Promise<CapturedMail> {
    const contactId = contactIds[locale];
    const r = await stack.activities.sendEmail({
      idempotencyKey: `render:${template}:${locale}:${category}`,
      contactId,
      journeyId: 'render',
      workflowId: `journey:render:${contactId}`,
      stepId: `${template}-${category}`,
      template,
      category,
      trigger: TRIGGER,
    });
    expect(r.status).toBe('sent');
    const all = await stack.smtp.waitFor(++sent);
    return all[sent - 1]!;
  }

  it.each(SAMPLES.flatMap((t) => LOCALES.map((l) => [t, l] as const)))('%s (%s, marketing)', async (template, locale) => {
    const mail = await send(template, locale, 'marketing');
    const html = String(mail.parsed.html);
    const text = String(mail.parsed.text);
    const words = WORDS[locale];

    expect(html).not.toMatch(/\bhref\s*=\s*(""|''|"\s+"|'\s+')/);
    // The shared layout, compiled by MJML: responsive (viewport, a media query switching the column width, Outlook's
    // fixed-width MSO tables), in the message's language, no web fonts fetched from elsewhere, nothing left unfilled.
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toMatch(/@media only screen and \(min-width:620px\) \{\s*\.mj-column-per-100 \{ width:100% !important; max-width: 100%; \}/);
    expect(html).toContain('<!--[if mso | IE]>');
    expect(html).toMatch(new RegExp(`<html lang="${locale}"`));
    expect(html).toMatch(/<title>[^<{]+<\/title>/);
    expect(html).not.toContain('fonts.googleapis.com');
    expect(html).not.toMatch(/\{\{|\}\}|<mj-/);
    // The footer's links are signed tokens that verify (a changed character is refused: tests/channels/tokens.test.ts).
    for (const l of [...hrefs(html)].filter((x) => /^http:\/\/itinera\.test\/(u|p|v)\//.test(x))) {
      expect(verifyToken(TEST_SECRETS, decodeURIComponent(l.slice(l.lastIndexOf('/') + 1))).ok, l).toBe(true);
    }
    const links = hrefs(html);
    expect(links.length).toBeGreaterThan(0);
    for (const l of links) expect(l.startsWith(`${BASE}/`), l).toBe(true);

    // One footer: one unsubscribe link (the List-Unsubscribe one), one preferences link, one view link, the address once.
    const unsubscribe = links.filter((l) => l.startsWith(`${BASE}/u/`));
    const preferences = links.filter((l) => l.startsWith(`${BASE}/p/`));
    const view = links.filter((l) => l.startsWith(`${BASE}/v/`));
    expect([unsubscribe.length, preferences.length, view.length]).toEqual([1, 1, 1]);
    expect(listUnsubscribe(mail)).toContain(`<${unsubscribe[0]}>`);
    expect(html.split(ADDRESS).length - 1).toBe(1);
    expect(html).toContain(words.unsubscribe);
    expect(html).toContain(words.preferences);
    expect(html).toContain(words.view);
    expect(html).not.toContain(words.other);

    // The text part: the same links, the address, nothing left blank.
    expect(text).toContain(unsubscribe[0]);
    expect(text).toContain(preferences[0]);
    expect(text).toContain(view[0]);
    expect(text).toContain(ADDRESS);
    expect(text).not.toMatch(/\{\{|\}\}/);
    expect(text).not.toMatch(/^(Unsubscribe|Email preferences|View in browser|退订|订阅偏好|在浏览器中查看)[:：]?\s*$/m); // a link rendered empty

    const app = request(stack.app);
    for (const l of links.filter((x) => x.startsWith(`${BASE}/t/c/`))) {
      const res = await app.get(local(l)).expect(302);
      expect(res.headers['location']).toMatch(/^https:\/\/itinera\.dev\//);
    }
    const unsubPage = await app.get(local(unsubscribe[0]!)).expect(200);
    expect(unsubPage.text).toContain(`lang="${locale === 'zh-CN' ? 'zh-CN' : 'en'}"`);
    expect(unsubPage.text).toContain(locale === 'zh-CN' ? '确认退订' : 'Stop receiving marketing email');
    const prefPage = await app.get(local(preferences[0]!)).expect(200);
    expect(prefPage.text).toContain(words.preferences === '订阅偏好' ? '订阅偏好' : 'Email preferences');
    expect(prefPage.text).toContain(locale === 'zh-CN' ? '新闻通讯' : 'Newsletter');
    const hosted = await app.get(local(view[0]!)).expect(200);
    expect(hosted.headers['content-type']).toMatch(/^text\/html/);
    expect(hosted.text).toBe(withoutPixel(html));
  });

  it.each(LOCALES)('a transactional email (%s) has preferences and view links but no unsubscribe, and no empty href', async (locale) => {
    const mail = await send('renewal-reminder', locale, 'transactional');
    const html = String(mail.parsed.html);
    const text = String(mail.parsed.text);
    expect(html).not.toMatch(/\bhref\s*=\s*(""|''|"\s+"|'\s+')/);
    const links = hrefs(html);
    expect(links.some((l) => l.startsWith(`${BASE}/u/`))).toBe(false);
    expect(listUnsubscribe(mail)).toBeUndefined();
    const view = links.find((l) => l.startsWith(`${BASE}/v/`))!;
    const prefs = links.find((l) => l.startsWith(`${BASE}/p/`))!;
    expect(text).toContain(view);
    expect(text).toContain(prefs);
    expect(text).not.toContain(WORDS[locale].unsubscribe + (locale === 'zh-CN' ? '：' : ':'));
    const app = request(stack.app);
    expect((await app.get(local(view)).expect(200)).text).toBe(withoutPixel(html));
    await app.get(local(prefs)).expect(200);
  });

  it('a tampered view-in-browser link is refused; one for a message that is not hosted answers 404', async () => {
    const mail = await send('welcome', 'zh-CN', 'transactional');
    const view = hrefs(String(mail.parsed.html)).find((l) => l.startsWith(`${BASE}/v/`))!;
    const tampered = view.slice(0, -1) + (view.endsWith('A') ? 'B' : 'A');
    await request(stack.app).get(local(tampered)).expect(400);
    const unsent = messageLinks({ baseUrl: BASE, secrets: TEST_SECRETS, messageKey: 'never-sent', contactId: contactIds.en, kind: 'marketing', language: 'zh' });
    const gone = await request(stack.app).get(local(unsent.view_in_browser)).expect(404);
    expect(gone.text).toContain('此邮件的在线版本已不再提供');
  });

  it('the message list does not carry the hosted HTML', async () => {
    await send('welcome', 'en', 'transactional');
    const list = await request(stack.app).get('/v1/messages?channel=email&limit=5').set('Authorization', `Bearer ${stack.keys.ops}`).expect(200);
    expect(list.body.items.length).toBeGreaterThan(0);
    for (const m of list.body.items) expect(m).not.toHaveProperty('html');
  });
});
