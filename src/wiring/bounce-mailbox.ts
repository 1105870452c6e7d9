import { applyRawReport } from '../deliverability/intake';
import { startBounceListener, type BounceListener } from '../deliverability/smtp-listener';
import { dbTriggerSource } from '../publishing/journeys';
import { ingestDeps } from './ingest';
import type { ApiOptions } from './api';

/**
 * The SMTP bounce mailbox of `npm start` and `npm run api` when BOUNCE_SMTP_PORT is set: reports are applied through
 * the same path as POST /v1/email/reports (events routed with the API's own ingest wiring, VERP return paths verified
 * with its signing secrets).
 */
export async function startConfiguredBounceMailbox(opts: ApiOptions): Promise<BounceListener | undefined> {
  const { config, database } = opts;
  const smtp = config.deliverability.bounceSmtp;
  if (!smtp) return undefined;
  const ingest = ingestDeps({ db: database.db, temporal: opts.temporal.client, taskQueue: config.temporal.taskQueue, scoring: opts.scoring, triggers: dbTriggerSource(database.db) });
  const options = { softBounceLimit: config.deliverability.softBounceLimit, softBounceWindowMs: config.deliverability.softBounceWindowMs };
  return startBounceListener({
    host: smtp.host,
    port: smtp.port,
    maxBytes: config.deliverability.reportMaxBytes,
    apply: (raw, recipients) => applyRawReport({ db: database.db, ingest, options, secrets: opts.secrets }, raw, recipients),
    log: opts.log,
  });
}
