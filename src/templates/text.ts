import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type Handlebars from 'handlebars';
import { createHandlebars, PLAIN_TEXT, RUNTIME_OPTIONS } from './handlebars';

export type TextKind = 'sms' | 'chat';

export interface TextRenderer {
  render(kind: TextKind, name: string, locale: string | undefined, context: Record<string, unknown>): string;
  has(kind: TextKind, name: string): boolean;
}

/**
 * SMS and chat templates: `<dir>/_sms/<name>/<locale>/text.hbs` and `<dir>/_chat/...`. Read once at start, never from
 * input at send time, in a private Handlebars environment with prototype access off. Handlebars parses a template on
 * its first render, so a syntax error in one shows at its first send (the email renderer, by contrast, fails at start).
 * Output is plain text, so nothing is HTML-escaped.
 */
export function createTextRenderer(dir: string, defaultLocale = 'en'): TextRenderer {
  const hb = createHandlebars();
  const compiled = new Map<string, Map<string, Handlebars.TemplateDelegate>>();
  for (const kind of ['sms', 'chat'] as const) {
    const root = path.join(dir, `_${kind}`);
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root)) {
      const tdir = path.join(root, name);
      if (!statSync(tdir).isDirectory()) continue;
      const variants = new Map<string, Handlebars.TemplateDelegate>();
      for (const locale of readdirSync(tdir)) {
        const file = path.join(tdir, locale, 'text.hbs');
        if (existsSync(file)) variants.set(locale.toLowerCase(), hb.compile(readFileSync(file, 'utf8'), PLAIN_TEXT));
      }
      compiled.set(`${kind}/${name}`, variants);
    }
  }
  return {
    has: (kind, name) => compiled.has(`${kind}/${name}`),
    render(kind, name, locale, context) {
      const variants = compiled.get(`${kind}/${name}`);
      if (!variants) throw new Error(`${kind} template "${name}" does not exist under ${path.join(dir, `_${kind}`)}`);
      const candidates = [locale, locale?.split('-')[0], defaultLocale, defaultLocale.split('-')[0]]
        .filter((l): l is string => !!l)
        .map((l) => l.toLowerCase());
      for (const c of candidates) {
        const t = variants.get(c) ?? [...variants.entries()].find(([k]) => k.split('-')[0] === c)?.[1];
        if (t) return t(context, RUNTIME_OPTIONS).trim();
      }
      throw new Error(`${kind} template "${name}" has no locale ${locale ?? defaultLocale} and no ${defaultLocale} fallback`);
    },
  };
}
