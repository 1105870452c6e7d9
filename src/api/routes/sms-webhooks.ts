import type { Request } from 'express';
import { and, eq, isNull, notInArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { contacts, messages, smsProviderEvents } from '../../db/schema';
import { setSmsConsentByPhone } from '../../contacts/consent';
import { normalizePhone } from '../../channels/normalize';
import { FINAL_SMS_STATUSES, smsKeyword, SmsKeyword, twiml, verifyTwilioSignature, type FinalSmsStatus, type FormParams } from '../../channels/twilio-webhooks';
import { TWILIO_INBOUND_PATH, TWILIO_STATUS_PATH } from '../../config';
import { ingestEvent, type IngestDeps } from '../../ingest/event';
import { DomainError, ValidationError } from '../../errors';
import { zodErrors } from '../problem';
import { defineRoute } from '../route';

export type TwilioWebhookOptions = {
  authToken: string;
  /** PUBLIC_BASE_URL: Twilio signs the URL it posted to, which is this plus the path and query. */
  publicBaseUrl: string;
  /** The answer to HELP. */
  helpText: string;
};

const Sid = z.string().min(2).max(64).regex(/^[A-Za-z0-9_-]+$/, 'must be a message SID such as SM0123…');
const StatusCallback = z.object({
  MessageSid: Sid,
  MessageStatus: z.string().min(1).max(40).regex(/^[a-z_-]+$/, 'must be a Twilio message status such as delivered'),
  ErrorCode: z.string().max(20).optional(),
});
const Inbound = z.object({ MessageSid: Sid, From: z.string().min(1).max(40), Body: z.string().max(1600).default('') });
const StatusDoc = StatusCallback.extend({ AccountSid: z.string().optional(), To: z.string().optional(), From: z.string().optional() });
const InboundDoc = Inbound.extend({ AccountSid: z.string().optional(), To: z.string().optional() });

function parse<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const r = schema.safeParse(body);
  if (!r.success) throw new ValidationError('The callback is invalid; see errors for each field.', zodErrors(r.error, []));
  return r.data;
}

export function smsWebhookRoutes(deps: { db: Db; ingest: IngestDeps; twilio: TwilioWebhookOptions | undefined }) {
  /** The form, once its signature checks out: nothing is read, recorded or changed before. */
  const signed = (req: Request): FormParams => {
    const twilio = deps.twilio;
    if (!twilio) throw new DomainError('sms_provider_not_configured', 404, 'Twilio callbacks are not configured (SMS_PROVIDER=twilio).');
    const params = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as FormParams;
    if (!verifyTwilioSignature(twilio.authToken, `${twilio.publicBaseUrl}${req.originalUrl}`, params, req.get('x-twilio-signature'))) {
      throw new DomainError('invalid_signature', 403, 'The X-Twilio-Signature header does not match this request.');
    }
    return params;
  };
  const record = async (kind: 'status' | 'inbound', sid: string, status: string, matched: boolean) =>
    (await deps.db.insert(smsProviderEvents).values({ provider: 'twilio', kind, providerMessageId: sid, status, matched }).onConflictDoNothing().returning({ id: smsProviderEvents.id })).length === 1;

  return [
    defineRoute({
      method: 'post',
      path: TWILIO_STATUS_PATH,
      tag: 'sms',
      summary: 'Twilio delivery receipt (StatusCallback, signed with X-Twilio-Signature): delivered, undelivered or failed becomes the message status once; earlier statuses and replays change nothing; an unknown message is recorded as unmatched (202)',
      auth: 'public',
      bodyDoc: StatusDoc,
      responses: {
        200: { description: 'Applied, or nothing to change' },
        202: { description: 'No message of ours has this SID: recorded as unmatched' },
        400: { description: 'A field is missing or malformed' },
        403: { description: 'Bad or missing signature' },
      },
      handler: async ({ req }) => {
        const cb = parse(StatusCallback, signed(req));
        const [message] = await deps.db
          .select({ id: messages.id, key: messages.idempotencyKey, contactId: messages.contactId, stepId: messages.stepId })
          .from(messages)
          .where(and(eq(messages.channel, 'sms'), eq(messages.provider, 'twilio'), eq(messages.providerMessageId, cb.MessageSid)))
          .limit(1);
        await record('status', cb.MessageSid, cb.MessageStatus, message !== undefined);
        if (!message) return { status: 202, body: { matched: false } };
        if ((FINAL_SMS_STATUSES as readonly string[]).includes(cb.MessageStatus)) {
          const status = cb.MessageStatus as FinalSmsStatus;
          // The first final status wins: a replay or a late contradicting receipt changes nothing.
          const changed = await deps.db
            .update(messages)
            .set({ status, ...(status !== 'delivered' && cb.ErrorCode ? { error: `twilio: error ${cb.ErrorCode}` } : {}), updatedAt: sql`now()` })
            .where(and(eq(messages.id, message.id), notInArray(messages.status, [...FINAL_SMS_STATUSES])))
            .returning({ status: messages.status });
          // Journeys hear the final status once (the event id is the message's); a receipt for an erased contact is not an event.
          const [final] = changed.length ? changed : await deps.db.select({ status: messages.status }).from(messages).where(eq(messages.id, message.id));
          if (message.contactId && final && (FINAL_SMS_STATUSES as readonly string[]).includes(final.status)) {
            const [alive] = await deps.db.select({ id: contacts.id }).from(contacts).where(and(eq(contacts.id, message.contactId), isNull(contacts.erasedAt))).limit(1);
            if (alive) {
              const type = final.status === 'delivered' ? 'sms.delivered' : 'sms.failed';
              await ingestEvent(deps.ingest, {
                id: `${type}:twilio:${cb.MessageSid}`,
                type,
                contactId: message.contactId,
                properties: {
                  message_key: message.key, provider: 'twilio', step_id: message.stepId,
                  ...(type === 'sms.failed' ? { status: final.status, ...(cb.ErrorCode ? { error_code: cb.ErrorCode } : {}) } : {}),
                },
                occurredAt: new Date(),
                source: 'sms',
              });
            }
          }
        }
        return { status: 200, body: { matched: true } };
      },
    }),
    defineRoute({
      method: 'post',
      path: TWILIO_INBOUND_PATH,
      tag: 'sms',
      summary: 'Twilio inbound message (signed with X-Twilio-Signature): STOP / UNSUBSCRIBE / 退订 / TD opt the sender out of SMS (contact.unsubscribed, channel sms), START / 订阅 back in, HELP is answered; the answer is TwiML',
      auth: 'public',
      bodyDoc: InboundDoc,
      responses: {
        200: { description: 'TwiML: the HELP answer, or no message', contentType: 'text/xml' },
        400: { description: 'A field is missing or malformed' },
        403: { description: 'Bad or missing signature' },
      },
      handler: async ({ req, res }) => {
        const msg = parse(Inbound, signed(req));
        const keyword = smsKeyword(msg.Body);
        const phone = normalizePhone(msg.From);
        let matched = false;
        if (phone.ok && (keyword === SmsKeyword.Stop || keyword === SmsKeyword.Start)) {
          const found = await setSmsConsentByPhone(deps.db, phone.value, keyword === SmsKeyword.Stop ? 'opted_out' : 'opted_in', { source: 'sms_keyword', messageSid: msg.MessageSid }, deps.ingest);
          matched = found.length > 0;
        }
        await record('inbound', msg.MessageSid, keyword, matched);
        res.status(200).type('text/xml').send(twiml(keyword === SmsKeyword.Help ? deps.twilio!.helpText : undefined));
      },
    }),
  ];
}
