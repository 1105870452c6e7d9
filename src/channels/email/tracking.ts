/**
 * Click/open tracking, RFC 8058 one-click unsubscribe and the marketing footer.
 *
 * Runs on the RENDERED html/text (after the template renderer), because that is the only place
 * every final link is known. Links are swapped for signed redirect URLs; the destination lives
 * inside the signature, so the redirect endpoint can never be used as an open redirect.
 *
 * The per-recipient links a template places (`links.unsubscribe`, `links.preferences`, `links.view_in_browser`) are
 * signed by {@link messageLinks} before rendering and handed to applyTracking, which then adds no second unsubscribe
 * link or address when the template's footer already has them.
 *
 * Templates may also put the unsubscribe link where they want it with the placeholder
 * {@link UNSUBSCRIBE_URL_PLACEHOLDER} (pass it as `unsubscribe_url` in the render context:
 * `<a href="{{unsubscribe_url}}">`). Marketing mail whose HTML has no placeholder gets one in the
 * footer, so there is always a visible unsubscribe link next to the physical address.
 */
import { decodeEntities } from '../../templates/email';
import { signToken, verifyToken, type TokenFailureReason } from '../tokens';

/** Only characters Handlebars does not escape, so it survives `{{unsubscribe_url}}` intact. */
export const UNSUBSCRIBE_URL_PLACEHOLDER = '%%unsubscribe_url%%';

export const MailKind = { Marketing: 'marketing', Transactional: 'transactional' } as const;
export type MailKind = (typeof MailKind)[keyof typeof MailKind];

const DAY = 86_400;

export interface TrackingOptions {
  /** Public base URL of the tracking endpoints, e.g. `https://t.example.com` (no trailing slash needed). */
  baseUrl: string;
  /** Token secrets; the first signs (see tokens.ts for rotation). */
  secrets: readonly string[];
  /** Stable key of this message (the idempotency key); attributes clicks/opens to the send. */
  messageKey: string;
  contactId: string;
  /** Marketing mail gets unsubscribe headers and the physical-address footer. */
  kind: MailKind;
  /** Postal address required in commercial mail (CAN-SPAM, CASL). Required when kind is marketing. */
  physicalAddress?: string;
  /** Mailbox for the `mailto:` List-Unsubscribe alternative (some receivers only support mailto). */
  unsubscribeMailto?: string;
  /** Optional list/topic id carried in the unsubscribe token. */
  listId?: string;
  /** @default true */
  trackClicks?: boolean;
  /** @default true */
  trackOpens?: boolean;
  /** Also add List-Unsubscribe headers to transactional mail. @default false */
  unsubscribeForTransactional?: boolean;
  /** Footer link label (localize per message). @default 'Unsubscribe' */
  unsubscribeLabel?: string;
  /**
   * The message's links as the template saw them ({@link messageLinks}): the unsubscribe URL is this one, so the
   * template's footer link, the List-Unsubscribe header and the fallback footer all carry one token.
   */
  links?: MessageLinks;
  /** @default 365 days: links in old mail should keep working */
  clickTtlSeconds?: number;
  /** @default 365 days */
  openTtlSeconds?: number;
  /** @default 5 years: an unsubscribe link must work for as long as someone may click it */
  unsubscribeTtlSeconds?: number;
  now?: Date | number;
}

export interface TrackedEmail {
  html: string;
  /** The HTML without the open pixel, for the hosted copy. */
  webHtml: string;
  text: string;
  /** Extra headers for the outgoing message (List-Unsubscribe…); empty when not applicable. */
  headers: Record<string, string>;
  unsubscribeUrl?: string;
  /** Destinations that were rewritten, in document order (for logs and tests). */
  links: { url: string; tag?: string }[];
}

interface ClickClaims {
  k: 'c';
  u: string;
  m: string;
  c: string;
  t?: string;
  [key: string]: unknown;
}
interface OpenClaims {
  k: 'o';
  m: string;
  c: string;
  [key: string]: unknown;
}
interface UnsubscribeClaims {
  k: 'u';
  m: string;
  c: string;
  l?: string;
  /** Language of the page (`zh` or `en`): the language the message was written in. */
  g?: string;
  [key: string]: unknown;
}
/** Preference page (`p`) and hosted copy of the message (`v`). */
interface PageClaims {
  k: 'p' | 'v';
  m: string;
  c: string;
  g?: string;
  [key: string]: unknown;
}

/** The languages our hosted pages speak. */
export type PageLanguage = 'zh' | 'en';
/** `zh-CN`, `zh_TW`, `zh` → zh; anything else → en. */
export const pageLanguage = (locale: string | null | undefined): PageLanguage => (/^zh\b/i.test(locale?.trim() ?? '') ? 'zh' : 'en');

