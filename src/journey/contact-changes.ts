/**
 * The `changes` of a `contact.updated` event (`{ [path]: { from, to } }`, journey-language paths such as
 * `lifecycle_stage`, `tags`, `attributes.plan`) applied to a journey-language contact: `to` gives the contact after the
 * change (the simulator), `from` the contact before it (an audience trigger enters on a false → true change).
 * Pure; importable from workflow code.
 */
import type { Contact } from './schema';

export type ContactChange = { from?: unknown; to?: unknown };
export type ContactChanges = Record<string, ContactChange>;

/** Contact fields a change may name directly (`id` never changes; `attributes` is named per attribute). */
const TOP_LEVEL = new Set<string>([
  'email', 'phone', 'first_name', 'last_name', 'company', 'job_title', 'industry', 'region', 'country', 'timezone',
  'locale', 'lifecycle_stage', 'score', 'tags', 'owner_id', 'created_at',
] satisfies (keyof Contact)[]);

/** `properties.changes` when it has the contract's shape, else undefined (the caller skips the event with a reason). */
export function parseChanges(properties: Record<string, unknown>): ContactChanges | undefined {
  const raw = properties.changes;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const out: ContactChanges = {};
  for (const [path, ch] of Object.entries(raw as Record<string, unknown>)) {
    if (path === '' || ch === null || typeof ch !== 'object' || Array.isArray(ch)) return undefined;
    out[path] = ch as ContactChange;
  }
  return out;
}

function setAttribute(attributes: Record<string, unknown>, keys: string[], value: unknown): Record<string, unknown> {
  const [head, ...rest] = keys;
  const copy = { ...attributes };
  if (rest.length === 0) {
    if (value === undefined) delete copy[head!];
    else copy[head!] = value;
    return copy;
  }
  const child = copy[head!];
  copy[head!] = setAttribute(typeof child === 'object' && child !== null && !Array.isArray(child) ? (child as Record<string, unknown>) : {}, rest, value);
  return copy;
}

/** The contact with each changed path set to its `from` (before) or `to` (after) value; unknown paths are ignored. */
export function applyChanges(contact: Contact, changes: ContactChanges, side: 'from' | 'to'): Contact {
  let c: Contact = contact;
  for (const [path, ch] of Object.entries(changes)) {
    const value = ch[side];
    const [head, ...rest] = path.split('.');
    if (head === 'attributes' && rest.length > 0) {
      c = { ...c, attributes: setAttribute(c.attributes, rest, value) };
      // The contact view keeps the country in attributes.country (src/db/contact-view.ts).
      if (path === 'attributes.country') c = { ...c, country: typeof value === 'string' ? value : null };
    } else if (rest.length === 0 && TOP_LEVEL.has(head!)) {
      if (head === 'tags') c = { ...c, tags: Array.isArray(value) ? value.filter((t): t is string => typeof t === 'string') : [] };
      else if (head === 'score') c = { ...c, score: typeof value === 'number' && Number.isFinite(value) ? value : 0 };
      else c = { ...c, [head!]: value ?? null };
      if (head === 'country') c = { ...c, attributes: setAttribute(c.attributes, ['country'], value ?? undefined) };
    }
  }
  return c;
}
