import { activityLog } from './log';
import { contactForSend, isSkipped, messageRow, recordSkip, type Skipped } from './message-rows';
import { eq, sql } from 'drizzle-orm';
import { applyTracking } from '../channels/email/tracking';
import { SmtpPermanentError, toSmtpError } from '../channels/email/mailer';
import { toJourneyContact } from '../db/contact-view';
import { findMessageByKey, isSuppressed } from '../db/queries';
import { messages, suppressions } from '../db/schema';
import { buildTemplateContext } from '../journey/template-context';
import { renderInline } from './inline-templates';
import type { ActivityDeps } from './deps';

export type SendEmailInput = {
  /** `<workflowId>:<stepId>[:<n>]` — the same for every retry and across continue-as-new. */
  idempotencyKey: string;
  contactId: string;
  journeyId: string;
  journeyName?: string;
  workflowId: string;
  stepId: string;
  template: string;
  /** Inline Handlebars overriding the template's subject. */
  subject?: string;
  from?: string;
  locale?: string;
  category: 'marketing' | 'transactional';
  /** Properties of the event that started the run, for templates. */
  trigger?: Record<string, unknown>;
};


export type SendEmailResult =
  | { status: 'sent'; messageId: string; duplicate: boolean }
  | { status: 'bounced'; error: string; duplicate: boolean }
  | { status: Skipped; duplicate: boolean };

export function emailActivities(deps: ActivityDeps) {
  const { db } = deps;
  const setStatus = (key: string, values: Partial<typeof messages.$inferInsert>) =>
    db.update(messages).set({ ...values, updatedAt: sql`now()` }).where(eq(messages.idempotencyKey, key));

  return {
    /**
     * Reserve → send → mark sent, keyed by a unique idempotency key.
     *
     * A retry decides from what the row says: `sent`/`bounced`/skipped → answer as before, send nothing;
     * `reserved` → no SMTP transaction began, or the server refused with a reply code (so nothing was accepted) →
     * send; `sending` → the earlier attempt died between starting the SMTP transaction and recording its reply. That
     * window (the server's final `250` in flight, or our single UPDATE after it) cannot be closed by SMTP, which has
     * no way to ask "did you accept message X?". We resend with the same deterministic Message-ID and idempotency
     * header so receivers and our own SMTP sink can drop the duplicate, and we mark the row so it is counted.
     */
    async sendEmail(input: SendEmailInput): Promise<SendEmailResult> {
      const existing = await findMessageByKey(db, input.idempotencyKey);
      if (existing?.status === 'sent') return { status: 'sent', messageId: existing.providerMessageId ?? '', duplicate: true };
      if (existing?.status === 'bounced') return { status: 'bounced', error: existing.error ?? '', duplicate: true };
      if (existing && isSkipped(existing.status)) return { status: existing.status, duplicate: true };

      const row = await contactForSend(db, input.contactId);
      const base = messageRow(input, 'email', row.email ?? '', { template: input.template });
      const skip = (status: Skipped) => recordSkip(db, base, status);
      // Consent and suppression are checked at send time, not at entry: a contact may unsubscribe while waiting.
      if (!row.email) return skip('no_address');
      if (input.category === 'marketing' && row.consent.email === 'opted_out') return skip('no_consent');
      if (await isSuppressed(db, 'email', row.email)) return skip('suppressed');

      const contact = toJourneyContact(row);
      const context = buildTemplateContext({
        contact,
        trigger: input.trigger ? { properties: input.trigger } : undefined,
        journey: { id: input.journeyId, name: input.journeyName ?? input.journeyId },
      });
      const rendered = deps.renderer.render(input.template, input.locale ?? contact.locale ?? undefined, context);
      const tracked = applyTracking(
        { html: rendered.html, text: rendered.text },
        {
          baseUrl: deps.tracking.baseUrl,
          secrets: deps.tracking.secrets,
          messageKey: input.idempotencyKey,
          contactId: input.contactId,
          kind: input.category,
          physicalAddress: deps.tracking.physicalAddress,
          ...(deps.tracking.unsubscribeMailto ? { unsubscribeMailto: deps.tracking.unsubscribeMailto } : {}),
        },
      );
      // A step's subject override is an inline template, one line like the template's own subject.
      const subject = input.subject !== undefined ? renderInline(input.subject, context).replace(/\s+/g, ' ').trim() : rendered.subject;

      const uncertain = existing?.status === 'sending';
      if (uncertain) {
        activityLog('warn', 'resending an email whose earlier attempt has an unknown outcome (same Message-ID)', { key: input.idempotencyKey });
      }
      await db
        .insert(messages)
        .values({ ...base, subject, status: 'sending', attempts: 1 })
        .onConflictDoUpdate({
          target: messages.idempotencyKey,
          set: {
            status: 'sending',
            attempts: sql`${messages.attempts} + 1`,
            ...(uncertain ? { error: 'previous attempt outcome unknown; resent with the same Message-ID' } : {}),
            updatedAt: sql`now()`,
          },
        });

      let result;
      try {
        result = await deps.mailer.send({
          from: input.from ?? deps.defaultFrom,
          to: row.email,
          subject,
          html: tracked.html,
          text: tracked.text,
          headers: tracked.headers,
          idempotencyKey: input.idempotencyKey,
        });
      } catch (err) {
        const smtp = toSmtpError(err);
        if (smtp instanceof SmtpPermanentError) {
          // A hard bounce: never try this address again, and let the journey take its failure path.
          await db.transaction(async (tx) => {
            await tx
              .update(messages)
              .set({ status: 'bounced', error: smtp.message.slice(0, 500), updatedAt: sql`now()` })
              .where(eq(messages.idempotencyKey, input.idempotencyKey));
            await tx.insert(suppressions).values({ channel: 'email', address: row.email!, reason: 'bounced' }).onConflictDoNothing();
          });
          return { status: 'bounced', error: smtp.message, duplicate: false };
        }
        // A reply code means the server refused this transaction, so nothing was accepted: the retry is not uncertain.
        if (smtp.responseCode !== undefined) await setStatus(input.idempotencyKey, { status: 'reserved', error: smtp.message.slice(0, 500) });
        throw smtp;
      }
      await setStatus(input.idempotencyKey, { status: 'sent', providerMessageId: result.messageId, sentAt: sql`now()` as never });
      return { status: 'sent', messageId: result.messageId, duplicate: false };
    },
  };
}
