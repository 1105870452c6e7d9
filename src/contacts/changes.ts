/**
 * Contact changes are events. Every write to a contact diffs the row before and after (in the journey language's
 * field names) and, in the same transaction as the write, stores one `contact.updated` event holding every changed
 * field — an outbox row (`events.routed_at` null) that is routed after the commit (see outbox.ts) or, if the process
 * dies first, by the sweeper. Consent going to `opted_out` on a channel, or on one topic of a channel, also stores
 * `contact.unsubscribed` (with `channel`, and `topic` for a topic).
 *
 * Event ids are deterministic per write (`contact.updated:<contactId>:<key of the write>`), so a retried write whose
 * first attempt committed cannot emit twice.
 */
import { isDeepStrictEqual } from 'node:util';
import type { DbOrTx } from '../db/client';
import { insertJsonRows } from '../db/bulk-insert';
import type { ContactRow } from '../db/queries';
import { events, type ConsentStatus } from '../db/schema';
import { toJourneyContact } from '../db/contact-view';
import type { IncomingEvent } from '../ingest/incoming';

export const CONTACT_UPDATED = 'contact.updated';
export const CONTACT_UNSUBSCRIBED = 'contact.unsubscribed';

/** Who made the change. */
export type ChangeSource = 'api' | 'event' | 'import' | 'merge' | 'journey' | 'scoring' | 'crm';

/** Changed fields by journey-language path (`lifecycle_stage`, `tags`, `attributes.plan`): before → after. */
export type ContactChanges = Record<string, { from: unknown; to: unknown }>;

/** The `contact.updated` properties. */
export type ContactUpdatedProperties = { changes: ContactChanges; source: ChangeSource; workflowId?: string };

/** Fields compared, in the journey language's names (src/journey/schema.ts `Contact`). */
export const CHANGE_FIELDS = [
  'email',
  'phone',
  'first_name',
  'last_name',
  'company',
  'job_title',
  'industry',
  'region',
  'country',
  'timezone',
  'locale',
  'lifecycle_stage',
  'score',
  'tags',
  'owner_id',
] as const;

const CHANNELS = ['email', 'sms', 'chat'] as const;
export type ConsentChannel = (typeof CHANNELS)[number];

/**
 * The fields that differ between two versions of a contact. `before` undefined is a contact just created: every field
 * it was created with is a change from null. Attributes are compared one by one (`attributes.<name>`, a removed one
 * goes to null); tags as whole arrays.
 */
export function diffContacts(before: ContactRow | undefined, after: ContactRow): ContactChanges {
  const a = toJourneyContact(after) as Record<string, unknown>;
  const b: Record<string, unknown> = before ? (toJourneyContact(before) as Record<string, unknown>) : {};
  const out: ContactChanges = {};
  for (const f of CHANGE_FIELDS) {
    const from = before ? (b[f] ?? null) : f === 'tags' ? [] : f === 'score' ? 0 : null;
    const to = a[f] ?? null;
    if (!isDeepStrictEqual(from, to)) out[f] = { from, to };
  }
  const fromAttrs = before?.attributes ?? {};
  const toAttrs = after.attributes;
  for (const name of new Set([...Object.keys(fromAttrs), ...Object.keys(toAttrs)])) {
    const from = fromAttrs[name] ?? null;
    const to = toAttrs[name] ?? null;
    if (!isDeepStrictEqual(from, to)) out[`attributes.${name}`] = { from, to };
  }
  return out;
}

/** Channel × topic choices that went to opted_out in this write (src/contacts/topics.ts). */
export function withdrawnTopics(before: ContactRow | undefined, after: ContactRow): { channel: 'email' | 'sms'; topic: string }[] {
  if (!before) return [];
  const out: { channel: 'email' | 'sms'; topic: string }[] = [];
  for (const channel of ['email', 'sms'] as const) {
    const was = before.topicConsent[channel] ?? {};
    for (const [topic, choice] of Object.entries(after.topicConsent[channel] ?? {})) {
      if (choice === 'opted_out' && was[topic] !== 'opted_out') out.push({ channel, topic });
    }
  }
  return out;
}

