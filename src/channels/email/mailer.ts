/**
 * Outgoing email transports.
 *
 * - {@link createSmtpMailer}: pooled SMTP through nodemailer (production).
 * - {@link createFileMailer}: the embedded default when no SMTP server is configured; writes real
 *   RFC 5322 `.eml` files (open them in any mail client) so a fresh install works end-to-end.
 *
 * Idempotency: the caller's idempotency key becomes an `X-Itinera-Idempotency-Key` header and a
 * deterministic `Message-ID`, so when an activity is retried after the server accepted the message
 * but before we recorded it, receivers (and our own file outbox) see the same message twice and can
 * dedupe it, instead of two different messages.
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer, { type SendMailOptions } from 'nodemailer';
import { ChannelError, type ChannelErrorKind } from '../errors';
import { dkimKeyFor, type DkimOptions } from './dkim';
import { correlationHeaders, type MailRelay } from '../../deliverability/correlation';

export type { DkimOptions } from './dkim';

export interface OutgoingEmail {
  /** `"Name" <addr@domain>` or `addr@domain`. */
  from: string;
  to: string | string[];
  subject: string;
  html?: string;
  text?: string;
  replyTo?: string;
  /**
   * Extra headers (e.g. List-Unsubscribe from tracking.ts). The idempotency key may be given here
   * as `X-Itinera-Idempotency-Key` instead of in `idempotencyKey`. `Message-ID` cannot be set here.
   */
  headers?: Record<string, string>;
  /** Stable per logical send (workflow id + step id). Required unless given as the header. */
  idempotencyKey?: string;
  /** Explicit Message-ID (`<id@domain>`); by default derived from the idempotency key. */
  messageId?: string;
  /**
   * The SMTP envelope sender (MAIL FROM, the Return-Path receivers send reports to): a VERP address
   * (src/deliverability/verp.ts). @default the From address
   */
  envelopeFrom?: string;
}

export interface SendResult {
  messageId: string;
  /** Final server reply (SMTP) or a description of where the message went. */
  response: string;
  accepted: string[];
  rejected: string[];
}

export interface Mailer {
  send(msg: OutgoingEmail): Promise<SendResult>;
  close(): Promise<void>;
}

export const IDEMPOTENCY_HEADER = 'X-Itinera-Idempotency-Key';

export const SmtpErrorClass = { Transient: 'transient', Permanent: 'permanent' } as const satisfies Record<string, ChannelErrorKind>;
export type SmtpErrorClass = ChannelErrorKind;

abstract class SmtpError extends ChannelError {
  /** SMTP reply code when the server answered (e.g. 451, 550). */
  readonly responseCode: number | undefined;
  /** The server's reply text, verbatim. */
  readonly response: string | undefined;
  /** nodemailer/Node error code (ECONNECTION, EENVELOPE, ...). */
  readonly code: string | undefined;
  readonly rejected: string[];
  constructor(message: string, src: SmtpErrorSource, cause: unknown) {
    super(message, { cause });
    this.responseCode = src.responseCode;
    this.response = src.response;
    this.code = src.code;
    this.rejected = src.rejected ?? [];
  }
}
/** Retrying later may succeed (4xx, connection problems, timeouts, bad credentials). */
export class SmtpTransientError extends SmtpError {
  override name = 'SmtpTransientError';
  readonly kind = 'transient' as const;
}
/** Retrying the same message will fail again (5xx, invalid address). */
export class SmtpPermanentError extends SmtpError {
  override name = 'SmtpPermanentError';
  readonly kind = 'permanent' as const;
}

interface SmtpErrorSource {
  responseCode?: number;
  response?: string;
  code?: string;
  originalCode?: string;
  rejected?: string[];
}

function errorSource(err: unknown): SmtpErrorSource {
  if (typeof err !== 'object' || err === null) return {};
  const e = err as Record<string, unknown>;
  const out: SmtpErrorSource = {};
  if (typeof e['responseCode'] === 'number') out.responseCode = e['responseCode'];
  if (typeof e['response'] === 'string') out.response = e['response'];
  if (typeof e['code'] === 'string') out.code = e['code'];
  if (typeof e['originalCode'] === 'string') out.originalCode = e['originalCode'];
  if (Array.isArray(e['rejected'])) out.rejected = e['rejected'].map((r) => String(typeof r === 'object' && r && 'address' in r ? (r as { address: unknown }).address : r));
  return out;
}

// Errors that say nothing about the message itself, only that this attempt could not complete.
const TRANSIENT_CODES = new Set([
  'ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROXY', 'EMAXLIMIT', 'EABORT',
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND',
  // Credentials are configuration, not a property of the message: failing the send permanently
  // would drop every queued email while an operator fixes a password. Retry instead.
  'EAUTH', 'ENOAUTH', 'EOAUTH2',
]);
// Errors nodemailer raises before talking to the server because the message itself is unusable.
const PERMANENT_CODES = new Set(['EENVELOPE', 'EMAXRECIPIENTS', 'EMESSAGE', 'EOTP']);

