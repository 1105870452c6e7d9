import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { describe, expect, it } from 'vitest';
import {
  createTemplateRenderer,
  htmlToText,
  TemplateNotFoundError,
  TemplateRenderError,
} from '../../src/templates/email';

const dir = fileURLToPath(new URL('./fixtures/templates', import.meta.url));
const renderer = createTemplateRenderer({ dir, defaultLocale: 'en' });

function tmpTemplates(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'itinera-tpl-'));
  for (const [rel, content] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, content);
  }
  return root;
}

describe('template renderer', () => {
  it('renders subject/html/text with layout and partial', () => {
    const r = renderer.render('welcome', 'en', { first_name: 'Ada', plan: { name: 'Pro' }, email: 'a@x.io' });
    expect(r.locale).toBe('en');
    // subject is plain text: no HTML escaping, trailing newline collapsed
    expect(r.subject).toBe('Welcome, Ada & friends!');
    expect(r.html).toContain('<title>Welcome, Ada &amp; friends!</title>');
    expect(r.html).toContain('<h1>Hello Ada</h1>');
    expect(r.html).toContain('<p>Your plan: Pro</p>');
    expect(r.html).toContain('<p class="footer">Itinera</p>');
    expect(r.html).not.toContain('{{!<');
    expect(r.text).toBe('Hello Ada <a@x.io>\nGet started: https://example.com/start\n');
  });

  it('escapes HTML in context values but not in text parts', () => {
    const evil = '<script>alert(1)</script>"';
    const r = renderer.render('welcome', 'en', { first_name: evil });
    expect(r.html).not.toContain('<script>');
    expect(r.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;');
    expect(r.text).toContain(`Hello ${evil}`);
  });

  it('applies declared fallbacks via the default helper (null, missing, blank)', () => {
    for (const first_name of [undefined, null, '', '   ']) {
      const r = renderer.render('welcome', 'en', { first_name });
      expect(r.subject).toBe('Welcome, there & friends!');
      expect(r.html).toContain('<h1>Hello there</h1>');
    }
    // missing nested value renders empty (strict off)
    expect(renderer.render('welcome', 'en', {}).html).toContain('<p>Your plan: </p>');
  });

  it('falls back zh-CN → en when the locale is missing, and prefers exact matches', () => {
    const zh = renderer.render('welcome', 'zh-CN', { first_name: '小明' });
    expect(zh.locale).toBe('zh-CN');
    expect(zh.subject).toBe('欢迎，小明');
    // no text.hbs: derived from HTML, link kept visible
    expect(zh.text).toContain('你好，小明');
    expect(zh.text).toContain('开始使用 (https://example.cn/start)');
    expect(zh.text).not.toContain('<');
    // locale keys are case/underscore-insensitive; zh-Hans-CN falls back to zh? none → en
    expect(renderer.render('welcome', 'zh_cn', {}).locale).toBe('zh-CN');
    expect(renderer.render('promo', 'zh-CN', { headline: 'x' }).locale).toBe('en');
    expect(renderer.render('welcome', 'fr-FR', {}).locale).toBe('en');
    expect(renderer.render('welcome', undefined, {}).locale).toBe('en');
    expect(renderer.resolveLocale('welcome', 'ZH-cn')).toBe('zh-CN');
  });

  it('has() and names()', () => {
    expect(renderer.has('welcome', 'zh-CN')).toBe(true);
    expect(renderer.has('promo', 'de')).toBe(true); // via fallback
    expect(renderer.has('nope', 'en')).toBe(false);
    expect(renderer.names()).toEqual(['plain', 'promo', 'welcome']);
  });

  it('text-only templates render an empty html part', () => {
    const r = renderer.render('plain', 'en', { name: 'Bo' });
    expect(r).toMatchObject({ subject: 'Plain', html: '', text: 'Just text for Bo.\n' });
  });

  it('errors name the template', () => {
    expect(() => renderer.render('missing', 'de', {})).toThrow(TemplateNotFoundError);
    expect(() => renderer.render('missing', 'de', {})).toThrow(/"missing".*"de"/);
  });

  it('blocks prototype access from templates', () => {
    const d = tmpTemplates({
      'p/en/subject.hbs': 'x',
      'p/en/html.hbs': '[{{constructor.name}}][{{#with this}}{{__proto__.polluted}}{{/with}}][{{lookup this "constructor"}}]',
    });
    const r = createTemplateRenderer({ dir: d });
    const out = r.render('p', 'en', {}).html;
    expect(out).toBe('[][][]');
  });

  it('context cannot inject template syntax (never compiled at send time)', () => {
    const r = renderer.render('promo', 'en', { headline: '{{constructor}} {{> footer}}', trusted_html: '<b>ok</b>' });
    expect(r.subject).toBe('{{constructor}} {{> footer}}');
    expect(r.html).toContain('<p>{{constructor}} {{&gt; footer}}</p>');
    expect(r.html).toContain('<p><b>ok</b></p>');
  });

  it('compiles eagerly: a syntax error fails creation and names the file', () => {
    const d = tmpTemplates({ 'bad/en/subject.hbs': 'ok', 'bad/en/html.hbs': '<p>{{#if x}}unclosed</p>' });
    expect(() => createTemplateRenderer({ dir: d })).toThrow(/bad[\\/]en[\\/]html\.hbs/);
  });

  it('validates layout references and required parts at creation', () => {
    expect(() =>
      createTemplateRenderer({ dir: tmpTemplates({ 'a/en/subject.hbs': 's', 'a/en/html.hbs': '{{!< nope}}\nx' }) }),
    ).toThrow(/unknown layout "nope"/);
    expect(() => createTemplateRenderer({ dir: tmpTemplates({ 'a/en/html.hbs': 'x' }) })).toThrow(/no subject\.hbs/);
    expect(() => createTemplateRenderer({ dir: tmpTemplates({ 'a/en/subject.hbs': 'x' }) })).toThrow(/html\.hbs or text\.hbs/);
    expect(() => createTemplateRenderer({ dir: '/nonexistent/itinera' })).toThrow(/not found/);
  });

  it('runtime helper errors are wrapped with template, locale and part', () => {
    const d = tmpTemplates({ 'h/en/subject.hbs': 's', 'h/en/html.hbs': '{{boom}}' });
    const r = createTemplateRenderer({
      dir: d,
      helpers: {
        boom: () => {
          throw new Error('kaput');
        },
      },
    });
    let err: unknown;
    try {
      r.render('h', 'en', {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TemplateRenderError);
    expect((err as Error).message).toMatch(/"h" \(en\/html\.hbs\) failed: kaput/);
  });

  it('uses an isolated Handlebars environment', () => {
    Handlebars.registerHelper('leak', () => 'LEAKED');
    try {
      const d = tmpTemplates({ 'l/en/subject.hbs': 's', 'l/en/html.hbs': '[{{leak}}][{{default a "b"}}]' });
      expect(createTemplateRenderer({ dir: d }).render('l', 'en', {}).html).toBe('[][b]');
      // and ours did not leak into the global instance
      expect(Handlebars.helpers['default']).toBeUndefined();
    } finally {
      Handlebars.unregisterHelper('leak');
    }
  });
});

describe('htmlToText', () => {
  it('keeps structure and links, drops markup, style and entities', () => {
    const t = htmlToText(
      '<html><head><style>p{}</style></head><body><h1>Hi &amp; bye</h1><p>a<br>b</p><ul><li>one</li><li>two</li></ul>' +
        '<a href="https://x.io/?a=1&amp;b=2">Go</a> <a href="https://y.io">https://y.io</a></body></html>',
    );
    expect(t).toBe('Hi & bye\na\nb\n- one\n- two\nGo (https://x.io/?a=1&b=2) https://y.io');
  });
});
