/**
 * Delivery reports as receiving mail servers write them: RFC 3464 delivery status notifications (multipart/report;
 * report-type=delivery-status, with RFC 6533's message/global-delivery-status) and RFC 5965 abuse reports
 * (multipart/report; report-type=feedback-report). Either one becomes a {@link Feedback}; anything else is refused with
 * the reason. Pure; no I/O.
 */
import { createHash } from 'node:crypto';
import { classifyBounce } from './classify';
import { addressOf, FeedbackSource, normalizeMessageId, uniq, type Feedback } from './feedback';
import { header, headerGroups, MimeError, parseHeaders, parseMime, splitHeaderBlock, walk, type Headers, type MimePart } from './mime';
import { IDEMPOTENCY_HEADER } from '../channels/email/mailer';

export class ReportError extends Error {
  override name = 'ReportError';
}

const DSN_TYPES = ['message/delivery-status', 'message/global-delivery-status'];
const FEEDBACK_TYPE = 'message/feedback-report';
const ORIGINAL_TYPES = ['message/rfc822', 'text/rfc822-headers', 'message/global', 'message/global-headers'];

/** The original message's headers: from the report's returned-message part. */
function originalHeaders(root: MimePart): Headers[] {
  const out: Headers[] = [];
  for (const p of walk(root)) {
    if (ORIGINAL_TYPES.includes(p.contentType)) out.push(parseHeaders(splitHeaderBlock(p.body).head));
  }
  return out;
}

function refsOf(originals: Headers[], extra: (string | undefined)[] = []): Feedback['refs'] {
  return {
    messageIds: uniq([...originals.map((h) => normalizeMessageId(header(h, 'message-id'))), ...extra.map((x) => normalizeMessageId(x))]),
    idempotencyKeys: uniq(originals.map((h) => header(h, IDEMPOTENCY_HEADER)?.slice(0, 300))),
  };
}

function dateOf(value: string | undefined, fallback: Date): Date {
  const t = value ? Date.parse(value) : NaN;
  return Number.isFinite(t) ? new Date(t) : fallback;
}

/** The report's own id: its Message-ID, else a hash of its bytes (the same report posted again has the same one). */
function reportId(root: MimePart, raw: Buffer): string {
  return normalizeMessageId(header(root.headers, 'message-id')) ?? `sha256:${createHash('sha256').update(raw).digest('hex')}`;
}

/**
 * Reads a DSN or an ARF report. A DSN whose recipients were all delivered, relayed or only delayed is refused as
 * "not a failure": nothing is to be done about it.
 */
export function parseReport(raw: Buffer, now: Date = new Date()): Feedback {
  let root: MimePart;
  try {
    root = parseMime(raw);
  } catch (err) {
    if (err instanceof MimeError) throw new ReportError(`the message cannot be read as MIME: ${err.message}`);
    throw err;
  }
  const parts = [...walk(root)];
  const dsn = parts.find((p) => DSN_TYPES.includes(p.contentType));
  const arf = parts.find((p) => p.contentType === FEEDBACK_TYPE);
  if (!dsn && !arf) {
    throw new ReportError('the message is neither a delivery status notification (RFC 3464, message/delivery-status) nor a feedback report (RFC 5965, message/feedback-report)');
  }
  const originals = originalHeaders(root);
  const eventId = reportId(root, raw);
  const reportedAt = dateOf(header(root.headers, 'date'), now);

  if (arf) {
    const [fields = []] = headerGroups(arf.body);
    const feedbackType = header(fields, 'feedback-type')?.toLowerCase().slice(0, 40) ?? null;
    if (!feedbackType) throw new ReportError('the feedback report has no Feedback-Type field');
    return {
      source: FeedbackSource.Arf,
      eventId,
      occurredAt: dateOf(header(fields, 'arrival-date') ?? header(fields, 'received-date'), reportedAt),
      refs: refsOf(originals),
      recipient: addressOf(header(fields, 'original-rcpt-to')),
      kind: 'complaint',
      feedbackType,
    };
  }

  const [perMessage = [], ...recipients] = headerGroups(dsn!.body);
  if (recipients.length === 0) throw new ReportError('the delivery status has no per-recipient fields (Final-Recipient, Action, Status)');
  // Our messages have one recipient each: the first that failed is the one this report is about.
  const failed = recipients.find((r) => (header(r, 'action') ?? '').trim().toLowerCase() === 'failed');
  if (!failed) throw new ReportError('the delivery status reports no failed recipient (only delivered, relayed, expanded or delayed)');
  const status = header(failed, 'status') ?? null;
  const diagnostic = header(failed, 'diagnostic-code')?.replace(/^\s*smtp\s*;\s*/i, '') ?? null;
  const classified = classifyBounce(status, diagnostic);
  if (!classified) throw new ReportError(`the failed recipient's Status "${(status ?? '').slice(0, 20)}" is not a failure status (4.x.x or 5.x.x)`);
  return {
    source: FeedbackSource.Dsn,
    eventId,
    occurredAt: dateOf(header(failed, 'last-attempt-date') ?? header(perMessage, 'arrival-date'), reportedAt),
    refs: refsOf(originals),
    recipient: addressOf(header(failed, 'original-recipient') ?? header(failed, 'final-recipient')),
    kind: 'bounce',
    class: classified.class,
    code: classified.code,
    diagnostic: diagnostic ? diagnostic.slice(0, 500) : null,
  };
}
