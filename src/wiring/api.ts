import type { Express } from 'express';
import type { Logger } from 'pino';
import { buildApp } from '../api/app';
import type { Config } from '../config';
import type { DatabaseHandle } from '../db/client';
import { dbTriggerSource } from '../publishing/journeys';
import type { ScoringModel } from '../scoring/model';
import type { TemporalHandle } from './temporal';
import type { EmailFeedbackOptions } from '../api/routes/email-feedback';
import { createOutboundHttp } from '../net/outbound';

/** The bounce intake of the configuration: each provider's webhook only when its verification is configured. */
export function emailFeedbackOptions(config: Config): EmailFeedbackOptions {
  const d = config.deliverability;
  return {
    deliverability: { softBounceLimit: d.softBounceLimit, softBounceWindowMs: d.softBounceWindowMs },
    reportMaxBytes: d.reportMaxBytes,
    // Certificates and confirmations are fetched through the guarded client, from SNS hosts only (the default rule).
    ...(d.sesTopicArns.length ? { ses: { topicArns: d.sesTopicArns, http: createOutboundHttp({ allow: config.outboundAllow }) } } : {}),
    ...(d.mailgunSigningKey ? { mailgun: { signingKey: d.mailgunSigningKey } } : {}),
    ...(d.sendgridPublicKey ? { sendgrid: { publicKey: d.sendgridPublicKey } } : {}),
    ...(d.postmark ? { postmark: d.postmark } : {}),
  };
}

export type ApiOptions = {
  config: Config;
  log: Logger;
  database: DatabaseHandle;
  temporal: TemporalHandle;
  scoring: ScoringModel;
  /** See resolveSigningSecrets. */
  secrets: readonly string[];
};

/** The REST API of `npm start` and `npm run api`: journeys' triggers come from the database, runs go to Temporal. */
export function createApi(opts: ApiOptions): Express {
  const { config, log, database, temporal, scoring, secrets } = opts;
  return buildApp({
    database,
    temporal: temporal.client,
    taskQueue: config.temporal.taskQueue,
    triggers: dbTriggerSource(database.db),
    scoring,
    logger: log,
    signingSecrets: secrets,
    trustProxy: config.trustProxy,
    sessionTtlMs: config.consoleSessionMs,
    addressLimits: config.addressLimits,
    rateLimit: config.keyRateLimit,
    outboundAllow: config.outboundAllow,
    ...(config.sms.provider === 'twilio' ? { twilio: { authToken: config.sms.authToken, publicBaseUrl: config.publicBaseUrl, helpText: config.sms.helpText } } : {}),
    ...(config.sms.provider === 'aliyun' && config.sms.callbackToken ? { aliyun: { token: config.sms.callbackToken } } : {}),
    importMaxBytes: config.importMaxBytes,
    topics: config.mail.topics,
    emailFeedback: emailFeedbackOptions(config),
    analytics: config.analytics,
  });
}