/** Per-recipient links a template places with `{{links.*}}`. */
export interface MessageLinks {
  /** Only for mail that carries an unsubscribe (marketing, or transactional when asked). */
  unsubscribe?: string;
  preferences: string;
  view_in_browser: string;
}

export type ResolveFailureReason = TokenFailureReason | 'wrong_kind' | 'unsafe_url';

export type ClickResolution =
  | { ok: true; url: string; messageKey: string; contactId: string; tag?: string }
  | { ok: false; reason: ResolveFailureReason };
export type OpenResolution =
  | { ok: true; messageKey: string; contactId: string }
  | { ok: false; reason: ResolveFailureReason };
export type UnsubscribeResolution =
  | { ok: true; messageKey: string; contactId: string; listId?: string; language?: PageLanguage }
  | { ok: false; reason: ResolveFailureReason };
export type PageResolution =
  | { ok: true; messageKey: string; contactId: string; language?: PageLanguage }
  | { ok: false; reason: ResolveFailureReason };

function normalizeBase(baseUrl: string): string {
  let u: URL;
  try {
    u = new URL(baseUrl);
  } catch {
    throw new Error(`tracking: baseUrl is not an absolute URL: ${baseUrl}`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new Error(`tracking: baseUrl must be http(s): ${baseUrl}`);
  }
  return u.toString().replace(/\/+$/, '');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function isHttpUrl(raw: string): boolean {
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

// An <a>/<area> start tag; quoted attribute values may contain '>'.
const LINK_TAG = /<(a|area)\b((?:[^>"']|"[^"]*"|'[^']*')*)>/gi;
// One attribute: name, then optional value in "", '' or unquoted.
const ATTR = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;

interface Attr {
  name: string;
  value: string | undefined;
  start: number;
  end: number;
}

function parseAttrs(s: string): Attr[] {
  const out: Attr[] = [];
  ATTR.lastIndex = 0;
  for (let m = ATTR.exec(s); m; m = ATTR.exec(s)) {
    out.push({
      name: m[1]!.toLowerCase(),
      value: m[2] ?? m[3] ?? m[4],
      start: m.index,
      end: m.index + m[0].length,
    });
  }
  return out;
}

/**
 * Rewrites links, adds the open pixel, unsubscribe link/headers and the marketing footer.
 * Pure function of its inputs (the clock is injected), so a retried activity produces identical mail.
 */
export function applyTracking(input: { html: string; text: string }, opts: TrackingOptions): TrackedEmail {
  const base = normalizeBase(opts.baseUrl);
  const now = opts.now ?? Date.now();
  const marketing = opts.kind === 'marketing';
  if (marketing && !opts.physicalAddress?.trim()) {
    // Commercial mail without a postal address is unlawful in several markets: refuse, don't guess.
    throw new Error('tracking: marketing mail requires physicalAddress');
  }
  const wantUnsubscribe = marketing || opts.unsubscribeForTransactional === true;

  let unsubscribeUrl: string | undefined;
  const headers: Record<string, string> = {};
  if (wantUnsubscribe) {
    unsubscribeUrl = opts.links?.unsubscribe ?? unsubscribeLink(base, opts, undefined, now);
    const token = unsubscribeUrl.slice(`${base}/u/`.length);
    const entries = [`<${unsubscribeUrl}>`];
    if (opts.unsubscribeMailto) {
      entries.push(`<mailto:${opts.unsubscribeMailto}?subject=${encodeURIComponent(`unsubscribe ${token}`)}>`);
    }
    headers['List-Unsubscribe'] = entries.join(', ');
    // RFC 8058: receivers POST "List-Unsubscribe=One-Click" to the https URI, no confirmation page.
    headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
  }

  let html = input.html;
  let text = input.text;
  const unsubTarget = unsubscribeUrl ?? '';
  // The template placed the link itself (the placeholder, or `{{links.unsubscribe}}`): no second one in the footer.
  const hadPlaceholder = html.includes(UNSUBSCRIBE_URL_PLACEHOLDER) || (unsubTarget !== '' && html.includes(unsubTarget));
  html = html.split(UNSUBSCRIBE_URL_PLACEHOLDER).join(unsubTarget);
  const textHadPlaceholder = text.includes(UNSUBSCRIBE_URL_PLACEHOLDER) || (unsubTarget !== '' && text.includes(unsubTarget));
  text = text.split(UNSUBSCRIBE_URL_PLACEHOLDER).join(unsubTarget);

  const links: { url: string; tag?: string }[] = [];
  if (html && opts.trackClicks !== false) {
    html = html.replace(LINK_TAG, (whole, tagName: string, attrText: string) => {
      const attrs = parseAttrs(attrText);
      const href = attrs.find((a) => a.name === 'href');
      if (!href || href.value === undefined) return whole;
      if (attrs.some((a) => a.name === 'data-itinera-unsubscribe' || a.name === 'data-no-track')) return whole;
      const url = decodeEntities(href.value).trim();
      if (!isHttpUrl(url)) return whole; // mailto:, tel:, anchors, relative links stay as they are
      // Ours already: tracking, unsubscribe, preference page, hosted copy.
      if (['/u/', '/t/', '/p/', '/v/'].some((p) => url.startsWith(`${base}${p}`))) return whole;
      let tag = attrs.find((a) => a.name === 'data-link-tag')?.value;
      tag = tag !== undefined ? decodeEntities(tag) : (new URL(url).searchParams.get('utm_content') ?? undefined);
      const claims: ClickClaims = { k: 'c', u: url, m: opts.messageKey, c: opts.contactId };
      if (tag) claims.t = tag;
      const token = signToken(opts.secrets, claims, opts.clickTtlSeconds ?? 365 * DAY, now);
      links.push(tag ? { url, tag } : { url });
      const rewritten = `${attrText.slice(0, href.start)}href="${base}/t/c/${token}"${attrText.slice(href.end)}`;
      return `<${tagName}${rewritten}>`;
    });
  }

  // The compliance footer, for templates whose own footer lacks the address or the unsubscribe link (a layout's
  // footer that has both — journeys/templates/_partials/footer.hbs — is the only one).
  const addressText = opts.physicalAddress?.trim() ?? '';
  const htmlHasAddress = addressText !== '' && (html.includes(escapeHtml(addressText)) || html.includes(escapeHbs(addressText)));
  if (html && marketing && !(htmlHasAddress && hadPlaceholder)) {
    const address = htmlHasAddress ? '' : escapeHtml(addressText).replace(/\r?\n/g, '<br>');
    const unsubLink = hadPlaceholder
      ? ''
      : `${address ? '<br>' : ''}<a href="${unsubTarget}" data-itinera-unsubscribe>${escapeHtml(opts.unsubscribeLabel ?? 'Unsubscribe')}</a>`;
    html = insertBeforeBodyEnd(
      html,
      `<div class="itinera-footer" style="font-size:12px;color:#666;margin-top:24px">${address}${unsubLink}</div>`,
    );
  }
  if (marketing && !(text.includes(addressText) && textHadPlaceholder)) {
    const lines = ['', '', '--'];
    if (!text.includes(addressText)) lines.push(addressText);
    if (!textHadPlaceholder) lines.push(`${opts.unsubscribeLabel ?? 'Unsubscribe'}: ${unsubTarget}`);
    text = text.replace(/\s+$/, '') + lines.join('\n') + '\n';
  }
  // The hosted copy (links.view_in_browser) is this, without the open pixel: reading it on the web is not an open.
  const webHtml = html;

  if (html && opts.trackOpens !== false) {
    const token = signToken(
      opts.secrets,
      { k: 'o', m: opts.messageKey, c: opts.contactId } satisfies OpenClaims,
      opts.openTtlSeconds ?? 365 * DAY,
      now,
    );
    html = insertBeforeBodyEnd(
      html,
      `<img src="${base}/t/o/${token}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">`,
    );
  }

  const result: TrackedEmail = { html, webHtml, text, headers, links };
  if (unsubscribeUrl) result.unsubscribeUrl = unsubscribeUrl;
  return result;
}

/** Handlebars' escaping (`{{sender.address}}` in a layout), which differs from ours in `'`, `` ` `` and `=`. */
function escapeHbs(s: string): string {
  const map: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#x27;', '`': '&#x60;', '=': '&#x3D;' };
  return s.replace(/[&<>"'`=]/g, (c) => map[c]!);
}

type LinkOptions = Pick<TrackingOptions, 'secrets' | 'messageKey' | 'contactId' | 'listId' | 'unsubscribeTtlSeconds'> & { language?: PageLanguage };

function unsubscribeLink(base: string, opts: LinkOptions, language: PageLanguage | undefined, now: Date | number): string {
  const claims: UnsubscribeClaims = { k: 'u', m: opts.messageKey, c: opts.contactId };
  if (opts.listId !== undefined) claims.l = opts.listId;
  if (language) claims.g = language;
  return `${base}/u/${signToken(opts.secrets, claims, opts.unsubscribeTtlSeconds ?? 5 * 365 * DAY, now)}`;
}

/**
 * The signed per-recipient links of one message (`links.*` in templates), built before rendering so the template's
 * footer can place them. Pages open in `language`, the language the message is written in.
 */
export function messageLinks(
  opts: LinkOptions & { baseUrl: string; kind: MailKind; unsubscribeForTransactional?: boolean; now?: Date | number },
): MessageLinks {
  const base = normalizeBase(opts.baseUrl);
  const now = opts.now ?? Date.now();
  const page = (k: 'p' | 'v', path: string) => {
    const claims: PageClaims = { k, m: opts.messageKey, c: opts.contactId };
    if (opts.language) claims.g = opts.language;
    return `${base}/${path}/${signToken(opts.secrets, claims, opts.unsubscribeTtlSeconds ?? 5 * 365 * DAY, now)}`;
  };
  const links: MessageLinks = { preferences: page('p', 'p'), view_in_browser: page('v', 'v') };
  if (opts.kind === 'marketing' || opts.unsubscribeForTransactional === true) links.unsubscribe = unsubscribeLink(base, opts, opts.language, now);
  return links;
}

const asLanguage = (g: unknown): PageLanguage | undefined => (g === 'zh' || g === 'en' ? g : undefined);

function resolvePage(kind: 'p' | 'v', secrets: readonly string[], token: string, now: Date | number): PageResolution {
  const r = verifyKind<PageClaims>(secrets, token, kind, now);
  if (!r.ok) return r;
  const language = asLanguage(r.claims.g);
  return language ? { ok: true, messageKey: r.claims.m, contactId: r.claims.c, language } : { ok: true, messageKey: r.claims.m, contactId: r.claims.c };
}

/** The contact (and message) a preference-page token was signed for. */
export const resolvePreferences = (secrets: readonly string[], token: string, now: Date | number = Date.now()) => resolvePage('p', secrets, token, now);
/** The message a view-in-browser token was signed for. */
export const resolveView = (secrets: readonly string[], token: string, now: Date | number = Date.now()) => resolvePage('v', secrets, token, now);

function insertBeforeBodyEnd(html: string, snippet: string): string {
  const idx = html.toLowerCase().lastIndexOf('</body');
  return idx === -1 ? html + snippet : html.slice(0, idx) + snippet + html.slice(idx);
}

function verifyKind<C extends { k: string }>(
  secrets: readonly string[],
  token: string,
  kind: C['k'],
  now: Date | number,
): { ok: true; claims: C } | { ok: false; reason: ResolveFailureReason } {
  const r = verifyToken<Record<string, unknown>>(secrets, token, now);
  if (!r.ok) return r;
  // Kinds share the secret, so a (public) open-pixel token must not work as an unsubscribe or click token.
  if (r.payload['k'] !== kind || typeof r.payload['m'] !== 'string' || typeof r.payload['c'] !== 'string') {
    return { ok: false, reason: 'wrong_kind' };
  }
  return { ok: true, claims: r.payload as unknown as C };
}

/** Destination of a click token, only if the token verifies (no open redirect). */
export function resolveClick(secrets: readonly string[], token: string, now: Date | number = Date.now()): ClickResolution {
  const r = verifyKind<ClickClaims>(secrets, token, 'c', now);
  if (!r.ok) return r;
  const { u, m, c, t } = r.claims;
  // Defence in depth: even a validly signed token must not redirect to javascript: or data:.
  if (typeof u !== 'string' || !isHttpUrl(u)) return { ok: false, reason: 'unsafe_url' };
  return typeof t === 'string'
    ? { ok: true, url: u, messageKey: m, contactId: c, tag: t }
    : { ok: true, url: u, messageKey: m, contactId: c };
}

export function resolveOpen(secrets: readonly string[], token: string, now: Date | number = Date.now()): OpenResolution {
  const r = verifyKind<OpenClaims>(secrets, token, 'o', now);
  return r.ok ? { ok: true, messageKey: r.claims.m, contactId: r.claims.c } : r;
}

export function resolveUnsubscribe(
  secrets: readonly string[],
  token: string,
  now: Date | number = Date.now(),
): UnsubscribeResolution {
  const r = verifyKind<UnsubscribeClaims>(secrets, token, 'u', now);
  if (!r.ok) return r;
  const { m, c, l } = r.claims;
  const language = asLanguage(r.claims.g);
  return {
    ok: true,
    messageKey: m,
    contactId: c,
    ...(typeof l === 'string' ? { listId: l } : {}),
    ...(language ? { language } : {}),
  };
}
