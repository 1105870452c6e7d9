import type Handlebars from 'handlebars';
import { createHandlebars, PLAIN_TEXT, RUNTIME_OPTIONS } from './handlebars';

/**
 * Inline Handlebars strings written in a journey (an email subject override, an SMS body, a chat message, a webhook
 * URL and the string values of its JSON body). The compiler checks their variables against the template context, so
 * they must be rendered with that context at send time — sent as written, `{{contact.email}}` would reach the
 * customer's CRM or inbox literally.
 *
 * Sources come only from published journey versions (never from event data), in a private environment with
 * prototype access off. Output is plain text (nothing is HTML-escaped); a string without `{{` is returned as is.
 */
const hb = createHandlebars();

// A journey has a handful of inline strings and versions are immutable, so a small cache compiles each once.
const compiled = new Map<string, Handlebars.TemplateDelegate>();
const MAX_CACHED = 2000;

export function renderInline(source: string, context: Record<string, unknown>): string {
  if (!source.includes('{{')) return source;
  let t = compiled.get(source);
  if (!t) {
    t = hb.compile(source, PLAIN_TEXT);
    if (compiled.size >= MAX_CACHED) compiled.clear();
    compiled.set(source, t);
  }
  return t(context, RUNTIME_OPTIONS);
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

/**
 * A webhook URL that is not a URL once rendered, or that left the literal part the journey wrote. Rendering again
 * cannot fix it: the callWebhook activity fails non-retryably with type `InvalidWebhookUrl`.
 */
export class InvalidWebhookUrlError extends Error {
  override name = 'InvalidWebhookUrlError';
}

/**
 * Renders a URL template (a webhook step's `url`) with every value percent-encoded, so a contact field or event
 * property fills one URL component and can never change the host, the path above it or the query: a company named
 * `evil.example/` or `../admin?x=` stays inside its segment. Throws {@link InvalidWebhookUrlError}.
 */
export function renderInlineUrl(source: string, context: Record<string, unknown>): string {
  if (!source.includes('{{')) return source;
  const url = renderInline(source, encodeStrings(context) as Record<string, unknown>);
  // A value of `..` is a dot segment even encoded (WHATWG URLs resolve `%2E%2E` too): the URL must stay under the
  // literal part the journey wrote before its first variable.
  const literal = staticPrefix(source.slice(0, source.indexOf('{{')));
  let href: string;
  try {
    href = new URL(url).href;
  } catch {
    throw new InvalidWebhookUrlError(`the webhook URL is not a URL once rendered: ${url.slice(0, 200)}`);
  }
  if (literal !== undefined && !href.startsWith(literal)) {
    throw new InvalidWebhookUrlError(`the webhook URL left ${literal} once rendered (${href.slice(0, 200)})`);
  }
  return url;
}

/** The literal start of a URL template as a normalized URL, when it holds at least the whole origin. */
function staticPrefix(literal: string): string | undefined {
  if (!/^https?:\/\/[^/?#]+[/?#]/i.test(literal)) return undefined;
  try {
    return new URL(literal).href;
  } catch {
    return undefined;
  }
}

function encodeStrings(value: unknown): unknown {
  if (typeof value === 'string') return encodeURIComponent(value);
  if (Array.isArray(value)) return value.map(encodeStrings);
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encodeStrings(v)]));
  }
  return value;
}