/**
 * RFC 5321: 5yz replies are permanent, 4yz transient. 503 (bad sequence) is a session problem,
 * so it is transient (same judgement as nodemailer's `isPermanentResponseCode`). Anything we don't
 * recognise is transient: the deterministic Message-ID makes a duplicate harmless, a lost email is not.
 */
export function classifySmtpError(err: unknown): SmtpErrorClass {
  if (err instanceof SmtpError) return err.kind;
  const src = errorSource(err);
  if (src.code && TRANSIENT_CODES.has(src.code)) return 'transient';
  if (src.originalCode && TRANSIENT_CODES.has(src.originalCode)) return 'transient';
  if (src.responseCode !== undefined) {
    if (src.responseCode >= 500 && src.responseCode < 600 && src.responseCode !== 503) return 'permanent';
    return 'transient';
  }
  if (src.code && PERMANENT_CODES.has(src.code)) return 'permanent';
  return 'transient';
}

export function toSmtpError(err: unknown): SmtpTransientError | SmtpPermanentError {
  if (err instanceof SmtpTransientError || err instanceof SmtpPermanentError) return err;
  const src = errorSource(err);
  const message = err instanceof Error ? err.message : String(err);
  return classifySmtpError(err) === 'permanent'
    ? new SmtpPermanentError(message, src, err)
    : new SmtpTransientError(message, src, err);
}

/** `<hash@domain>`: same key, same Message-ID, on every retry. */
export function messageIdFor(idempotencyKey: string, domain: string): string {
  const hash = createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 40);
  return `<${hash}@${domain}>`;
}

/** Domain part of `"Name" <a@b.c>` / `a@b.c`. */
export function domainOf(address: string): string | undefined {
  const inner = /<([^<>]*)>\s*$/.exec(address)?.[1] ?? address;
  const at = inner.lastIndexOf('@');
  if (at === -1) return undefined;
  const d = inner.slice(at + 1).trim().toLowerCase();
  return /^[a-z0-9.-]+$/.test(d) && d.includes('.') ? d : undefined;
}

function toMailOptions(msg: OutgoingEmail, messageIdDomain: string | undefined, relay?: MailRelay): SendMailOptions & { messageId: string } {
  const headers: Record<string, string> = {};
  let headerKey: string | undefined;
  for (const [k, v] of Object.entries(msg.headers ?? {})) {
    const lower = k.toLowerCase();
    if (lower === IDEMPOTENCY_HEADER.toLowerCase()) headerKey = v;
    else if (lower !== 'message-id') headers[k] = v;
  }
  const key = msg.idempotencyKey ?? headerKey;
  if (!key) {
    // A send without a key cannot be deduplicated on retry: a programming error, never retry it.
    throw new SmtpPermanentError(`email: idempotency key is required (field or ${IDEMPOTENCY_HEADER} header)`, {}, undefined);
  }
  headers[IDEMPOTENCY_HEADER] = key;
  // Where the relay echoes it back in its bounce and complaint events (src/deliverability/correlation.ts).
  Object.assign(headers, correlationHeaders(relay, key));
  let messageId = msg.messageId;
  if (messageId === undefined) {
    const domain = messageIdDomain ?? domainOf(msg.from);
    if (!domain) {
      throw new SmtpPermanentError(`email: cannot derive a Message-ID domain from "${msg.from}"`, {}, undefined);
    }
    messageId = messageIdFor(key, domain);
  } else if (!/^<[^<>\s@]+@[^<>\s@]+>$/.test(messageId)) {
    throw new SmtpPermanentError(`email: invalid Message-ID "${messageId}"`, {}, undefined);
  }
  const opts: SendMailOptions & { messageId: string } = {
    from: msg.from,
    to: msg.to,
    subject: msg.subject,
    headers,
    messageId,
  };
  if (msg.html !== undefined && msg.html !== '') opts.html = msg.html;
  if (msg.text !== undefined) opts.text = msg.text;
  if (msg.replyTo !== undefined) opts.replyTo = msg.replyTo;
  if (msg.envelopeFrom !== undefined) opts.envelope = { from: msg.envelopeFrom, to: msg.to };
  return opts;
}

function addresses(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((a) => (typeof a === 'string' ? a : String((a as { address?: unknown }).address ?? a)));
}

// nodemailer's default signed-header list plus List-Unsubscribe-Post: RFC 8058 §4 requires the DKIM
// signature to cover both List-Unsubscribe headers, or receivers ignore one-click unsubscribe.
const DKIM_HEADER_FIELDS =
  'From:Sender:Reply-To:Subject:Date:Message-ID:To:Cc:MIME-Version:Content-Type:Content-Transfer-Encoding:' +
  'Content-ID:Content-Description:Resent-Date:Resent-From:Resent-Sender:Resent-To:Resent-Cc:Resent-Message-ID:' +
  'In-Reply-To:References:List-Id:List-Help:List-Unsubscribe:List-Unsubscribe-Post:List-Subscribe:List-Post:' +
  'List-Owner:List-Archive';

