import { describe, expect, it } from 'vitest';
import {
  applyTracking,
  messageLinks,
  resolvePreferences,
  resolveView,
  resolveClick,
  resolveOpen,
  resolveUnsubscribe,
  UNSUBSCRIBE_URL_PLACEHOLDER,
  type TrackingOptions,
} from '../../src/channels/email/tracking';
import { signToken } from '../../src/channels/tokens';

const NOW = Date.parse('2030-06-01T00:00:00Z');
const SECRETS = ['track-secret'];
const base: TrackingOptions = {
  baseUrl: 'https://t.example.com/',
  secrets: SECRETS,
  messageKey: 'journey:j1:c42:step-3',
  contactId: 'c42',
  kind: 'marketing',
  physicalAddress: 'ACME Ltd.\n1 Main St, Springfield',
  unsubscribeMailto: 'unsub@example.com',
  now: NOW,
};

const HTML = `<html><body>
<p><a href="https://shop.example.com/sale?utm_source=x&amp;utm_content=hero" class="btn">Sale</a></p>
<p><a data-link-tag="docs" title="a > b" href='https://docs.example.com/'>Docs</a></p>
<p><a href="mailto:help@example.com">Mail us</a> <a href="#top">Top</a> <a href="/relative">rel</a></p>
<p><a href="${UNSUBSCRIBE_URL_PLACEHOLDER}">Unsubscribe here</a></p>
</body></html>`;

function tokenOf(url: string, prefix: string): string {
  expect(url.startsWith(prefix)).toBe(true);
  return url.slice(prefix.length);
}

