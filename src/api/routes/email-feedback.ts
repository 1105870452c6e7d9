import express, { type Request } from 'express';
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { Db } from '../../db/client';
import type { IngestDeps } from '../../ingest/event';
import { DomainError, ValidationError } from '../../errors';
import { applyFeedback, DEFAULT_DELIVERABILITY, type DeliverabilityOptions, type FeedbackResult } from '../../deliverability/apply';
import type { Feedback } from '../../deliverability/feedback';
import { DEFAULT_REPORT_MAX_BYTES } from '../../deliverability/settings';
import { ReportError } from '../../deliverability/reports';
import { applyRawReport } from '../../deliverability/intake';
import { createSnsVerifier, sesFeedback, SnsEnvelope, SnsRefused, type SesOptions } from '../../deliverability/providers/ses';
import { MailgunBody, mailgunFeedback, verifyMailgun } from '../../deliverability/providers/mailgun';
import { SENDGRID_SIGNATURE_HEADER, SENDGRID_TIMESTAMP_HEADER, SendgridBody, sendgridFeedback, verifySendgrid } from '../../deliverability/providers/sendgrid';
import { PostmarkBody, postmarkAuthorized, postmarkFeedback } from '../../deliverability/providers/postmark';
import { zodErrors } from '../problem';
import { defineRoute } from '../route';

export const EMAIL_REPORTS_PATH = '/v1/email/reports';
export const SES_PATH = '/v1/email/ses';
export const MAILGUN_PATH = '/v1/email/mailgun';
export const SENDGRID_PATH = '/v1/email/sendgrid';
export const POSTMARK_PATH = '/v1/email/postmark';

/** The content types a raw report may be posted as. */
const RAW_TYPES = ['message/rfc822', 'message/global', 'text/plain', 'application/octet-stream'];

export type EmailFeedbackOptions = {
  /** Soft-bounce policy (BOUNCE_SOFT_LIMIT, BOUNCE_SOFT_WINDOW_DAYS). @default DEFAULT_DELIVERABILITY */
  deliverability?: DeliverabilityOptions;
  /** Largest raw report accepted at POST /v1/email/reports (INBOUND_REPORT_MAX_BYTES); larger is 413. @default 1 MiB */
  reportMaxBytes?: number;
  ses?: SesOptions;
  /** MAILGUN_WEBHOOK_SIGNING_KEY */
  mailgun?: { signingKey: string };
  /** SENDGRID_WEBHOOK_PUBLIC_KEY, parsed */
  sendgrid?: { publicKey: KeyObject };
  /** POSTMARK_WEBHOOK_USER / POSTMARK_WEBHOOK_PASSWORD */
  postmark?: { user: string; password: string };
};

declare module 'express-serve-static-core' {
  interface Request {
    /** The JSON body's bytes as received, kept only for webhooks whose signature covers them (SendGrid). */
    rawBody?: Buffer;
  }
}

/** For the app's JSON parser: keep the bytes of the requests whose signature is over the raw body. */
export function keepRawBody(req: Request, buf: Buffer): void {
  if (req.url.startsWith(SENDGRID_PATH)) req.rawBody = buf;
}

const Result = z.object({ matched: z.boolean(), duplicate: z.boolean(), outcome: z.string(), messageId: z.string().nullable() });

const notConfigured = (provider: string, settings: string) => new DomainError('email_provider_not_configured', 404, `${provider} events are not configured (${settings}).`);
const badSignature = (detail: string) => new DomainError('invalid_signature', 403, detail);

function parse<T extends z.ZodType>(schema: T, body: unknown, what: string): z.output<T> {
  const r = schema.safeParse(body);
  if (!r.success) throw new ValidationError(`The ${what} is invalid; see errors for each field.`, zodErrors(r.error, []));
  return r.data;
}