/** Channels whose consent went to opted_out in this write (a contact created opted out withdrew nothing). */
export function withdrawnConsent(before: ContactRow | undefined, after: ContactRow): ConsentChannel[] {
  if (!before) return [];
  const was = (c: ConsentStatus | undefined) => c === 'opted_out';
  return CHANNELS.filter((ch) => !was(before.consent[ch]) && was(after.consent[ch]));
}

export type ContactChange = {
  before: ContactRow | undefined;
  after: ContactRow;
  source: ChangeSource;
  /** Identifies the write (idempotency key, event id, uuid stored with the audit row): same key, same event id. */
  key: string;
  /** The run whose step made the change (it applied the change itself). */
  workflowId?: string | undefined;
  /** `source` of `contact.unsubscribed` when it is not the write's (e.g. `unsubscribe_link`). @default source */
  unsubscribeSource?: string;
  /** The unsubscribe topic (list id), when consent is withdrawn for one. */
  topic?: string | undefined;
  occurredAt?: Date;
};

export const contactUpdatedId = (contactId: string, key: string) => `${CONTACT_UPDATED}:${contactId}:${key}`;

/** The events a write stores (pure): its `contact.updated` and a `contact.unsubscribed` per withdrawn channel or topic. */
export function contactChangeEvents(change: ContactChange): { changes: ContactChanges; events: IncomingEvent[] } {
  const changes = diffContacts(change.before, change.after);
  const contactId = change.after.id;
  const occurredAt = change.occurredAt ?? new Date();
  const out: IncomingEvent[] = [];
  if (Object.keys(changes).length > 0) {
    const properties: ContactUpdatedProperties = { changes, source: change.source, ...(change.workflowId ? { workflowId: change.workflowId } : {}) };
    out.push({ id: contactUpdatedId(contactId, change.key), type: CONTACT_UPDATED, contactId, properties, occurredAt, source: 'system' });
  }
  for (const channel of withdrawnConsent(change.before, change.after)) {
    out.push({
      id: `${CONTACT_UNSUBSCRIBED}:${contactId}:${channel}:${change.key}`,
      type: CONTACT_UNSUBSCRIBED,
      contactId,
      properties: { channel, ...(change.topic ? { topic: change.topic } : {}), source: change.unsubscribeSource ?? change.source },
      occurredAt,
      source: 'system',
    });
  }
  for (const { channel, topic } of withdrawnTopics(change.before, change.after)) {
    out.push({
      id: `${CONTACT_UNSUBSCRIBED}:${contactId}:${channel}:${topic}:${change.key}`,
      type: CONTACT_UNSUBSCRIBED,
      contactId,
      properties: { channel, topic, source: change.unsubscribeSource ?? change.source },
      occurredAt,
      source: 'system',
    });
  }
  return { changes, events: out };
}

/**
 * Stores the write's `contact.updated` (and a `contact.unsubscribed` per withdrawn channel) as unrouted events, in
 * the caller's transaction. Returns what to route after the commit; nothing when nothing changed. A retry of a write
 * with the same key stores nothing new (ids are deterministic).
 */
export async function recordContactChange(tx: DbOrTx, change: ContactChange): Promise<{ changes: ContactChanges; events: IncomingEvent[] }> {
  return (await recordContactChanges(tx, [change]))[0]!;
}

/**
 * `recordContactChange` for many writes in one statement (a bulk import's chunk); results in the order given.
 * `routed`: events stored already marked routed, because routing them would be only the mark (see `quietContacts`
 * in outbox.ts, asked in the same transaction); the caller does not route them.
 */
export async function recordContactChanges(tx: DbOrTx, changes: readonly ContactChange[], opts: { routed?: (e: IncomingEvent) => boolean } = {}): Promise<{ changes: ContactChanges; events: IncomingEvent[] }[]> {
  const all = changes.map(contactChangeEvents);
  const rows = all.flatMap((c) => c.events);
  if (rows.length === 0) return all;
  const now = new Date();
  const fresh = new Set((await insertJsonRows(tx, events, rows.map((e) => ({ ...e, routedAt: opts.routed?.(e) ? now : null })), { onConflictDoNothing: 'id', returning: 'id' })) as string[]);
  return all.map((c) => ({ changes: c.changes, events: c.events.filter((e) => fresh.has(e.id)) }));
}
