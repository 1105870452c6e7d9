/**
 * Email template renderer.
 *
 * Layout on disk (mirrors journeys/templates/):
 *
 *   <dir>/<template>/<locale>/subject.hbs   required
 *   <dir>/<template>/<locale>/html.hbs      required unless text.hbs exists
 *   <dir>/<template>/<locale>/text.hbs      optional; derived from the HTML when absent
 *   <dir>/_layouts/<layout>.hbs             HTML layouts; a template opts in with a first line `{{!< layout}}`
 *                                           and the layout places the body with `{{{body}}}`
 *   <dir>/_partials/<partial>.hbs           partials, available as `{{> partial}}` everywhere
 *
 * Everything is compiled when the renderer is created: a syntax error stops start-up with the file
 * name instead of failing one send hours into a journey, and nothing is ever compiled from input that
 * arrives at send time (contact data is only ever *context*, never template source).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';

export interface TemplateRendererOptions {
  /** Root directory holding `<template>/<locale>/*.hbs`, `_layouts/` and `_partials/`. */
  dir: string;
  /** Locale used when neither the requested locale nor its base language exists. @default 'en' */
  defaultLocale?: string;
  /** Extra helpers registered in the renderer's private Handlebars environment. */
  helpers?: Record<string, Handlebars.HelperDelegate>;
}

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
  /** The locale directory actually used after fallback (useful for analytics and debugging). */
  locale: string;
}

export interface TemplateRenderer {
  render(name: string, locale: string | undefined, context: Record<string, unknown>): RenderedEmail;
  /** True when `render(name, locale, …)` would find a template (fallback included). */
  has(name: string, locale?: string): boolean;
  /** The locale directory `render` would use, or undefined. */
  resolveLocale(name: string, locale?: string): string | undefined;
  /** Names of all loaded templates, sorted. */
  names(): string[];
}

export class TemplateNotFoundError extends Error {
  override name = 'TemplateNotFoundError';
  constructor(
    readonly template: string,
    readonly locale: string | undefined,
  ) {
    super(`email template "${template}" not found for locale "${locale ?? '(default)'}"`);
  }
}