export function emailFeedbackRoutes(deps: {
  db: Db;
  ingest: IngestDeps;
  options: EmailFeedbackOptions;
  /** The link-signing secrets, which also sign VERP return paths: a raw report is matched by the one it names. */
  secrets: readonly string[];
}) {
  const o = deps.options;
  const apply = (fb: Feedback) => applyFeedback({ db: deps.db, ingest: deps.ingest, options: o.deliverability ?? DEFAULT_DELIVERABILITY }, fb);
  const answer = (results: FeedbackResult[]) => ({ status: results.some((r) => r.matched) || results.length === 0 ? 200 : 202, body: { results } });
  const sns = o.ses ? createSnsVerifier(o.ses) : undefined;
  // Read here, not by the app's parsers: a report is MIME text, not JSON. latin1 keeps every byte as one character.
  const readRaw = express.raw({ type: RAW_TYPES, limit: o.reportMaxBytes ?? DEFAULT_REPORT_MAX_BYTES });
  const readText = express.text({ type: ['text/plain'], limit: '300kb' });
  const responses = {
    200: { description: 'Applied (or already applied: `duplicate`)', schema: z.object({ results: z.array(Result) }) },
    202: { description: 'No message of ours matches: recorded as unmatched, nothing changed' },
    400: { description: 'Malformed payload' },
    403: { description: 'Bad or missing signature or credentials' },
    404: { description: 'This provider is not configured' },
  };

  return [
    defineRoute({
      method: 'post',
      path: EMAIL_REPORTS_PATH,
      tag: 'email',
      summary:
        'A raw bounce or complaint report (RFC 3464 DSN or RFC 5965 ARF), posted by the mail server of the bounce mailbox as message/rfc822: matched to our message by Message-ID, X-Itinera-Idempotency-Key or the signed VERP address it was delivered to (X-Original-To, Delivered-To, Envelope-To or To: bounces+<token>@BOUNCE_VERP_DOMAIN); a hard bounce suppresses the address, soft bounces count towards BOUNCE_SOFT_LIMIT, a policy bounce (5.7.x) is reported only, a complaint suppresses marketing; emits email.bounced / email.complained; the same report twice is applied once',
      auth: ['integration', 'ops'],
      parse: (req, res, next) =>
        readRaw(req, res, (err?: unknown) => {
          if (err) return next(err);
          if (Buffer.isBuffer(req.body)) req.body = (req.body as Buffer).toString('latin1');
          next();
        }),
      bodyDoc: z.string().describe('The report as message/rfc822'),
      responses: { ...responses, 413: { description: 'Larger than INBOUND_REPORT_MAX_BYTES' }, 415: { description: 'Not sent as message/rfc822 (or text/plain)' }, 422: { description: 'Not a DSN or ARF report, or a DSN with no failed recipient' } },
      handler: async ({ req }) => {
        if (typeof req.body !== 'string') throw new DomainError('unsupported_media_type', 415, `Send the report as the body with Content-Type ${RAW_TYPES[0]}.`);
        if (req.body.length === 0) throw new ValidationError('The request body is empty.', [{ path: 'body', message: 'send the report as message/rfc822' }]);
        try {
          return answer([await applyRawReport({ db: deps.db, ingest: deps.ingest, options: o.deliverability ?? DEFAULT_DELIVERABILITY, secrets: deps.secrets }, Buffer.from(req.body, 'latin1'))]);
        } catch (err) {
          if (err instanceof ReportError) throw new DomainError('not_a_report', 422, `This is not a report we can apply: ${err.message}.`, [{ path: 'body', message: err.message }]);
          throw err;
        }
      },
    }),
    defineRoute({
      method: 'post',
      path: SES_PATH,
      tag: 'email',
      summary: 'Amazon SES bounce and complaint notifications through an SNS HTTPS subscription: the SNS signature is verified with the certificate at SigningCertURL (an https://sns.<region>.amazonaws.com URL only), the topic must be one of SES_SNS_TOPIC_ARNS; a SubscriptionConfirmation is confirmed',
      auth: 'public',
      parse: readText,
      bodyDoc: SnsEnvelope,
      responses,
      handler: async ({ req }) => {
        if (!sns) throw notConfigured('Amazon SES', 'SES_SNS_TOPIC_ARNS');
        let body: unknown = req.body;
        if (typeof body === 'string') {
          try {
            body = JSON.parse(body);
          } catch {
            throw new ValidationError('The body is not JSON.', [{ path: 'body', message: 'must be an SNS message (JSON)' }]);
          }
        }
        let envelope;
        try {
          envelope = await sns.verify(body);
        } catch (err) {
          if (err instanceof SnsRefused) throw badSignature(`The SNS message is refused: ${err.message}.`);
          throw err;
        }
        if (envelope.Type === 'SubscriptionConfirmation') {
          try {
            await sns.confirm(envelope);
          } catch (err) {
            if (err instanceof SnsRefused) throw new DomainError('subscription_not_confirmed', 400, `${err.message}.`);
            throw err;
          }
          return { status: 200, body: { results: [], confirmed: true } };
        }
        if (envelope.Type !== 'Notification') return { status: 200, body: { results: [] } };
        let fb;
        try {
          fb = sesFeedback(envelope);
        } catch (err) {
          if (err instanceof SnsRefused) throw new ValidationError(`${err.message}.`, [{ path: 'Message', message: err.message }]);
          throw err;
        }
        return answer(fb ? [await apply(fb)] : []);
      },
    }),
    defineRoute({
      method: 'post',
      path: MAILGUN_PATH,
      tag: 'email',
      summary: 'Mailgun webhook (failed, complained), signed: HMAC-SHA256 of signature.timestamp + signature.token under MAILGUN_WEBHOOK_SIGNING_KEY',
      auth: 'public',
      bodyDoc: MailgunBody,
      responses,
      handler: async ({ req }) => {
        if (!o.mailgun) throw notConfigured('Mailgun', 'MAILGUN_WEBHOOK_SIGNING_KEY');
        const body = parse(MailgunBody, req.body, 'Mailgun webhook');
        if (!verifyMailgun(o.mailgun.signingKey, body)) throw badSignature('The Mailgun signature does not match.');
        const fb = mailgunFeedback(body);
        return answer(fb ? [await apply(fb)] : []);
      },
    }),
    defineRoute({
      method: 'post',
      path: SENDGRID_PATH,
      tag: 'email',
      summary: 'SendGrid signed Event Webhook (bounce, blocked, spamreport): ECDSA over X-Twilio-Email-Event-Webhook-Timestamp + the raw body, verified with SENDGRID_WEBHOOK_PUBLIC_KEY; each event is applied once by sg_event_id',
      auth: 'public',
      bodyDoc: SendgridBody,
      responses,
      handler: async ({ req }) => {
        if (!o.sendgrid) throw notConfigured('SendGrid', 'SENDGRID_WEBHOOK_PUBLIC_KEY');
        if (!req.rawBody || !verifySendgrid(o.sendgrid.publicKey, req.get(SENDGRID_TIMESTAMP_HEADER), req.rawBody, req.get(SENDGRID_SIGNATURE_HEADER))) {
          throw badSignature('The X-Twilio-Email-Event-Webhook-Signature does not match this body and timestamp.');
        }
        const events = parse(SendgridBody, req.body, 'SendGrid event batch');
        const results: FeedbackResult[] = [];
        for (const e of events) {
          const fb = sendgridFeedback(e);
          if (fb) results.push(await apply(fb));
        }
        return answer(results);
      },
    }),
    defineRoute({
      method: 'post',
      path: POSTMARK_PATH,
      tag: 'email',
      summary: 'Postmark bounce and spam-complaint webhook, authenticated with the HTTP Basic credentials POSTMARK_WEBHOOK_USER / POSTMARK_WEBHOOK_PASSWORD written into the webhook URL',
      auth: 'public',
      bodyDoc: PostmarkBody,
      responses,
      handler: async ({ req }) => {
        if (!o.postmark) throw notConfigured('Postmark', 'POSTMARK_WEBHOOK_USER, POSTMARK_WEBHOOK_PASSWORD');
        if (!postmarkAuthorized(req.get('authorization'), o.postmark.user, o.postmark.password)) throw badSignature('The Postmark webhook credentials do not match.');
        const fb = postmarkFeedback(parse(PostmarkBody, req.body, 'Postmark webhook'));
        return answer(fb ? [await apply(fb)] : []);
      },
    }),
  ];
}
