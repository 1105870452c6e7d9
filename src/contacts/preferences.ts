import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { findContactById } from '../db/queries';
import { contactAudit, contacts, suppressions, type ConsentStatus, type TopicConsent } from '../db/schema';
import type { IncomingEvent, IngestDeps } from '../ingest/event';
import { recordContactChange } from './changes';
import { routeStoredEvents } from './outbox';
import { TOPIC_CHANNELS, type TopicChannel, type Topics } from './topics';

/** A contact's subscription state per channel: marketing consent, suppression, and each configured topic. */
export type ChannelPreferences = {
  /** The channel's marketing consent (`unknown` when none was recorded). */
  marketing: ConsentStatus;
  /** The address's suppression reason (email only; null when not suppressed). */
  suppressed: string | null;
  /** Configured topic → whether marketing about it may be sent (a topic never chosen follows `marketing`). */
  topics: Record<string, boolean>;
};
/** `contactId`: the live contact's (a merged duplicate's link answers for its survivor). */
export type Preferences = { contactId: string; locale: string | null; email: ChannelPreferences; sms: ChannelPreferences };

/** Topic choices to apply: channel → topic id → subscribed. */
export type TopicChoices = Partial<Record<TopicChannel, Record<string, boolean>>>;

export async function readPreferences(db: Db, contactId: string, topics: Topics): Promise<Preferences | undefined> {
  // A link sent before a merge names the duplicate: the person's preferences are now the survivor's.
  const row = await findContactById(db, contactId);
  if (!row || row.mergedInto) return undefined;
  const [sup] = row.email
    ? await db.select({ reason: suppressions.reason }).from(suppressions).where(and(eq(suppressions.channel, 'email'), eq(suppressions.address, row.email))).limit(1)
    : [];
  const channel = (ch: TopicChannel, suppressed: string | null): ChannelPreferences => {
    const marketing = row.consent[ch] ?? 'unknown';
    const allowed = ch === 'sms' ? marketing === 'opted_in' : marketing !== 'opted_out';
    const chosen = row.topicConsent[ch] ?? {};
    return {
      marketing,
      suppressed,
      topics: Object.fromEntries(topics.map((t) => [t.id, allowed && chosen[t.id] !== 'opted_out'])),
    };
  };
  return { contactId: row.id, locale: row.locale, email: channel('email', sup?.reason ?? null), sms: channel('sms', null) };
}

/**
 * Applies topic choices in one transaction: the contact's `topic_consent`, an audit row naming who asked, and a
 * `contact.unsubscribed` (channel, topic) per topic withdrawn, routed after the commit. Choosing a topic never changes
 * the channel's consent: opting in to a topic of a channel the contact opted out of records the choice, and nothing
 * is sent until the channel is opted in again. Returns false when there is no such contact.
 */
export async function setTopicPreferences(
  db: Db,
  contactId: string,
  choices: TopicChoices,
  who: { source: string; actor: string },
  ingest?: IngestDeps,
): Promise<boolean> {
  let stored: IncomingEvent[] = [];
  const survivor = await findContactById(db, contactId);
  if (!survivor || survivor.mergedInto) return false;
  const found = await db.transaction(async (tx) => {
    const [before] = await tx.select().from(contacts).where(eq(contacts.id, survivor.id)).for('update');
    if (!before || before.mergedInto) return false;
    const topicConsent: TopicConsent = { ...before.topicConsent };
    const changed: Record<string, Record<string, string>> = {};
    for (const ch of TOPIC_CHANNELS) {
      for (const [topic, subscribed] of Object.entries(choices[ch] ?? {})) {
        const next = subscribed ? 'opted_in' : 'opted_out';
        if (topicConsent[ch]?.[topic] === next) continue;
        topicConsent[ch] = { ...topicConsent[ch], [topic]: next };
        (changed[ch] ??= {})[topic] = next;
      }
    }
    if (Object.keys(changed).length === 0) return true;
    const [after] = await tx.update(contacts).set({ topicConsent, updatedAt: sql`now()` }).where(eq(contacts.id, before.id)).returning();
    const key = `preferences:${randomUUID()}`;
    await tx.insert(contactAudit).values({ contactId: before.id, action: 'preferences', detail: { topics: changed, source: who.source, writeKey: key }, actor: who.actor });
    ({ events: stored } = await recordContactChange(tx, { before, after: after!, source: 'api', unsubscribeSource: who.source, key }));
    return true;
  });
  await routeStoredEvents(ingest, stored);
  return found;
}
