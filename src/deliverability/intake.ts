/** One raw DSN or ARF message, however it arrived (POST /v1/email/reports or the SMTP bounce mailbox): parsed, then applied. */
import type { Db } from '../db/client';
import type { IngestDeps } from '../ingest/event';
import { applyFeedback, type FeedbackResult } from './apply';
import { MimeError, parseHeaders, splitHeaderBlock } from './mime';
import { parseReport } from './reports';
import type { DeliverabilityOptions } from './settings';
import { verpMessageIds } from './verp';

/**
 * Where a report names the address it was delivered to: the mailbox's own record of the envelope recipient
 * (`X-Original-To`, `Delivered-To`, `Envelope-To`, written by Postfix, Exim, Dovecot and most forwarders), else the
 * report's `To`, which a reporting server addresses to the original message's envelope sender.
 */
const RECIPIENT_HEADERS = ['x-original-to', 'delivered-to', 'envelope-to', 'original-recipient', 'to'];

/** Addresses (`a@b`) in the report's own header block, in RECIPIENT_HEADERS order. */
function recipientHeaders(raw: Buffer): string[] {
  let headers;
  try {
    headers = parseHeaders(splitHeaderBlock(raw).head);
  } catch (err) {
    if (err instanceof MimeError) return []; // parseReport refuses such a message with the reason
    throw err;
  }
  const out: string[] = [];
  for (const name of RECIPIENT_HEADERS) {
    for (const h of headers) {
      if (h.name.toLowerCase() !== name) continue;
      for (const m of h.value.slice(0, 2000).matchAll(/[^\s<>,;:"]{1,64}@[a-z0-9.-]{1,253}/gi)) out.push(m[0]);
    }
  }
  return out;
}

export type RawReportDeps = {
  db: Db;
  ingest: IngestDeps;
  options: DeliverabilityOptions;
  /** Signing secrets that verify VERP tokens (the link-signing ones); without them VERP addresses are not read. */
  secrets?: readonly string[];
};

/**
 * Throws ReportError (from parseReport) for a message that is not a report we can apply. `envelopeRecipients`: the
 * RCPT TO addresses of the SMTP session that delivered it (the bounce mailbox), looked at before the headers.
 */
export function applyRawReport(deps: RawReportDeps, raw: Buffer, envelopeRecipients: readonly string[] = []): Promise<FeedbackResult> {
  const feedback = parseReport(raw);
  if (deps.secrets?.length) {
    const ids = verpMessageIds(deps.secrets, [...envelopeRecipients, ...recipientHeaders(raw)]);
    if (ids.length > 0) feedback.refs = { ...feedback.refs, messageRowIds: ids };
  }
  return applyFeedback(deps, feedback);
}
