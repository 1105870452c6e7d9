/**
 * What every template renderer shares (email, SMS/chat files, inline strings): a private Handlebars environment with
 * our helpers, the runtime options that keep prototype access off, and the `{{!< layout}}` directive syntax (read
 * by the email renderer and by the catalog).
 */
import Handlebars from 'handlebars';

/**
 * Passed to every render. Set explicitly (they are also Handlebars' defaults since 4.6) so a future default change
 * or a caller passing options cannot re-open `{{constructor.constructor ...}}`-style prototype access.
 */
export const RUNTIME_OPTIONS: Handlebars.RuntimeOptions = {
  allowProtoPropertiesByDefault: false,
  allowProtoMethodsByDefault: false,
};

/**
 * Compile options for plain-text output (SMS, chat, inline strings): nothing is HTML-escaped, and a missing variable
 * renders as empty instead of failing the send.
 */
export const PLAIN_TEXT: CompileOptions = { noEscape: true, strict: false }; // hb.compile() copies it

/** `{{!< layout}}` on the first line of an html.hbs: the layout the template is placed in (trailing newline included). */
export const LAYOUT_DIRECTIVE = /^\s*\{\{!<\s*([\w.-]+)\s*\}\}[ \t]*\r?\n?/;

/**
 * `{{default first_name "there"}}`: the first argument that is not undefined/null/blank. Lets a template declare its
 * fallback explicitly while strict mode stays off (a missing optional field must not fail a send).
 */
function defaultHelper(...args: unknown[]): unknown {
  const values = args.slice(0, -1); // the last argument is Handlebars' options object
  for (const v of values) if (v !== undefined && v !== null && !(typeof v === 'string' && v.trim() === '')) return v;
  return '';
}

/**
 * An isolated Handlebars environment with our helpers (the non-built-in names of KNOWN_HELPERS in context.ts):
 * helpers and partials registered by other code on the global instance can neither leak in nor be polluted by us.
 */
export function createHandlebars(): typeof Handlebars {
  const hb = Handlebars.create();
  hb.registerHelper('default', defaultHelper);
  // `{{#if (eq message.locale "zh-CN")}}`: lets one layout or partial speak every locale.
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  return hb;
}
