import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { contactAudit, contacts, suppressions } from '../db/schema';
import type { IncomingEvent, IngestDeps } from '../ingest/event';
import { recordContactChange } from './changes';
import { SuppressionReason } from './may-deliver';
import { routeStoredEvents } from './outbox';

/**
 * Unsubscribes a contact from marketing email: the address is suppressed (so a later contact record with the same
 * address stays unsubscribed too), consent is set to opted_out, and an audit row says why. Idempotent. Withdrawing
 * consent stores `contact.unsubscribed` (channel email, the link's list as topic) in the same transaction, routed
 * after it through `ingest` (else by the outbox sweeper), so journeys exiting on it exit.
 */
export async function unsubscribeEmail(
  db: Db,
  contactId: string,
  reason: { source: string; messageKey?: string | undefined; topic?: string | undefined },
  ingest?: IngestDeps,
): Promise<boolean> {
  let stored: IncomingEvent[] = [];
  const found = await db.transaction(async (tx) => {
    const [contact] = await tx.select().from(contacts).where(eq(contacts.id, contactId)).for('update');
    // An erased contact has no address or consent left to withdraw (its address is suppressed as a hash already).
    if (!contact || contact.erasedAt) return false;
    if (contact.email) {
      await tx
        .insert(suppressions)
        .values({ channel: 'email', address: contact.email, reason: SuppressionReason.Unsubscribed })
        .onConflictDoNothing();
    }
    if (contact.consent.email !== 'opted_out') {
      const consent = { ...contact.consent, email: 'opted_out' as const };
      await tx.update(contacts).set({ consent, updatedAt: sql`now()` }).where(eq(contacts.id, contactId));
      const key = `unsubscribe:${randomUUID()}`;
      await tx.insert(contactAudit).values({
        contactId,
        action: 'unsubscribe',
        detail: { channel: 'email', source: reason.source, messageKey: reason.messageKey, writeKey: key },
        actor: reason.source,
      });
      ({ events: stored } = await recordContactChange(tx, {
        before: contact,
        after: { ...contact, consent },
        source: 'api',
        unsubscribeSource: reason.source,
        key,
        topic: reason.topic,
      }));
    }
    return true;
  });
  await routeStoredEvents(ingest, stored);
  return found;
}
