import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createOutboxSmsSender, createTwilioSmsSender, type SmsSender } from './channels/sms';
import { createTextRenderer } from './engine/text-templates';
import { ConfigError, type Config } from './config';
import type { ScoringModel } from './scoring/model';
import type { SalesDirectory } from './sales';
import type { ActivityDeps, EmailRenderer, Mailer } from './activities/deps';
import type { DatabaseHandle } from './db/client';
import { createFileMailer, createSmtpMailer } from './channels/email/mailer';
import { createTemplateRenderer } from './channels/email/renderer';
import { PROJECT_ROOT } from './runtime';

export const JOURNEYS_DIR = path.join(PROJECT_ROOT, 'journeys');
export const TEMPLATES_DIR = path.join(JOURNEYS_DIR, 'templates');
export const SCORING_MODEL_FILE = path.join(JOURNEYS_DIR, 'scoring.yaml');
/** In a subdirectory so the journey publisher, which takes every journeys/*.yaml, does not read it as a journey. */
export const SALES_FILE = path.join(JOURNEYS_DIR, 'sales', 'teams.yaml');

/** SMTP when SMTP_URL is set; otherwise real .eml files under DATA_DIR/mail, so nothing leaves a laptop by accident. */
export function createMailer(config: Config): { mailer: Mailer; description: string } {
  if (config.smtp.url) {
    const mailer = createSmtpMailer({
      url: config.smtp.url,
      pool: {
        maxConnections: config.smtp.poolSize,
        ...(config.smtp.ratePerSecond > 0 ? { rateLimit: config.smtp.ratePerSecond, rateDelta: 1000 } : {}),
      },
    });
    return { mailer, description: `SMTP ${new URL(config.smtp.url).host}` };
  }
  const dir = path.resolve(config.dataDir, 'mail');
  return { mailer: createFileMailer(dir), description: `.eml files in ${dir}` };
}

export function createRenderer(): EmailRenderer {
  return createTemplateRenderer({ dir: TEMPLATES_DIR, defaultLocale: 'en' });
}

export const DEV_PHYSICAL_ADDRESS = 'itinera development sender · set MAIL_PHYSICAL_ADDRESS to your postal address';

/** Twilio-compatible REST when configured; otherwise the outbox: the SMS is stored and shown by the API. */
export function createSms(config: Config): { sms: SmsSender; provider: string } {
  if (config.sms.provider === 'twilio') {
    const { baseUrl, accountSid, authToken, from } = config.sms;
    return { sms: createTwilioSmsSender({ baseUrl, accountSid, authToken, from }), provider: 'twilio' };
  }
  // The messages row written by the activity is the outbox entry; the provider id just names it.
  return { sms: createOutboxSmsSender(async () => `outbox-${randomUUID()}`), provider: 'outbox' };
}

export function activityDeps(
  config: Config,
  database: DatabaseHandle,
  mailer: Mailer,
  renderer: EmailRenderer,
  secrets: readonly string[],
  scoring?: ScoringModel,
  sales?: SalesDirectory,
): ActivityDeps {
  const { sms, provider } = createSms(config);
  const physicalAddress = config.mail.physicalAddress ?? (config.nodeEnv === 'production' ? undefined : DEV_PHYSICAL_ADDRESS);
  if (!physicalAddress) {
    throw new ConfigError('MAIL_PHYSICAL_ADDRESS is missing: marketing email must carry the sender\'s postal address in production.');
  }
  return {
    db: database.db,
    mailer,
    renderer,
    text: createTextRenderer(TEMPLATES_DIR),
    sms,
    smsProvider: provider,
    webhookSecrets: config.webhookSecrets,
    chatWebhooks: config.chatWebhooks,
    ...(scoring ? { scoring } : {}),
    ...(sales ? { sales: { directory: sales, crmWebhook: config.crmWebhook } } : {}),
    defaultFrom: config.smtp.from,
    tracking: { baseUrl: config.publicBaseUrl, secrets, physicalAddress, unsubscribeMailto: config.mail.unsubscribeMailto },
  };
}
