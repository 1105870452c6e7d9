import { ConfigError, type Config } from '../config';
import type { ActivityDeps, EmailRenderer, Mailer } from '../activities/deps';
import type { DatabaseHandle } from '../db/client';
import { createTextRenderer } from '../templates/text';
import { TEMPLATES_DIR } from '../paths';
import type { SalesDirectory } from '../sales';
import type { ScoringModel } from '../scoring/model';
import { createSms, type SmsChannel } from './channels';
import { createOutboundHttp, type OutboundHttp } from '../net/outbound';

export const DEV_PHYSICAL_ADDRESS = 'itinera development sender · set MAIL_PHYSICAL_ADDRESS to your postal address';

export type ActivityDepsOptions = {
  config: Config;
  database: DatabaseHandle;
  mailer: Mailer;
  renderer: EmailRenderer;
  /** Signing secrets of tracking links and tokens; the first signs, all verify (see resolveSigningSecrets). */
  secrets: readonly string[];
  /** The lead-scoring model: without it, the daily decay has nothing to apply. */
  scoring?: ScoringModel;
  /** Sales teams: without them hand-offs are only recorded. */
  sales?: SalesDirectory;
  /** @default createSms({ config, outbound }) */
  sms?: SmsChannel;
  /** @default createOutboundHttp({ allow: config.outboundAllow }) */
  outbound?: OutboundHttp;
};

/** What the production activities need, from the configuration and the already-open resources. */
export function activityDeps(opts: ActivityDepsOptions): ActivityDeps {
  const { config, database, mailer, renderer, secrets, scoring, sales } = opts;
  const outbound = opts.outbound ?? createOutboundHttp({ allow: config.outboundAllow });
  const { sms, provider } = opts.sms ?? createSms({ config, outbound });
  const physicalAddress = config.mail.physicalAddress ?? (config.nodeEnv === 'production' ? undefined : DEV_PHYSICAL_ADDRESS);
  if (!physicalAddress) {
    throw new ConfigError('MAIL_PHYSICAL_ADDRESS is missing: marketing email must carry the sender\'s postal address in production.');
  }
  return {
    db: database.db,
    urgentDb: database.urgent,
    mailer,
    renderer,
    text: createTextRenderer(TEMPLATES_DIR),
    sms,
    smsProvider: provider,
    outbound,
    webhookSecrets: config.webhookSecrets,
    chatWebhooks: config.chatWebhooks,
    ...(scoring ? { scoring } : {}),
    ...(sales ? { sales: { directory: sales, crmWebhook: config.crmWebhook } } : {}),
    defaultFrom: config.smtp.from,
    deliverability: { softBounceLimit: config.deliverability.softBounceLimit, softBounceWindowMs: config.deliverability.softBounceWindowMs },
    ...(config.deliverability.verpDomain ? { verp: { domain: config.deliverability.verpDomain } } : {}),
    tracking: { baseUrl: config.publicBaseUrl, secrets, physicalAddress, unsubscribeMailto: config.mail.unsubscribeMailto },
  };
}
