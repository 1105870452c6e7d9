/**
 * Semantic checks on data that passed the schema: contact fields that exist (and may be written), inline
 * handlebars strings, and templates in the catalog (existence, locales, parts, layouts, partials, variables).
 */
import { CONTACT_FIELDS, type Condition } from '../schema';
import { templateUsage, type TemplateCatalog, type TemplateKind } from '../../templates/catalog';
import { isKnownTemplateVariable, isPrototypeMember, KNOWN_HELPERS } from '../../templates/context';
import { EMPTY_ALLOW_LIST, literalHostProblem, type OutboundAllowList } from '../../net/addresses';
import { formatPath, show, stepOf, type JourneyError, type Path } from './diagnostics';
import { didYouMean } from './suggestions';

const INLINE_HELPERS = KNOWN_HELPERS.filter((h) => h !== 'log').join(', ');

const WRITABLE_EXCLUDED: Record<string, string> = {
  id: 'the contact id cannot be changed',
  score: 'use an update_score step',
  tags: 'use tag / untag steps',
  lifecycle_stage: 'use a set_lifecycle_stage step',
  attributes: 'name one attribute, e.g. attributes.plan',
  created_at: 'it is set when the contact is created',
  email: 'change it through the contacts API (PUT /v1/contacts), which normalizes it and merges duplicates',
  phone: 'change it through the contacts API (PUT /v1/contacts), which normalizes it and merges duplicates',
};

function fieldProblem(field: string, opts: { entryDate?: boolean; writable?: boolean } = {}): string | undefined {
  if (opts.entryDate && field === 'journey.entered_at') return undefined;
  if (/^attributes\.[^.]+(\.[^.]+)*$/.test(field)) return undefined;
  // Properties of the event that started the run (read-only).
  if (!opts.writable && /^event\.[^.]+(\.[^.]+)*$/.test(field)) return undefined;
  if ((CONTACT_FIELDS as string[]).includes(field)) {
    if (opts.writable && WRITABLE_EXCLUDED[field]) return `${show(field)} cannot be set here: ${WRITABLE_EXCLUDED[field]}`;
    return undefined;
  }
  const candidates = [...CONTACT_FIELDS, ...(opts.entryDate ? ['journey.entered_at'] : [])];
  return `${show(field)} is not a contact field${didYouMean(field, candidates)} (use one of ${candidates.join(', ')}, attributes.${field} for a custom attribute, or event.<property> for the triggering event)`;
}

export class Checker {
  readonly errors: JourneyError[] = [];
  readonly warnings: JourneyError[] = [];
  constructor(
    private readonly catalog: TemplateCatalog | undefined,
    private readonly locales: string[],
    private readonly outboundAllow: OutboundAllowList = EMPTY_ALLOW_LIST,
  ) {}

  error(path: Path, message: string) {
    this.errors.push({ path: formatPath(path), message, ...stepOf(path) });
  }
  warn(path: Path, message: string) {
    this.warnings.push({ path: formatPath(path), message, ...stepOf(path) });
  }

  condition(c: Condition, path: Path): void {
    if ('all' in c) c.all.forEach((x, i) => this.condition(x, [...path, 'all', i]));
    else if ('any' in c) c.any.forEach((x, i) => this.condition(x, [...path, 'any', i]));
    else if ('not' in c) this.condition(c.not, [...path, 'not']);
    else if ('field' in c) {
      const p = fieldProblem(c.field);
      if (p) this.error([...path, 'field'], p);
    }
  }

  field(field: string, path: Path, opts: { entryDate?: boolean; writable?: boolean } = {}) {
    const p = fieldProblem(field, opts);
    if (p) this.error(path, p);
  }

