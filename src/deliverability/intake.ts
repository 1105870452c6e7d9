/** One raw DSN or ARF message, however it arrived (POST /v1/email/reports or the SMTP bounce mailbox): parsed, then applied. */
import type { Db } from '../db/client';
import type { IngestDeps } from '../ingest/event';
import { applyFeedback, type FeedbackResult } from './apply';
import { parseReport } from './reports';
import type { DeliverabilityOptions } from './settings';

/** Throws ReportError (from parseReport) for a message that is not a report we can apply. */
export function applyRawReport(deps: { db: Db; ingest: IngestDeps; options: DeliverabilityOptions }, raw: Buffer): Promise<FeedbackResult> {
  return applyFeedback(deps, parseReport(raw));
}
