/**
 * Template catalog: which templates exist, in which locales, and which variables they use.
 *
 * Layout (documented for authors in journeys/templates/README.md):
 *
 *   <dir>/<name>/<locale>/subject.hbs + html.hbs and/or text.hbs   email templates
 *   <dir>/_sms/<name>/<locale>/text.hbs                              SMS templates
 *   <dir>/_chat/<name>/<locale>/text.hbs                             chat notifications (notify step)
 *   <dir>/_layouts/<layout>.mjml    MJML layouts, compiled to HTML here (src/templates/layouts.ts); or
 *   <dir>/_layouts/<layout>.hbs     hand-written HTML layouts; html.hbs opts in with a first line `{{!< layout}}`
 *   <dir>/_partials/<partial>.hbs   partials, `{{> partial}}`
 *
 * SMS and chat templates live under `_`-prefixed folders so the email renderer (which treats every
 * other folder as an email template) skips them.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { KNOWN_HELPERS } from './context';
import { LAYOUT_DIRECTIVE } from './handlebars';
import { compileLayouts, type TemplateProblem } from './layouts';

export type TemplateKind = 'email' | 'sms' | 'chat';
export type TemplatePart = 'subject' | 'html' | 'text';

export interface TemplateVariant {
  locale: string;
  parts: TemplatePart[];
  /** Variable paths the variant uses (helpers, `@data` and paths inside `#each`/`#with` excluded). */
  variables: string[];
  partials: string[];
  layout?: string;
}

export type { TemplateProblem };

export interface TemplateCatalog {
  /** kind → template name → locale → variant */
  templates: Record<TemplateKind, Record<string, Record<string, TemplateVariant>>>;
  /** partial name → variables it uses */
  partials: Record<string, string[]>;
  /** layout name → variables its compiled HTML uses (MJML layouts are compiled by MJML first) */
  layouts: Record<string, string[]>;
  /** Template files that failed to parse; the compiler reports those a journey uses. */
  problems: TemplateProblem[];
}

export interface TemplateUsage {
  variables: string[];
  partials: string[];
  /** Helpers called anywhere, inside `#each`/`#with` too (built-ins excluded). */
  helpers: string[];
  /** Every path expression anywhere (scoped, `@data` and `../` ones too), for checks that do not depend on scope. */
  paths: string[];
}

type Node = { type: string; [k: string]: unknown };
/** `a.[b].c` as `a.b.c`: segment literals unwrapped, so `{{[constructor]}}` is seen for what it is. */
const segments = (n: Node) => ((n.parts as string[] | undefined) ?? [String(n.original)]).join('.');
const SCOPE_CHANGING = new Set(['each', 'with']);
const knownHelpers = new Set<string>(KNOWN_HELPERS);

/** Variables, partials and helpers used by one handlebars source. Throws on syntax errors. */
export function templateUsage(source: string): TemplateUsage {
  const variables = new Set<string>();
  const partials = new Set<string>();
  const helpers = new Set<string>();
  const paths = new Set<string>();

  const path = (n: Node | undefined, scoped: boolean) => {
    if (!n || n.type !== 'PathExpression') {
      if (n?.type === 'SubExpression') expr(n, scoped);
      return;
    }
    paths.add(segments(n));
    // @index, ../parent and this.x inside blocks refer to scopes the compiler cannot see.
    if (scoped || n.data || (n.depth as number) > 0) return;
    const original = String(n.original).replace(/^this[./]?/, '');
    if (original) variables.add(original);
  };
  const args = (n: Node, scoped: boolean) => {
    for (const p of (n.params as Node[] | undefined) ?? []) path(p, scoped);
    for (const pair of ((n.hash as { pairs?: { value: Node }[] } | undefined)?.pairs) ?? []) path(pair.value, scoped);
  };
  const expr = (n: Node, scoped: boolean) => {
    paths.add(segments(n.path as Node));
    helpers.add(String((n.path as Node).original));
    // `{{lookup this "constructor"}}` names its property in a string.
    if (String((n.path as Node).original) === 'lookup') {
      for (const p of (n.params as Node[] | undefined) ?? []) if (p.type === 'StringLiteral') paths.add(String(p.value));
    }
    args(n, scoped);
  };
  const program = (p: Node | undefined, scoped: boolean) => {
    if (!p) return;
    for (const s of p.body as Node[]) statement(s, scoped);
  };
  const statement = (n: Node, scoped: boolean) => {
    switch (n.type) {
      case 'MustacheStatement': {
        const name = String((n.path as Node).original);
        const hasArgs = ((n.params as Node[]).length > 0) || Boolean(n.hash);
        if (hasArgs || knownHelpers.has(name)) expr(n, scoped);
        else path(n.path as Node, scoped);
        return;
      }
      case 'BlockStatement': {
        expr(n, scoped);
        program(n.program as Node, scoped || SCOPE_CHANGING.has(String((n.path as Node).original)));
        program(n.inverse as Node | undefined, scoped);
        return;
      }
      case 'PartialStatement':
      case 'PartialBlockStatement': {
        const name = n.name as Node;
        if (name.type === 'PathExpression') partials.add(String(name.original));
        args(n, scoped);
        if (n.type === 'PartialBlockStatement') program(n.program as Node, scoped);
        return;
      }
      default:
        return;
    }
  };
  program(Handlebars.parse(source) as unknown as Node, false);
  for (const h of knownHelpers) helpers.delete(h);
  return { variables: [...variables].sort(), partials: [...partials].sort(), helpers: [...helpers].sort(), paths: [...paths].sort() };
}

