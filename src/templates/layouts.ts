/**
 * Email layouts (`<dir>/_layouts/`), compiled to the Handlebars HTML the renderer places each body in:
 *
 * - `<name>.mjml`: MJML (https://mjml.io), compiled here with the `mjml` package into responsive, table-based HTML
 *   that Outlook and Gmail render; Handlebars expressions (`{{{body}}}`, `{{links.view_in_browser}}`, `{{> footer}}`)
 *   pass through MJML untouched inside `mj-text`/`mj-raw` content and attribute values, and are filled per message;
 * - `<name>.hbs`: hand-written HTML, used as it is.
 *
 * Compiling happens when the templates are loaded — `itinera validate` and publishing (the catalog, which reports MJML
 * errors as compiler errors naming the file and line) and once when a worker creates its renderer, each distinct source
 * once per process (`compileMjml` keeps the results) — never when an
 * email is sent: the renderer receives the compiled HTML and has no MJML code of its own (src/templates/email.ts takes
 * only this module's types). `mjml` is imported on first use only, so a process that never compiles a layout never
 * loads it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A template file that cannot be used, and why (catalog.ts reports those a journey uses). */
export interface TemplateProblem {
  file: string;
  /** 1-based line in `file`, when the tool that found the problem says (MJML does). */
  line?: number;
  message: string;
}

export type CompiledLayout = {
  /** The source file (`…/_layouts/base.mjml`). */
  file: string;
  /** Handlebars HTML: the MJML output, or the `.hbs` file as written. */
  html: string;
};

export type CompiledLayouts = {
  /** layout name → compiled layout; a layout with problems is left out. */
  layouts: Record<string, CompiledLayout>;
  problems: TemplateProblem[];
};

const LAYOUT_EXTENSIONS = ['.mjml', '.hbs'] as const;

type MjmlResult = { html: string } | { problems: TemplateProblem[] };

/**
 * Results by file and source text: the API loads the catalog for every validate and publish request (the editor
 * validates as the marketer types), and a layout's source rarely changes, so each distinct source compiles once per
 * process. Bounded: the oldest entry goes when a new one would pass the limit.
 */
const compiled = new Map<string, Promise<MjmlResult>>();
const MAX_COMPILED = 32;

/** Compiles one MJML source. Problems carry MJML's line numbers (of `file`). */
export function compileMjml(source: string, file: string): Promise<MjmlResult> {
  const key = `${file}\0${source}`;
  let result = compiled.get(key);
  if (!result) {
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
    result = compileMjmlNow(source, file);
    compiled.set(key, result);
  }
  return result;
}

async function compileMjmlNow(source: string, file: string): Promise<MjmlResult> {
  const { default: mjml2html } = await import('mjml');
  try {
    const result = await mjml2html(source, {
      // Every error is reported (soft) and then refused below: a layout with any MJML error is not used.
      validationLevel: 'soft',
      // The font stacks are the system ones written in the layout: no web-font <link> to fetch from Google.
      fonts: {},
      // mj-include would read files named by the template; layouts are single files.
      ignoreIncludes: true,
      filePath: file,
      keepComments: false,
    });
    if (result.errors.length > 0) {
      return { problems: result.errors.map((e) => ({ file, line: e.line, message: `MJML: ${e.message}` })) };
    }
    return { html: result.html };
  } catch (err) {
    // Not MJML at all (no <mjml> root), or XML MJML's parser cannot read.
    return { problems: [{ file, message: `MJML: ${err instanceof Error ? err.message.split('\n')[0]! : String(err)}` }] };
  }
}

/** Every layout of `<dir>/_layouts/`: MJML ones compiled, `.hbs` ones read. A name with both files is a problem. */
export async function compileLayouts(dir: string): Promise<CompiledLayouts> {
  const out: CompiledLayouts = { layouts: {}, problems: [] };
  const folder = join(dir, '_layouts');
  if (!existsSync(folder)) return out;
  const files = readdirSync(folder).filter((f) => LAYOUT_EXTENSIONS.some((x) => f.endsWith(x))).sort();
  const seen = new Map<string, string>();
  for (const f of files) {
    const ext = LAYOUT_EXTENSIONS.find((x) => f.endsWith(x))!;
    const name = f.slice(0, -ext.length);
    const file = join(folder, f);
    const other = seen.get(name);
    if (other !== undefined) {
      out.problems.push({ file, message: `layout "${name}" is defined twice (${other} and ${f}); keep one` });
      delete out.layouts[name];
      continue;
    }
    seen.set(name, f);
    const source = readFileSync(file, 'utf8');
    if (ext === '.hbs') {
      out.layouts[name] = { file, html: source };
      continue;
    }
    const compiled = await compileMjml(source, file);
    if ('html' in compiled) out.layouts[name] = { file, html: compiled.html };
    else out.problems.push(...compiled.problems);
  }
  return out;
}

/** `file:line: message` for each problem, one per line: how start-up and the CLI report them. */
export function formatTemplateProblems(problems: readonly TemplateProblem[]): string {
  return problems.map((p) => `${p.file}${p.line !== undefined ? `:${p.line}` : ''}: ${p.message}`).join('\n');
}
