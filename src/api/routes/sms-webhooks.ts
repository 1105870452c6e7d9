import type { Request } from 'express';
import { and, eq, isNull, notInArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { contacts, messages, smsProviderEvents } from '../../db/schema';
import { setSmsConsentByPhone } from '../../contacts/consent';
import { normalizePhone } from '../../channels/normalize';
import { FINAL_SMS_STATUSES, smsKeyword, SmsKeyword, twiml, verifyTwilioSignature, type FinalSmsStatus, type FormParams } from '../../channels/twilio-webhooks';
import { ALIYUN_REPORT_PATH, ALIYUN_UP_PATH, TWILIO_INBOUND_PATH, TWILIO_STATUS_PATH } from '../../config';
import { createHash, timingSafeEqual } from 'node:crypto';
import { storableText } from '../../bounds';
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

type ReceiptMessage = { id: string; key: string; contactId: string | null; stepId: string | null };

/**
 * A provider's final delivery status for one of our messages: the first final status wins (a replay or a late
 * contradicting receipt changes nothing), and journeys hear it once as `sms.delivered` / `sms.failed` (the event id is
 * the provider's message id). A receipt for an erased contact is not an event.
 */
async function applyFinalStatus(
  deps: { db: Db; ingest: IngestDeps },
  message: ReceiptMessage,
  provider: string,
  providerMessageId: string,
  status: FinalSmsStatus,
  error: string | undefined,
  errorCode: string | undefined,
): Promise<void> {
  const changed = await deps.db
    .update(messages)
    .set({ status, ...(status !== 'delivered' && error ? { error: storableText(error) } : {}), updatedAt: sql`now()` })
    .where(and(eq(messages.id, message.id), notInArray(messages.status, [...FINAL_SMS_STATUSES])))
    .returning({ status: messages.status });
  const [final] = changed.length ? changed : await deps.db.select({ status: messages.status }).from(messages).where(eq(messages.id, message.id));
  if (!message.contactId || !final || !(FINAL_SMS_STATUSES as readonly string[]).includes(final.status)) return;
  const [alive] = await deps.db.select({ id: contacts.id }).from(contacts).where(and(eq(contacts.id, message.contactId), isNull(contacts.erasedAt))).limit(1);
  if (!alive) return;
  const type = final.status === 'delivered' ? 'sms.delivered' : 'sms.failed';
  await ingestEvent(deps.ingest, {
    id: `${type}:${provider}:${providerMessageId}`,
    type,
    contactId: message.contactId,
    properties: {
      message_key: message.key, provider, step_id: message.stepId,
      ...(type === 'sms.failed' ? { status: final.status, ...(errorCode ? { error_code: errorCode } : {}) } : {}),
    },
    occurredAt: new Date(),
    source: 'sms',
  });
}

export type AliyunCallbackOptions = {
  /** ALIYUN_SMS_CALLBACK_TOKEN: Aliyun's HTTP push is unsigned, so its URLs carry this secret as their last segment. */
  token: string;
};

/** Aliyun's SmsReport (HTTP batch push): a JSON array of delivery reports. */
const AliyunReport = z
  .array(
    z.object({
      phone_number: z.string().min(1).max(40),
      biz_id: z.string().min(1).max(100),
      success: z.boolean(),
      err_code: z.string().max(100).optional(),
      err_msg: z.string().max(500).optional(),
      send_time: z.string().max(40).optional(),
      report_time: z.string().max(40).optional(),
      sms_size: z.string().max(10).optional(),
      out_id: z.string().max(256).optional(),
    }).loose(),
  )
  .min(1)
  .max(1000);
/** Aliyun's SmsUp (HTTP batch push): a JSON array of replies. */
const AliyunUp = z
  .array(
    z.object({
      phone_number: z.string().min(1).max(40),
      content: z.string().max(1600),
      sequence_id: z.union([z.number().refine(Number.isSafeInteger, 'must be an integer'), z.string().min(1).max(40)]),
      send_time: z.string().max(40).optional(),
      sign_name: z.string().max(100).optional(),
      dest_code: z.string().max(40).optional(),
    }).loose(),
  )
  .min(1)
  .max(1000);
const AliyunToken = z.object({ token: z.string().min(1).max(200) });
/** What Aliyun expects back; anything else (or a non-200) makes it push again. */
const ALIYUN_OK = { code: 0, msg: '接收成功' };

const sameSecret = (a: string, b: string) => {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
};

export function smsWebhookRoutes(deps: { db: Db; ingest: IngestDeps; twilio: TwilioWebhookOptions | undefined; aliyun?: AliyunCallbackOptions | undefined }) {
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
  const record = async (kind: 'status' | 'inbound', sid: string, status: string, matched: boolean, provider = 'twilio') =>
    (await deps.db.insert(smsProviderEvents).values({ provider, kind, providerMessageId: sid, status, matched }).onConflictDoNothing().returning({ id: smsProviderEvents.id })).length === 1;
  const aliyunAuthorized = (token: string) => {
    if (!deps.aliyun) throw new DomainError('sms_provider_not_configured', 404, 'Aliyun SMS callbacks are not configured (ALIYUN_SMS_CALLBACK_TOKEN).');
    if (!sameSecret(token, deps.aliyun.token)) throw new DomainError('invalid_signature', 403, 'The callback URL does not carry ALIYUN_SMS_CALLBACK_TOKEN.');
  };

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
          await applyFinalStatus(deps, message, 'twilio', cb.MessageSid, cb.MessageStatus as FinalSmsStatus, cb.ErrorCode ? `twilio: error ${cb.ErrorCode}` : undefined, cb.ErrorCode);
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
    defineRoute({
      method: 'post',
      path: `${ALIYUN_REPORT_PATH}/:token`,
      tag: 'sms',
      summary: 'Aliyun SMS delivery reports (SmsReport, HTTP batch push; the URL carries ALIYUN_SMS_CALLBACK_TOKEN): success → delivered, otherwise failed with err_code; the first final status wins; sms.delivered / sms.failed emitted once; unknown BizIds recorded as unmatched',
      auth: 'public',
      params: AliyunToken,
      bodyDoc: AliyunReport,
      responses: {
        200: { description: 'Aliyun\'s expected answer, {"code":0}' },
        400: { description: 'Not a SmsReport array' },
        403: { description: 'Wrong token' },
        404: { description: 'Not configured' },
      },
      handler: async ({ params, req }) => {
        aliyunAuthorized(params.token);
        const reports = parse(AliyunReport, req.body);
        for (const r of reports) {
          const [message] = await deps.db
            .select({ id: messages.id, key: messages.idempotencyKey, contactId: messages.contactId, stepId: messages.stepId })
            .from(messages)
            .where(and(eq(messages.channel, 'sms'), eq(messages.provider, 'aliyun'), eq(messages.providerMessageId, r.biz_id)))
            .limit(1);
          const status: FinalSmsStatus = r.success ? 'delivered' : 'failed';
          await record('status', r.biz_id, status, message !== undefined, 'aliyun');
          const code = r.err_code?.slice(0, 60);
          if (message) await applyFinalStatus(deps, message, 'aliyun', r.biz_id, status, r.success ? undefined : `aliyun: ${code ?? 'failed'}${r.err_msg ? ` ${r.err_msg}` : ''}`, r.success ? undefined : code);
        }
        return { status: 200, body: ALIYUN_OK };
      },
    }),
    defineRoute({
      method: 'post',
      path: `${ALIYUN_UP_PATH}/:token`,
      tag: 'sms',
      summary: 'Aliyun SMS replies (SmsUp, HTTP batch push; the URL carries ALIYUN_SMS_CALLBACK_TOKEN): 退订 / TD / STOP opt the number out of SMS (contact.unsubscribed, channel sms), 订阅 / START back in; a re-pushed reply (same sequence_id) changes nothing',
      auth: 'public',
      params: AliyunToken,
      bodyDoc: AliyunUp,
      responses: {
        200: { description: 'Aliyun\'s expected answer, {"code":0}' },
        400: { description: 'Not a SmsUp array' },
        403: { description: 'Wrong token' },
        404: { description: 'Not configured' },
      },
      handler: async ({ params, req }) => {
        aliyunAuthorized(params.token);
        const replies = parse(AliyunUp, req.body);
        for (const m of replies) {
          const id = `up:${String(m.sequence_id)}`;
          const keyword = smsKeyword(m.content);
          // Aliyun writes mainland numbers without +86.
          const phone = normalizePhone(m.phone_number, 'CN');
          if (!(await record('inbound', id, keyword, false, 'aliyun'))) continue;
          if (phone.ok && (keyword === SmsKeyword.Stop || keyword === SmsKeyword.Start)) {
            const found = await setSmsConsentByPhone(deps.db, phone.value, keyword === SmsKeyword.Stop ? 'opted_out' : 'opted_in', { source: 'sms_keyword', messageSid: id }, deps.ingest);
            if (found.length > 0) await deps.db.update(smsProviderEvents).set({ matched: true }).where(and(eq(smsProviderEvents.provider, 'aliyun'), eq(smsProviderEvents.providerMessageId, id)));
          }
        }
        return { status: 200, body: ALIYUN_OK };
      },
    }),
  ];
}