export function emptyCatalog(): TemplateCatalog {
  return { templates: { email: {}, sms: {}, chat: {} }, partials: {}, layouts: {}, problems: [] };
}

/**
 * Reads a template directory (layout above), compiling MJML layouts. Missing directories yield an empty catalog.
 * Async because MJML's compiler is.
 */
export async function loadTemplateCatalog(dir: string): Promise<TemplateCatalog> {
  const catalog = emptyCatalog();
  const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();
  const list = (p: string) => (isDir(p) ? readdirSync(p).sort() : []);
  const parse = (file: string): TemplateUsage | undefined => {
    try {
      return templateUsage(readFileSync(file, 'utf8'));
    } catch (err) {
      catalog.problems.push({ file, message: err instanceof Error ? err.message.split('\n')[0]! : String(err) });
      return undefined;
    }
  };
  for (const f of list(join(dir, '_partials'))) {
    if (!f.endsWith('.hbs')) continue;
    catalog.partials[f.slice(0, -4)] = parse(join(dir, '_partials', f))?.variables ?? [];
  }
  const layouts = await compileLayouts(dir);
  catalog.problems.push(...layouts.problems);
  for (const p of layouts.problems) {
    // A layout that did not compile is still known by name, so the journey gets its problem rather than "no such layout".
    const name = /([^/\\]+)\.(mjml|hbs)$/.exec(p.file)?.[1];
    if (name !== undefined) catalog.layouts[name] ??= [];
  }
  for (const [name, layout] of Object.entries(layouts.layouts)) {
    try {
      catalog.layouts[name] = templateUsage(layout.html).variables;
    } catch (err) {
      catalog.layouts[name] = [];
      catalog.problems.push({ file: layout.file, message: err instanceof Error ? err.message.split('\n')[0]! : String(err) });
    }
  }
  const readKind = (kind: TemplateKind, root: string) => {
    for (const name of list(root)) {
      if (name.startsWith('_') || name.startsWith('.') || !isDir(join(root, name))) continue;
      const variants: Record<string, TemplateVariant> = {};
      for (const locale of list(join(root, name))) {
        const ldir = join(root, name, locale);
        if (!isDir(ldir)) continue;
        const variant: TemplateVariant = { locale, parts: [], variables: [], partials: [] };
        const vars = new Set<string>();
        const parts = new Set<string>();
        for (const part of ['subject', 'html', 'text'] as const) {
          const file = join(ldir, `${part}.hbs`);
          if (!existsSync(file)) continue;
          variant.parts.push(part);
          const usage = parse(file);
          if (!usage) continue;
          usage.variables.forEach((v) => vars.add(v));
          usage.partials.forEach((p) => parts.add(p));
          if (part === 'html') {
            const m = LAYOUT_DIRECTIVE.exec(readFileSync(file, 'utf8'));
            if (m) variant.layout = m[1]!;
          }
        }
        variant.variables = [...vars].sort();
        variant.partials = [...parts].sort();
        variants[locale] = variant;
      }
      if (Object.keys(variants).length > 0) catalog.templates[kind][name] = variants;
    }
  };
  readKind('email', dir);
  readKind('sms', join(dir, '_sms'));
  readKind('chat', join(dir, '_chat'));
  return catalog;
}