  /** An inline handlebars string (subject, SMS body, chat message, webhook body). */
  inline(source: string, path: Path) {
    let usage;
    try {
      usage = templateUsage(source);
    } catch (err) {
      this.error(path, `is not a valid template: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
      return;
    }
    for (const v of usage.variables) if (!isKnownTemplateVariable(v) && !v.split(/[./]/).some(isPrototypeMember)) this.error(path, unknownVariable(v));
    // Inline strings render in an environment with only the built-in helpers and no partials: anything else would fail
    // every send, and a prototype member is an attempt to reach code, not data.
    for (const h of usage.helpers) this.error(path, `uses helper ${show(h)}, which does not exist (helpers: ${INLINE_HELPERS})`);
    for (const p of usage.partials) this.error(path, `uses partial ${show(p)}; inline templates cannot include partials`);
    if (usage.paths.includes('log')) this.error(path, 'uses the log helper, which would write contact data to the worker log');
    for (const p of usage.paths) {
      const member = p.split('.').find(isPrototypeMember);
      if (member !== undefined) this.error(path, `uses ${show(member)}, which is not a field (prototype access is refused)`);
    }
  }

  /**
   * A URL the worker will request (a webhook step's): a literal host that is a private, loopback, link-local or
   * metadata address, or `localhost`, is an error. It is one, not a warning, because the worker refuses that request
   * on every run (src/net/outbound.ts): a journey that validates should be one that can run. The caller passes the
   * deployment's OUTBOUND_ALLOW, so a host listed there (a self-hosted CRM) passes here as it does at run time.
   * A host written with `{{…}}` is only known at run time, where the same check runs after DNS resolution.
   */
  outboundUrl(source: string, path: Path) {
    const literal = source.includes('{{') ? source.slice(0, source.indexOf('{{')) : source;
    // The host is literal only when the part before any variable holds the whole authority.
    if (source.includes('{{') && !/^https?:\/\/[^/?#]+[/?#]/i.test(literal)) return;
    let hostname: string;
    try {
      hostname = new URL(literal).hostname;
    } catch {
      return this.error(path, `${show(source)} is not a URL`);
    }
    const problem = literalHostProblem(hostname, this.outboundAllow);
    if (problem) this.error(path, `points at ${problem}; the worker refuses such requests unless OUTBOUND_ALLOW lists the host`);
  }

  template(kind: TemplateKind, name: string, path: Path): string[] {
    if (!this.catalog) return [];
    const variants = this.catalog.templates[kind][name];
    const where = kind === 'email' ? `journeys/templates/${name}/` : `journeys/templates/_${kind}/${name}/`;
    if (!variants) {
      this.error(path, `${kind} template ${show(name)} does not exist${didYouMean(name, Object.keys(this.catalog.templates[kind]))} (expected ${where}<locale>/)`);
      return [];
    }
    for (const p of this.catalog.problems) {
      if (p.file.includes(`/${name}/`)) this.error(path, `template file ${p.file} does not parse: ${p.message}`);
    }
    for (const locale of this.locales) {
      if (!variants[locale]) this.error(path, `${kind} template ${show(name)} has no ${locale} version (add ${where}${locale}/)`);
    }
    for (const [locale, v] of Object.entries(variants)) {
      const file = `${where}${locale}`;
      if (kind === 'email') {
        if (!v.parts.includes('subject')) this.error(path, `${file} has no subject.hbs`);
        if (!v.parts.includes('html') && !v.parts.includes('text')) this.error(path, `${file} needs html.hbs or text.hbs`);
      } else if (!v.parts.includes('text')) this.error(path, `${file} has no text.hbs`);
      const vars = new Set(v.variables);
      if (v.layout !== undefined) {
        const layout = this.catalog.layouts[v.layout];
        if (!layout) this.error(path, `${file}/html.hbs uses layout ${show(v.layout)}, which is not in journeys/templates/_layouts/`);
        else layout.forEach((x) => vars.add(x));
        // An MJML error (with MJML's line) or a Handlebars one in the layout this template is placed in.
        for (const p of this.catalog.problems) {
          if (!isLayoutFile(p.file, v.layout)) continue;
          this.error(path, `layout file ${p.file}${p.line !== undefined ? `:${p.line}` : ''} does not compile: ${p.message}`);
        }
      }
      for (const partial of v.partials) {
        const pv = this.catalog.partials[partial];
        if (!pv) this.error(path, `${file} uses partial ${show(partial)}, which is not in journeys/templates/_partials/`);
        else pv.forEach((x) => vars.add(x));
      }
      for (const x of [...vars].sort()) if (!isKnownTemplateVariable(x)) this.error(path, `${file}: ${unknownVariable(x)}`);
    }
    return Object.keys(variants).sort();
  }
}

const isLayoutFile = (file: string, layout: string) =>
  ['mjml', 'hbs'].some((ext) => file.replace(/\\/g, '/').endsWith(`/_layouts/${layout}.${ext}`));

function unknownVariable(v: string): string {
  return `uses {{${v}}}, which no contact field provides (use contact.<field>, contact.attributes.<name>, event.<property>, owner.name, journey.name or links.unsubscribe)`;
}