export class TemplateRenderError extends Error {
  override name = 'TemplateRenderError';
  constructor(
    readonly template: string,
    readonly locale: string,
    readonly part: string,
    cause: unknown,
  ) {
    super(
      `email template "${template}" (${locale}/${part}) failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}

type Compiled = Handlebars.TemplateDelegate;

interface LocaleVariant {
  locale: string;
  subject: Compiled;
  html?: Compiled;
  text?: Compiled;
  layout?: string;
}

// Set explicitly (they are also Handlebars' defaults since 4.6) so a future default change or a
// caller passing options cannot re-open `{{constructor.constructor ...}}`-style prototype access.
const RUNTIME_OPTIONS: Handlebars.RuntimeOptions = {
  allowProtoPropertiesByDefault: false,
  allowProtoMethodsByDefault: false,
};

const LAYOUT_DIRECTIVE = /^\s*\{\{!<\s*([\w.-]+)\s*\}\}[ \t]*\r?\n?/;

/** Canonical form for comparing locale names: `zh_cn` and `ZH-CN` both become `zh-cn`. */
function localeKey(locale: string): string {
  return locale.trim().replace(/_/g, '-').toLowerCase();
}

function isEmpty(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
}

export function createTemplateRenderer(options: TemplateRendererOptions): TemplateRenderer {
  const { dir } = options;
  const defaultLocale = options.defaultLocale ?? 'en';
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new Error(`email templates: directory not found: ${dir}`);
  }

  // Isolated environment: helpers/partials registered by other code on the global Handlebars
  // instance can neither leak in nor be polluted by us.
  const hb = Handlebars.create();

  /**
   * `{{default first_name "there"}}`: first argument that is not undefined/null/blank. Lets a
   * template declare its fallback explicitly while strict mode stays off (a missing optional field
   * must not fail a send).
   */
  hb.registerHelper('default', function (...args: unknown[]) {
    const values = args.slice(0, -1); // last argument is Handlebars' options object
    for (const v of values) if (!isEmpty(v)) return v;
    return '';
  });
  for (const [name, fn] of Object.entries(options.helpers ?? {})) hb.registerHelper(name, fn);

  const compile = (source: string, file: string, escape: boolean): Compiled => {
    try {
      // precompile + template() compiles now; hb.compile() would defer to the first render.
      const spec = hb.precompile(source, { strict: false, noEscape: !escape }) as unknown as string;
      // The spec is JavaScript generated by Handlebars from our own template files (the same thing
      // hb.compile evaluates internally), never from request data.
      const templateSpec = new Function(`return ${spec};`)() as Parameters<typeof hb.template>[0];
      return hb.template(templateSpec);
    } catch (err) {
      throw new Error(
        `email templates: cannot compile ${file}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  };

  const hbsFiles = (sub: string): string[] => {
    const p = join(dir, sub);
    if (!existsSync(p)) return [];
    return readdirSync(p).filter((f) => f.endsWith('.hbs')).sort();
  };

  for (const file of hbsFiles('_partials')) {
    const path = join(dir, '_partials', file);
    hb.registerPartial(file.slice(0, -4), compile(readFileSync(path, 'utf8'), path, true));
  }

  const layouts = new Map<string, Compiled>();
  for (const file of hbsFiles('_layouts')) {
    const path = join(dir, '_layouts', file);
    layouts.set(file.slice(0, -4), compile(readFileSync(path, 'utf8'), path, true));
  }

  // template name -> locale key -> variant
  const templates = new Map<string, Map<string, LocaleVariant>>();
  for (const name of readdirSync(dir).sort()) {
    const tdir = join(dir, name);
    if (name.startsWith('_') || name.startsWith('.') || !statSync(tdir).isDirectory()) continue;
    const variants = new Map<string, LocaleVariant>();
    for (const locale of readdirSync(tdir).sort()) {
      const ldir = join(tdir, locale);
      if (!statSync(ldir).isDirectory()) continue;
      const read = (part: string): string | undefined => {
        const p = join(ldir, `${part}.hbs`);
        return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
      };
      const subject = read('subject');
      let html = read('html');
      const text = read('text');
      if (subject === undefined) throw new Error(`email templates: ${ldir} has no subject.hbs`);
      if (html === undefined && text === undefined) {
        throw new Error(`email templates: ${ldir} needs html.hbs or text.hbs`);
      }
      let layout: string | undefined;
      if (html !== undefined) {
        const m = LAYOUT_DIRECTIVE.exec(html);
        if (m) {
          layout = m[1]!;
          html = html.slice(m[0].length);
          if (!layouts.has(layout)) {
            throw new Error(`email templates: ${join(ldir, 'html.hbs')} uses unknown layout "${layout}"`);
          }
        }
      }
      const key = localeKey(locale);
      if (variants.has(key)) throw new Error(`email templates: duplicate locale ${locale} in ${tdir}`);
      variants.set(key, {
        locale,
        // Subject and text are not HTML: escaping them would put `&amp;` into the inbox.
        subject: compile(subject, join(ldir, 'subject.hbs'), false),
        ...(html !== undefined ? { html: compile(html, join(ldir, 'html.hbs'), true) } : {}),
        ...(text !== undefined ? { text: compile(text, join(ldir, 'text.hbs'), false) } : {}),
        ...(layout !== undefined ? { layout } : {}),
      });
    }
    if (variants.size > 0) templates.set(name, variants);
  }

  /** zh-Hant-TW → zh-hant-tw, zh-hant, zh; then the default locale and its language. */
  const candidates = (locale: string | undefined): string[] => {
    const out: string[] = [];
    for (const l of [locale, defaultLocale]) {
      if (!l || l.trim() === '') continue;
      const parts = localeKey(l).split('-');
      for (let i = parts.length; i > 0; i--) out.push(parts.slice(0, i).join('-'));
    }
    return [...new Set(out)];
  };

  const resolve = (name: string, locale: string | undefined): LocaleVariant | undefined => {
    const variants = templates.get(name);
    if (!variants) return undefined;
    for (const c of candidates(locale)) {
      const v = variants.get(c);
      if (v) return v;
    }
    return undefined;
  };

  const run = (fn: Compiled, ctx: unknown, name: string, v: LocaleVariant, part: string): string => {
    try {
      return fn(ctx, RUNTIME_OPTIONS);
    } catch (err) {
      throw new TemplateRenderError(name, v.locale, part, err);
    }
  };

  return {
    render(name, locale, context) {
      const v = resolve(name, locale);
      if (!v) throw new TemplateNotFoundError(name, locale);
      // Header values must be one line; a newline from contact data would otherwise break the subject.
      const subject = run(v.subject, context, name, v, 'subject.hbs').replace(/\s+/g, ' ').trim();
      let html = '';
      if (v.html) {
        html = run(v.html, context, name, v, 'html.hbs');
        if (v.layout) {
          const layoutCtx = { ...context, body: new hb.SafeString(html), subject };
          html = run(layouts.get(v.layout)!, layoutCtx, name, v, `_layouts/${v.layout}.hbs`);
        }
      }
      const text = v.text ? run(v.text, context, name, v, 'text.hbs') : htmlToText(html);
      return { subject, html, text, locale: v.locale };
    },
    has: (name, locale) => resolve(name, locale) !== undefined,
    resolveLocale: (name, locale) => resolve(name, locale)?.locale,
    names: () => [...templates.keys()],
  };
}

const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  '#39': "'",
  '#x27': "'",
  '#x3D': '=',
  '#x60': '`',
};

export function decodeEntities(s: string): string {
  return s.replace(/&(#\d+|#x[0-9a-f]+|[a-z]+\d*);/gi, (whole, name: string) => {
    const known = ENTITIES[name] ?? ENTITIES[name.toLowerCase()];
    if (known !== undefined) return known;
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      if (Number.isFinite(code) && code >= 0 && code <= 0x10ffff) return String.fromCodePoint(code);
    }
    return whole;
  });
}

/**
 * Minimal HTML → text for templates without text.hbs. Multipart mail with a real text part scores
 * better with spam filters and is what screen readers and watches show; authors who care write text.hbs.
 */
export function htmlToText(html: string): string {
  if (!html) return '';
  let s = html
    .replace(/<(head|style|script|title)\b[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>([\s\S]*?)<\/a\s*>/gi, (_m, d1, d2, inner: string) => {
      // Left entity-encoded: the whole string is decoded once below (decoding twice would turn
      // a literal "&amp;amp;" into "&").
      const href = String(d1 ?? d2 ?? '');
      const label = inner.replace(/<[^>]*>/g, '').trim();
      if (!label) return href;
      return decodeEntities(label) === decodeEntities(href) || !/^(https?|mailto):/i.test(href)
        ? label
        : `${label} (${href})`;
    })
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<\/(p|div|h[1-6]|li|tr|table|blockquote|section|article|header|footer)\s*>/gi, '\n')
    .replace(/<li\b[^>]*>/gi, '- ')
    .replace(/<[^>]*>/g, '');
  s = decodeEntities(s)
    .split('\n')
    .map((line) => line.replace(/[ \t\r\f\v]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n');
  return s.trim();
}