function hrefs(html: string): string[] {
  return [...html.matchAll(/href=(?:"([^"]*)"|'([^']*)')/g)].map((m) => m[1] ?? m[2]!);
}

describe('applyTracking', () => {
  const out = applyTracking({ html: HTML, text: `Hi\nUnsubscribe: ${UNSUBSCRIBE_URL_PLACEHOLDER}\n` }, base);

  it('rewrites every http(s) link to a signed click URL carrying destination, message, contact and tag', () => {
    const all = hrefs(out.html);
    const tracked = all.filter((h) => h.startsWith('https://t.example.com/t/c/'));
    expect(tracked).toHaveLength(2);
    const first = resolveClick(SECRETS, tokenOf(tracked[0]!, 'https://t.example.com/t/c/'), NOW);
    expect(first).toEqual({
      ok: true,
      url: 'https://shop.example.com/sale?utm_source=x&utm_content=hero', // entity decoded
      messageKey: 'journey:j1:c42:step-3',
      contactId: 'c42',
      tag: 'hero', // from utm_content
    });
    const second = resolveClick(SECRETS, tokenOf(tracked[1]!, 'https://t.example.com/t/c/'), NOW);
    expect(second).toMatchObject({ ok: true, url: 'https://docs.example.com/', tag: 'docs' });
    expect(out.links).toEqual([
      { url: 'https://shop.example.com/sale?utm_source=x&utm_content=hero', tag: 'hero' },
      { url: 'https://docs.example.com/', tag: 'docs' },
    ]);
    // other attributes preserved, including one containing '>'
    expect(out.html).toContain('class="btn"');
    expect(out.html).toContain('title="a > b"');
  });

  it('leaves mailto, anchors, relative links and the unsubscribe link alone', () => {
    const all = hrefs(out.html);
    expect(all).toContain('mailto:help@example.com');
    expect(all).toContain('#top');
    expect(all).toContain('/relative');
    expect(all).toContain(out.unsubscribeUrl);
    expect(out.html).not.toContain(UNSUBSCRIBE_URL_PLACEHOLDER);
  });

  it('sets RFC 8058 one-click headers with https and mailto URIs', () => {
    expect(out.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    const m = /^<(https:\/\/t\.example\.com\/u\/[^>]+)>, <mailto:unsub@example\.com\?subject=unsubscribe%20([^>]+)>$/.exec(
      out.headers['List-Unsubscribe']!,
    );
    expect(m).not.toBeNull();
    expect(m![1]).toBe(out.unsubscribeUrl);
    const token = tokenOf(out.unsubscribeUrl!, 'https://t.example.com/u/');
    expect(m![2]).toBe(token);
    expect(resolveUnsubscribe(SECRETS, token, NOW)).toEqual({ ok: true, messageKey: base.messageKey, contactId: 'c42' });
  });

  it('adds the open pixel just before </body> and the footer with the physical address', () => {
    const pixel = /<img src="(https:\/\/t\.example\.com\/t\/o\/[^"]+)" width="1" height="1"[^>]*><\/body>/.exec(out.html);
    expect(pixel).not.toBeNull();
    expect(resolveOpen(SECRETS, tokenOf(pixel![1]!, 'https://t.example.com/t/o/'), NOW)).toEqual({
      ok: true,
      messageKey: base.messageKey,
      contactId: 'c42',
    });
    expect(out.html).toContain('ACME Ltd.<br>1 Main St, Springfield');
    // template had its own unsubscribe link → footer doesn't add a second one
    expect(out.html.match(/\/u\//g)).toHaveLength(1);
    expect(out.text).toBe(`Hi\nUnsubscribe: ${out.unsubscribeUrl}\n\n--\nACME Ltd.\n1 Main St, Springfield\n`);
  });

  it('adds a visible unsubscribe link to marketing mail that lacks one', () => {
    const r = applyTracking({ html: '<p>x</p>', text: 'x' }, { ...base, unsubscribeLabel: '退订' });
    expect(r.html).toMatch(/<a href="https:\/\/t\.example\.com\/u\/[^"]+" data-itinera-unsubscribe>退订<\/a><\/div><img/);
    expect(r.text).toBe(`x\n\n--\nACME Ltd.\n1 Main St, Springfield\n退订: ${r.unsubscribeUrl}\n`);
  });

  it('transactional mail: no footer, no unsubscribe headers; tracking can be switched off', () => {
    const r = applyTracking(
      { html: '<body><a href="https://x.io">x</a></body>', text: 't' },
      { ...base, kind: 'transactional', physicalAddress: undefined, trackClicks: false, trackOpens: false },
    );
    expect(r).toEqual({ html: '<body><a href="https://x.io">x</a></body>', webHtml: '<body><a href="https://x.io">x</a></body>', text: 't', headers: {}, links: [] });
  });

  it('refuses marketing mail without a physical address', () => {
    expect(() => applyTracking({ html: '', text: '' }, { ...base, physicalAddress: '  ' })).toThrow(/physicalAddress/);
  });

  it('escapes the physical address in HTML', () => {
    const r = applyTracking({ html: '<body></body>', text: '' }, { ...base, physicalAddress: '<b>Evil</b> & Co' });
    expect(r.html).toContain('&#60;b&#62;Evil&#60;/b&#62; &#38; Co');
  });

  it('is deterministic for the same inputs (retried activity sends identical mail)', () => {
    const again = applyTracking({ html: HTML, text: `Hi\nUnsubscribe: ${UNSUBSCRIBE_URL_PLACEHOLDER}\n` }, base);
    expect(again).toEqual(out);
  });
});

describe('resolve*', () => {
  it('rejects tampered, expired, and cross-kind tokens', () => {
    const click = signToken(SECRETS, { k: 'c', u: 'https://a.io', m: 'm', c: 'c' }, 60, NOW);
    expect(resolveClick(SECRETS, click, NOW).ok).toBe(true);
    expect(resolveClick(['other'], click, NOW)).toEqual({ ok: false, reason: 'tampered' });
    expect(resolveClick(SECRETS, click, NOW + 61_000)).toEqual({ ok: false, reason: 'expired' });
    expect(resolveClick(SECRETS, 'garbage', NOW)).toEqual({ ok: false, reason: 'malformed' });
    // an open-pixel token (public in the HTML) must not unsubscribe or redirect
    const open = signToken(SECRETS, { k: 'o', m: 'm', c: 'c' }, 60, NOW);
    expect(resolveUnsubscribe(SECRETS, open, NOW)).toEqual({ ok: false, reason: 'wrong_kind' });
    expect(resolveClick(SECRETS, open, NOW)).toEqual({ ok: false, reason: 'wrong_kind' });
  });

  it('never redirects to a non-http destination even when signed', () => {
    const js = signToken(SECRETS, { k: 'c', u: 'javascript:alert(1)', m: 'm', c: 'c' }, 60, NOW);
    expect(resolveClick(SECRETS, js, NOW)).toEqual({ ok: false, reason: 'unsafe_url' });
  });

  it('a click URL with a swapped destination does not verify', () => {
    const out = applyTracking({ html: '<a href="https://good.example">g</a>', text: '' }, { ...base, kind: 'transactional' });
    const token = tokenOf(hrefs(out.html)[0]!, 'https://t.example.com/t/c/');
    const [body, sig] = token.split('.');
    const claims = JSON.parse(Buffer.from(body!, 'base64url').toString());
    claims.u = 'https://evil.example';
    const forged = `${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
    expect(resolveClick(SECRETS, forged, NOW)).toEqual({ ok: false, reason: 'tampered' });
  });
});

describe('applyTracking with the links the template placed', () => {
  const opts = { baseUrl: 'https://t.example.com', secrets: ['a-secret-of-enough-length-0123456789abcdef'], messageKey: 'k1', contactId: 'c1', kind: 'marketing' as const, physicalAddress: 'ACME Ltd, Shanghai' };

  it('adds no second footer when the template has the unsubscribe link and the address, and uses its token in List-Unsubscribe', () => {
    const links = messageLinks({ ...opts, language: 'zh' });
    const html = `<body><p>hi</p><a href="${links.unsubscribe}">退订</a> ACME Ltd, Shanghai</body>`;
    const r = applyTracking({ html, text: `hi\n退订：${links.unsubscribe}\nACME Ltd, Shanghai` }, { ...opts, links, trackOpens: false });
    expect(r.html).toBe(html);
    expect(r.text).toBe(`hi\n退订：${links.unsubscribe}\nACME Ltd, Shanghai`);
    expect(r.headers['List-Unsubscribe']).toBe(`<${links.unsubscribe}>`);
  });

  it('recognizes the address as a layout printed it (Handlebars escaping)', () => {
    const links = messageLinks({ ...opts, language: 'en' });
    const address = "O'Neil & Co = Shanghai";
    const html = `<body><a href="${links.unsubscribe}">Unsubscribe</a> O&#x27;Neil &amp; Co &#x3D; Shanghai</body>`;
    const r = applyTracking({ html, text: '' }, { ...opts, physicalAddress: address, links, trackOpens: false });
    expect(r.html).toBe(html);
  });

  it('still adds what the template left out', () => {
    const links = messageLinks({ ...opts, language: 'en' });
    const r = applyTracking({ html: `<body><a href="${links.unsubscribe}">Unsubscribe</a></body>`, text: 'hi' }, { ...opts, links, trackOpens: false });
    expect(r.html.split(links.unsubscribe!).length - 1).toBe(1);
    expect(r.html).toContain('ACME Ltd, Shanghai');
    expect(r.text).toContain(`Unsubscribe: ${links.unsubscribe}`);
    expect(r.text).toContain('ACME Ltd, Shanghai');
  });

  it('signs preference and view links that resolve to the message, and refuses one kind as another', () => {
    const links = messageLinks({ ...opts, language: 'zh' });
    const p = links.preferences.split('/p/')[1]!;
    const v = links.view_in_browser.split('/v/')[1]!;
    expect(resolvePreferences(opts.secrets, p)).toEqual({ ok: true, messageKey: 'k1', contactId: 'c1', language: 'zh' });
    expect(resolveView(opts.secrets, v)).toEqual({ ok: true, messageKey: 'k1', contactId: 'c1', language: 'zh' });
    expect(resolveView(opts.secrets, p)).toEqual({ ok: false, reason: 'wrong_kind' });
    expect(resolveUnsubscribe(opts.secrets, v)).toEqual({ ok: false, reason: 'wrong_kind' });
    expect(messageLinks({ ...opts, kind: 'transactional' }).unsubscribe).toBeUndefined();
  });
});
