/**
 * The bounce mailbox as an SMTP listener: point the MX (or a forwarding rule) of the address bounces go to at it, and
 * every delivery status notification and complaint report delivered there is applied like one posted to
 * POST /v1/email/reports. It only receives — it relays nothing and authenticates no one; a message is only ever
 * matched to mail we sent (by Message-ID, our idempotency header, or the signed VERP address it was delivered to:
 * RCPT TO `bounces+<token>@BOUNCE_VERP_DOMAIN`), so a forged report can at most describe our own message. Answers: 250 for a report applied, already applied or matching none of our messages, and for mail that is
 * not a report (auto-replies reach bounce mailboxes too: refusing them would bounce a bounce); 552 above the size
 * limit; 451 when applying failed (the database is down), so the sending server retries later.
 */
import { SMTPServer, type SMTPServerDataStream } from 'smtp-server';
import type { FeedbackResult } from './apply';
import { ReportError } from './reports';

export type BounceListenerOptions = {
  host: string;
  port: number;
  /** Largest message accepted (INBOUND_REPORT_MAX_BYTES), announced in EHLO and enforced while reading. */
  maxBytes: number;
  /** Parses and applies one raw message (see applyRawReport), given the session's RCPT TO addresses (VERP). */
  apply(raw: Buffer, envelopeRecipients: string[]): Promise<FeedbackResult>;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
};

export type BounceListener = { port: number; close(): Promise<void> };

class SmtpReply extends Error {
  constructor(
    message: string,
    readonly responseCode: number,
  ) {
    super(message);
  }
}

async function readLimited(stream: SMTPServerDataStream, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Keep draining (the client must finish its DATA) but stop keeping what is over the limit.
    if (size <= maxBytes) chunks.push(chunk);
  }
  return stream.sizeExceeded || size > maxBytes ? undefined : Buffer.concat(chunks);
}

export async function startBounceListener(opts: BounceListenerOptions): Promise<BounceListener> {
  const server = new SMTPServer({
    name: 'itinera-bounces',
    banner: 'itinera bounce mailbox',
    size: opts.maxBytes,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      readLimited(stream, opts.maxBytes).then(
        async (raw) => {
          if (!raw) return callback(new SmtpReply(`5.3.4 Message too big: at most ${opts.maxBytes} bytes`, 552));
          try {
            const r = await opts.apply(raw, session.envelope.rcptTo.map((a) => a.address));
            opts.log.info({ bounceMailbox: true, matched: r.matched, duplicate: r.duplicate, outcome: r.outcome }, 'delivery report received by SMTP');
            callback();
          } catch (err) {
            if (err instanceof ReportError) {
              opts.log.info({ bounceMailbox: true, reason: err.message }, 'mail to the bounce mailbox that is not a delivery report: accepted and dropped');
              return callback();
            }
            opts.log.error({ bounceMailbox: true, err: (err as Error).name }, 'applying a delivery report failed; the sender will retry');
            callback(new SmtpReply('4.3.0 Temporary failure applying the report, try again later', 451));
          }
        },
        (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
      );
    },
  });
  server.on('error', (err) => opts.log.warn({ bounceMailbox: true, err: err.name }, 'bounce mailbox connection error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  opts.log.info({ host: opts.host, port }, 'bounce mailbox listening (SMTP)');
  return { port, close: () => new Promise<void>((r) => server.close(() => r())) };
}
