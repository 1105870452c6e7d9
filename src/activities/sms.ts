import { eq, sql } from 'drizzle-orm';
import { SmsPermanentError } from '../channels/sms';
import { toJourneyContact } from '../db/contact-view';
import { findMessageByKey, suppressionOf } from '../db/queries';
import { mayDeliver } from '../contacts/may-deliver';
import { erasedAddresses, erasureSalts } from '../contacts/erased-address';
import { messages } from '../db/schema';
import { buildTemplateContext } from '../templates/context';
import type { Activities, SendSmsInput, SendSmsResult, Skipped } from '../contracts';
import type { ActivityDeps } from './deps';
import { renderInline } from '../templates/inline';
import { contactForSend, isSkipped, messageRow, recordSkip } from './message-rows';
import { storableText } from '../bounds';


export function smsActivities(deps: ActivityDeps): Pick<Activities, 'sendSms'> {
  const { db } = deps;
  const salts = erasureSalts(deps.tracking.secrets);
  return {
    /**
     * Same reserve → send → mark protocol as email. Twilio-style providers also deduplicate by the idempotency
     * token we send with the request, which closes the window a crash between their 201 and our UPDATE leaves.
     */
    async sendSms(input: SendSmsInput): Promise<SendSmsResult> {
      const existing = await findMessageByKey(db, input.idempotencyKey);
      if (existing?.status === 'sent') return { status: 'sent', providerMessageId: existing.providerMessageId ?? '', duplicate: true };
      if (existing?.status === 'failed') return { status: 'failed', error: existing.error ?? '', duplicate: true };
      if (existing && isSkipped(existing.status)) return { status: existing.status, duplicate: true };
      const row = await contactForSend(db, input.contactId);
      const base = messageRow(input, 'sms', row.phone ?? '', { template: input.template ?? null, provider: deps.smsProvider });
      const skip = (status: Skipped) => recordSkip(db, base, status);
      if (!row.phone) return skip('no_address');
      const suppression = await suppressionOf(db, 'sms', row.phone, erasedAddresses(salts, 'sms', row.phone));
      const topic = input.topic !== undefined ? { id: input.topic, consent: row.topicConsent.sms?.[input.topic] } : undefined;
      const decision = mayDeliver({ channel: 'sms', category: input.category, consent: row.consent.sms, suppression, topic });
      if (!decision.deliver) return skip(decision.skip);

      const contact = toJourneyContact(row);
      const context = buildTemplateContext({ contact, trigger: input.trigger ? { properties: input.trigger } : undefined, journey: { id: input.journeyId, name: input.journeyId } });
      const body = input.template ? deps.text.render('sms', input.template, contact.locale ?? undefined, context) : renderInline(input.body ?? '', context);
      await db
        .insert(messages)
        .values({ ...base, body, status: 'sending', attempts: 1 })
        .onConflictDoUpdate({ target: messages.idempotencyKey, set: { status: 'sending', attempts: sql`${messages.attempts} + 1`, updatedAt: sql`now()` } });
      try {
        const r = await deps.sms.send({ to: row.phone, body, idempotencyKey: input.idempotencyKey, template: input.template, context });
        await db
          .update(messages)
          .set({ status: 'sent', providerMessageId: r.providerMessageId, sentAt: sql`now()`, updatedAt: sql`now()` })
          .where(eq(messages.idempotencyKey, input.idempotencyKey));
        return { status: 'sent', providerMessageId: r.providerMessageId, duplicate: false };
      } catch (err) {
        if (err instanceof SmsPermanentError) {
          await db
            .update(messages)
            .set({ status: 'failed', error: storableText(err.message), updatedAt: sql`now()` })
            .where(eq(messages.idempotencyKey, input.idempotencyKey));
          return { status: 'failed', error: err.message, duplicate: false };
        }
        throw err;
      }
    },
  };
}
