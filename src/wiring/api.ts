import type { Express } from 'express';
import type { Logger } from 'pino';
import { buildApp } from '../api/app';
import type { Config } from '../config';
import type { DatabaseHandle } from '../db/client';
import { dbTriggerSource } from '../publishing/journeys';
import type { ScoringModel } from '../scoring/model';
import type { TemporalHandle } from './temporal';

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
    outboundAllow: config.outboundAllow,
    ...(config.sms.provider === 'twilio' ? { twilio: { authToken: config.sms.authToken, publicBaseUrl: config.publicBaseUrl, helpText: config.sms.helpText } } : {}),
    importMaxBytes: config.importMaxBytes,
    topics: config.mail.topics,
    analytics: config.analytics,
  });
}
