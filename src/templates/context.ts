/**
 * The variables a template may use, and the function that builds them at send time.
 *
 * The compiler checks template variables against {@link isKnownTemplateVariable}; the activities
 * that render should build their context with {@link buildTemplateContext} so that what the
 * compiler accepts is exactly what exists at send time. Pure (no Node builtins).
 */
import type { Contact } from '../journey/schema';

/** Built-in contact fields; keep in sync with `Contact` in journey/schema.ts (a test checks). */
export const CONTACT_FIELD_NAMES = [
  'id', 'email', 'phone', 'first_name', 'last_name', 'company', 'job_title', 'industry', 'region', 'country',
  'timezone', 'locale', 'lifecycle_stage', 'score', 'tags', 'owner_id', 'created_at', 'attributes',
] as const;

const CONTACT_FIELDS = new Set<string>(CONTACT_FIELD_NAMES);
/** `links.*`: signed per-recipient links of an email (empty in SMS and chat). */
const LINK_NAMES = ['unsubscribe', 'preferences', 'view_in_browser'];
const PERSON_FIELDS = new Set(['id', 'name', 'email', 'phone']);
const ROOTS: Record<string, ((rest: string[]) => boolean) | undefined> = {
  contact: (rest) => rest.length === 0 || rest[0] === 'attributes' || (rest.length === 1 && CONTACT_FIELDS.has(rest[0]!)),
  // Properties of the event that started the run: their shape is up to the event producer.
  event: () => true,
  journey: (rest) => rest.length <= 1 && (rest[0] === undefined || rest[0] === 'id' || rest[0] === 'name'),
  owner: (rest) => rest.length <= 1 && (rest[0] === undefined || PERSON_FIELDS.has(rest[0])),
  manager: (rest) => rest.length <= 1 && (rest[0] === undefined || PERSON_FIELDS.has(rest[0])),
  links: (rest) => rest.length <= 1 && (rest[0] === undefined || LINK_NAMES.includes(rest[0])),
  // The sender's postal address (MAIL_PHYSICAL_ADDRESS), for the footer.
  sender: (rest) => rest.length <= 1 && (rest[0] === undefined || rest[0] === 'address'),
  // Set by the email renderer: the locale folder actually rendered (`zh-CN`, `en`), so a shared layout can localize.
  message: (rest) => rest.length <= 1 && (rest[0] === undefined || rest[0] === 'locale'),
  // Set by layouts: the rendered subject and body.
  subject: (rest) => rest.length === 0,
  body: (rest) => rest.length === 0,
};

/**
 * Whether a variable path (`contact.first_name`, `first_name`, `event.webinar_title`) exists in the
 * context built by {@link buildTemplateContext}. Built-in contact fields are also available at the
 * top level (`{{first_name}}`) because that is what marketers type first.
 */
export function isKnownTemplateVariable(path: string): boolean {
  const parts = path.split(/[./]/).filter((p) => p !== '' && p !== 'this');
  const [root, ...rest] = parts;
  if (root === undefined) return true;
  if (parts.some(isPrototypeMember)) return false;
  const check = Object.hasOwn(ROOTS, root) ? ROOTS[root] : undefined;
  if (check) return check(rest);
  if (CONTACT_FIELDS.has(root)) return root === 'attributes' || rest.length === 0;
  return false;
}

export interface Person {
  id?: string;
  name?: string;
  email?: string;
  phone?: string;
}

export interface TemplateContextInput {
  contact: Contact;
  /** Properties of the event that started the run. */
  trigger?: { properties: Record<string, unknown> } | undefined;
  journey: { id: string; name: string };
  owner?: Person | undefined;
  manager?: Person | undefined;
  links?: { unsubscribe?: string; preferences?: string; view_in_browser?: string } | undefined;
  sender?: { address?: string } | undefined;
}

export function buildTemplateContext(input: TemplateContextInput): Record<string, unknown> {
  const { contact } = input;
  return {
    ...contact,
    contact,
    event: input.trigger?.properties ?? {},
    journey: input.journey,
    owner: input.owner ?? {},
    manager: input.manager ?? {},
    links: input.links ?? {},
    sender: input.sender ?? {},
    message: {},
  };
}

/**
 * `constructor`, `__proto__`, `toString`…: members every object inherits. No context field has such a name, and a
 * template reaching for one is probing for prototype access, so the compiler refuses it wherever it appears.
 */
export function isPrototypeMember(segment: string): boolean {
  return segment in Object.prototype || segment === 'prototype';
}

/** Handlebars helpers every renderer registers (the compiler does not treat them as variables). */
export const KNOWN_HELPERS = ['if', 'unless', 'each', 'with', 'lookup', 'log', 'default', 'eq'] as const;