/**
 * The message's signing options: the key configured for its From domain, so the `d=` domain is the one DMARC
 * aligns with. A From domain without a key is sent unsigned.
 */
function dkimFor(keys: DkimOptions | readonly DkimOptions[] | undefined, from: string): Pick<SendMailOptions, 'dkim'> {
  const key = keys === undefined ? undefined : dkimKeyFor(Array.isArray(keys) ? keys : [keys as DkimOptions], domainOf(from));
  return key ? { dkim: { ...key, headerFieldNames: DKIM_HEADER_FIELDS } } : {};
}

export interface SmtpMailerOptions {
  /** `smtp://user:pass@host:587` or `smtps://…:465`. */
  url: string;
  pool?: {
    /** Parallel SMTP connections. @default 5 */
    maxConnections?: number;
    /** Messages per connection before it is recycled. @default 100 */
    maxMessages?: number;
    /** At most `rateLimit` messages per `rateDelta` ms across the pool. @default unlimited */
    rateLimit?: number;
    /** @default 1000 */
    rateDelta?: number;
    /** Shorthand for `rateLimit: n, rateDelta: 1000`; ignored when rateLimit is set. */
    ratePerSecond?: number | undefined;
  };
  /** Signing keys; each message is signed with the one for its From domain (none: unsigned). */
  dkim?: DkimOptions | readonly DkimOptions[];
  /** Right-hand side of generated Message-IDs. @default the From address's domain */
  messageIdDomain?: string;
  /** The provider behind SMTP_URL (MAIL_RELAY): adds the header it echoes our key back in. @default 'smtp' (none) */
  relay?: MailRelay;
  /** @default 30000 */
  connectionTimeoutMs?: number;
  /** @default 30000 */
  greetingTimeoutMs?: number;
  /** @default 60000 */
  socketTimeoutMs?: number;
}

export function createSmtpMailer(options: SmtpMailerOptions): Mailer {
  const pool = options.pool ?? {};
  const rateLimit = pool.rateLimit ?? pool.ratePerSecond;
  const rateDelta = pool.rateLimit !== undefined ? (pool.rateDelta ?? 1000) : 1000;
  const transport = nodemailer.createTransport({
    pool: true,
    url: options.url,
    maxConnections: pool.maxConnections ?? 5,
    maxMessages: pool.maxMessages ?? 100,
    ...(rateLimit !== undefined && rateLimit > 0 ? { rateLimit, rateDelta } : {}),
    // nodemailer's defaults (2 min connect, 10 min socket) would hold a Temporal activity far past
    // any sensible start-to-close timeout; fail fast and let the retry policy decide.
    connectionTimeout: options.connectionTimeoutMs ?? 30_000,
    greetingTimeout: options.greetingTimeoutMs ?? 30_000,
    socketTimeout: options.socketTimeoutMs ?? 60_000,
  });

  return {
    async send(msg) {
      const mail = toMailOptions(msg, options.messageIdDomain, options.relay);
      try {
        const info = await transport.sendMail({ ...mail, ...dkimFor(options.dkim, msg.from) });
        return {
          messageId: info.messageId || mail.messageId,
          response: String(info.response ?? ''),
          accepted: addresses(info.accepted),
          rejected: addresses(info.rejected),
        };
      } catch (err) {
        throw toSmtpError(err);
      }
    },
    async close() {
      transport.close();
    },
  };
}

export interface FileMailerOptions {
  /** Signing keys; each message is signed with the one for its From domain (none: unsigned). */
  dkim?: DkimOptions | readonly DkimOptions[];
  messageIdDomain?: string;
}

/**
 * Writes each message to `<dir>/<message-id>.eml`. The name comes from the deterministic
 * Message-ID, so a retried send overwrites the same file rather than creating a duplicate.
 */
export function createFileMailer(dir: string, options: FileMailerOptions = {}): Mailer {
  const transport = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
    newline: 'windows', // RFC 5322 line endings, so the file is byte-for-byte what SMTP would carry
  });
  let ready: Promise<unknown> | undefined;

  return {
    async send(msg) {
      const mail = toMailOptions(msg, options.messageIdDomain);
      ready ??= mkdir(dir, { recursive: true });
      await ready;
      const info = await transport.sendMail({ ...mail, ...dkimFor(options.dkim, msg.from) });
      const raw = info.message as unknown as Buffer;
      const file = join(dir, `${mail.messageId.replace(/^<|>$/g, '').replace(/[^A-Za-z0-9._@-]/g, '_')}.eml`);
      // write-then-rename: a crash mid-write never leaves a truncated .eml that looks delivered
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, raw);
      await rename(tmp, file);
      const envelope = info.envelope as { to?: string[] } | undefined;
      return { messageId: mail.messageId, response: `stored ${file}`, accepted: envelope?.to ?? [], rejected: [] };
    },
    async close() {
      transport.close();
    },
  };
}
