import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { contactAudit, contacts, suppressions } from '../db/schema';

/**
 * Unsubscribes a contact from marketing email: the address is suppressed (so a later contact record with the same
 * address stays unsubscribed too), consent is set to opted_out, and an audit row says why. Idempotent.
 */
export async function unsubscribeEmail(db: Db, contactId: string, reason: { source: string; messageKey?: string }): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [contact] = await tx.select().from(contacts).where(eq(contacts.id, contactId)).for('update');
    if (!contact) return false;
    if (contact.email) {
      await tx
        .insert(suppressions)
        .values({ channel: 'email', address: contact.email, reason: 'unsubscribed' })
        .onConflictDoNothing();
    }
    if (contact.consent.email !== 'opted_out') {
      await tx
        .update(contacts)
        .set({ consent: { ...contact.consent, email: 'opted_out' }, updatedAt: sql`now()` })
        .where(eq(contacts.id, contactId));
      await tx.insert(contactAudit).values({
        contactId,
        action: 'unsubscribe',
        detail: { channel: 'email', source: reason.source, messageKey: reason.messageKey },
        actor: reason.source,
      });
    }
    return true;
  });
}
