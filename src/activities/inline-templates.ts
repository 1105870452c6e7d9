import Handlebars from 'handlebars';

/**
 * Inline Handlebars strings written in a journey (an email subject override, an SMS body, a chat message, a webhook
 * URL and the string values of its JSON body). The compiler checks their variables against the template context, so
 * they must be rendered with that context at send time — sent as written, `{{contact.email}}` would reach the
 * customer's CRM or inbox literally.
 *
 * Sources come only from published journey versions (never from event data), in a private environment with
 * prototype access off. Output is plain text (nothing is HTML-escaped); a string without `{{` is returned as is.
 */
const hb = Handlebars.create();
hb.registerHelper('default', (...args: unknown[]) => {
  for (const v of args.slice(0, -1)) if (v !== undefined && v !== null && !(typeof v === 'string' && v.trim() === '')) return v;
  return '';
});

// A journey has a handful of inline strings and versions are immutable, so a small cache compiles each once.
const compiled = new Map<string, Handlebars.TemplateDelegate>();
const MAX_CACHED = 2000;

export function renderInline(source: string, context: Record<string, unknown>): string {
  if (!source.includes('{{')) return source;
  let t = compiled.get(source);
  if (!t) {
    t = hb.compile(source, { noEscape: true, strict: false });
    if (compiled.size >= MAX_CACHED) compiled.clear();
    compiled.set(source, t);
  }
  return t(context, { allowProtoPropertiesByDefault: false, allowProtoMethodsByDefault: false });
}

/** Renders every string inside a JSON value (objects and arrays are walked; keys and other values stay). */
export function renderInlineJson(value: unknown, context: Record<string, unknown>): unknown {
  if (typeof value === 'string') return renderInline(value, context);
  if (Array.isArray(value)) return value.map((v) => renderInlineJson(v, context));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderInlineJson(v, context)]));
  }
  return value;
}
