import { randomUUID } from 'node:crypto';
import { and, eq, isNull, sql } from 'drizzle-orm';
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

/**
 * An SMS keyword from a phone (STOP / START, src/channels/twilio-webhooks.ts): every live contact with that number gets
 * SMS consent `opted_out` or `opted_in`, audited, with `contact.updated` (and on opting out `contact.unsubscribed`,
 * channel sms) stored in the same transaction and routed after it. Opting out also suppresses the number — even when
 * no contact has it, so a number that said STOP is never texted marketing; opting back in lifts only that
 * unsubscribe (a bounce, manual or erased entry stays). Idempotent. Returns the contacts found.
 */
export async function setSmsConsentByPhone(
  db: Db,
  phone: string,
  to: 'opted_out' | 'opted_in',
  reason: { source: string; messageSid?: string },
  ingest?: IngestDeps,
): Promise<string[]> {
  let stored: IncomingEvent[] = [];
  const ids = await db.transaction(async (tx) => {
    if (to === 'opted_out') {
      await tx.insert(suppressions).values({ channel: 'sms', address: phone, reason: SuppressionReason.Unsubscribed }).onConflictDoNothing();
    } else {
      await tx
        .delete(suppressions)
        .where(and(eq(suppressions.channel, 'sms'), eq(suppressions.address, phone), eq(suppressions.reason, SuppressionReason.Unsubscribed)));
    }
    const found = await tx
      .select()
      .from(contacts)
      .where(and(eq(contacts.phone, phone), isNull(contacts.mergedInto), isNull(contacts.erasedAt)))
      .for('update');
    for (const contact of found) {
      if (contact.consent.sms === to) continue;
      const consent = { ...contact.consent, sms: to };
      await tx.update(contacts).set({ consent, updatedAt: sql`now()` }).where(eq(contacts.id, contact.id));
      const key = `sms-${to}:${reason.messageSid ?? randomUUID()}`;
      await tx.insert(contactAudit).values({
        contactId: contact.id,
        action: to === 'opted_out' ? 'unsubscribe' : 'subscribe',
        detail: { channel: 'sms', source: reason.source, messageSid: reason.messageSid, writeKey: key },
        actor: reason.source,
      });
      const r = await recordContactChange(tx, { before: contact, after: { ...contact, consent }, source: 'api', unsubscribeSource: reason.source, key });
      stored = [...stored, ...r.events];
    }
    return found.map((c) => c.id);
  });
  await routeStoredEvents(ingest, stored);
  return ids;
}

/**
 * Opts a contact back in to marketing email from their own signed preference link (the link reached their mailbox:
 * a confirmed opt-in). Lifts only an `unsubscribed` suppression of the address; a complaint, a bounce or an operator's
 * entry stays, and then nothing changes (returns false). Audited.
 */
export async function resubscribeEmail(db: Db, contactId: string, reason: { source: string; messageKey?: string | undefined }): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [contact] = await tx.select().from(contacts).where(eq(contacts.id, contactId)).for('update');
    if (!contact?.email) return false;
    const [sup] = await tx.select({ reason: suppressions.reason }).from(suppressions).where(and(eq(suppressions.channel, 'email'), eq(suppressions.address, contact.email))).for('update');
    if (sup && sup.reason !== SuppressionReason.Unsubscribed) return false;
    if (sup) await tx.delete(suppressions).where(and(eq(suppressions.channel, 'email'), eq(suppressions.address, contact.email)));
    if (contact.consent.email === 'opted_in' && !sup) return true;
    await tx.update(contacts).set({ consent: { ...contact.consent, email: 'opted_in' }, updatedAt: sql`now()` }).where(eq(contacts.id, contactId));
    await tx.insert(contactAudit).values({
      contactId,
      action: 'resubscribe',
      detail: { channel: 'email', source: reason.source, messageKey: reason.messageKey },
      actor: reason.source,
    });
    return true;
  });
}
