import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Config } from '../config';
import type { EmailRenderer, Mailer } from '../activities/deps';
import { createFileMailer, createSmtpMailer } from '../channels/email/mailer';
import { createTemplateRenderer } from '../templates/email';
import { compileLayouts, formatTemplateProblems } from '../templates/layouts';
import { createOutboxSmsSender, createTwilioSmsSender, type SmsSender } from '../channels/sms';
import { createAliyunSmsSender } from '../channels/aliyun-sms';
import { renderInline } from '../templates/inline';
import { TEMPLATES_DIR } from '../paths';
import { createOutboundHttp, type OutboundHttp } from '../net/outbound';

/**
 * SMTP when SMTP_URL is set; otherwise real .eml files under DATA_DIR/mail, so nothing leaves a laptop by accident.
 * Either way each message is DKIM-signed with the configured key of its From domain.
 */
export function createMailer(opts: { config: Config }): { mailer: Mailer; description: string } {
  const { config } = opts;
  const dkim = config.dkim.length > 0 ? `, DKIM for ${config.dkim.map((k) => `${k.keySelector}._domainkey.${k.domainName}`).join(', ')}` : ', unsigned (no DKIM key)';
  if (config.smtp.url) {
    const mailer = createSmtpMailer({
      url: config.smtp.url,
      pool: {
        maxConnections: config.smtp.poolSize,
        ...(config.smtp.ratePerSecond > 0 ? { rateLimit: config.smtp.ratePerSecond, rateDelta: 1000 } : {}),
      },
      dkim: config.dkim,
      relay: config.deliverability.relay,
    });
    return { mailer, description: `SMTP ${new URL(config.smtp.url).host}${dkim}` };
  }
  const dir = path.resolve(config.dataDir, 'mail');
  return { mailer: createFileMailer(dir, { dkim: config.dkim }), description: `.eml files in ${dir}${dkim}` };
}

/**
 * The email templates of journeys/templates, English by default. MJML layouts are compiled here, once, when the
 * worker starts; a layout that does not compile stops start-up with its file and line. Sends only fill in the
 * compiled HTML.
 */
export async function createRenderer(dir: string = TEMPLATES_DIR): Promise<EmailRenderer> {
  const { layouts, problems } = await compileLayouts(dir);
  if (problems.length > 0) throw new Error(`email templates: a layout does not compile:\n${formatTemplateProblems(problems)}`);
  return createTemplateRenderer({ dir, defaultLocale: 'en', layouts });
}

export type SmsChannel = { sms: SmsSender; provider: string };

/** Twilio-compatible REST when configured; otherwise the outbox: the SMS is stored and shown by the API. */
export function createSms(opts: { config: Config; outbound?: OutboundHttp }): SmsChannel {
  const { sms } = opts.config;
  if (sms.provider === 'twilio') {
    const { baseUrl, accountSid, authToken, from, statusCallbackUrl } = sms;
    const http = opts.outbound ?? createOutboundHttp({ allow: opts.config.outboundAllow });
    return { sms: createTwilioSmsSender({ baseUrl, accountSid, authToken, from, statusCallbackUrl, http }), provider: 'twilio' };
  }
  if (sms.provider === 'aliyun') {
    const { endpoint, accessKeyId, accessKeySecret, signName, templates } = sms;
    const http = opts.outbound ?? createOutboundHttp({ allow: opts.config.outboundAllow });
    return { sms: createAliyunSmsSender({ endpoint, accessKeyId, accessKeySecret, signName, templates, render: renderInline, http }), provider: 'aliyun' };
  }
  // The messages row written by the activity is the outbox entry; the provider id just names it.
  return { sms: createOutboxSmsSender(async () => `outbox-${randomUUID()}`), provider: 'outbox' };
}
