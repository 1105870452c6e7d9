import { SMTPServer } from 'smtp-server';
import { IDEMPOTENCY_HEADER } from '../../../src/channels/email/mailer';
import { freePort } from './proc';

/** What the sink saw for one idempotency key. */
export type Delivery = {
  accepted: number;
  messageIds: Set<string>;
  recipients: Set<string>;
  /** When the sink answered each acceptance with its `250` (ms since the epoch): where the sender's record lags. */
  acceptedAt: number[];
};

export type ChaosSmtp = {
  url: string;
  /** Accepted messages by idempotency key; a key accepted twice is a duplicate email. */
  deliveries: Map<string, Delivery>;
  stats: { accepted: number; refused4xx: number; withoutKey: number };
  /** Fraction (0..1) of MAIL FROM / RCPT TO / end-of-DATA answered with a 4xx. */
  failFraction: number;
  /** Stops listening and drops every open connection (421): the mail server is gone. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
};

function headerOf(raw: string, name: string): string | undefined {
  const end = raw.search(/\r?\n\r?\n/);
  const head = (end < 0 ? raw : raw.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head);
  return m?.[1]?.trim();
}

function transient(message: string): Error {
  return Object.assign(new Error(message), { responseCode: 451 });
}

/** A real SMTP server that counts what it accepts by our idempotency header and can misbehave on demand. */
export async function startChaosSmtp(): Promise<ChaosSmtp> {
  const port = await freePort();
  const deliveries = new Map<string, Delivery>();
  const stats = { accepted: 0, refused4xx: 0, withoutKey: 0 };
  const sink: ChaosSmtp = {
    url: `smtp://127.0.0.1:${port}`,
    deliveries,
    stats,
    failFraction: 0,
    down: async () => undefined,
    up: async () => undefined,
    close: async () => undefined,
  };
  const unlucky = () => {
    if (Math.random() >= sink.failFraction) return false;
    stats.refused4xx++;
    return true;
  };
  let server: SMTPServer | undefined;
  const listen = async () => {
    const s = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      // On down(): open connections get a 421 and are closed at once instead of after the default 30 s grace.
      closeTimeout: 1,
      size: 1024 * 1024,
      onMailFrom(_address, _session, callback) {
        callback(unlucky() ? transient('451 4.3.0 chaos: try MAIL FROM again later') : undefined);
      },
      onRcptTo(_address, _session, callback) {
        callback(unlucky() ? transient('451 4.3.0 chaos: try RCPT TO again later') : undefined);
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          if (unlucky()) return callback(transient('451 4.3.0 chaos: message not accepted, try again'));
          const raw = Buffer.concat(chunks).toString('utf8');
          const key = headerOf(raw, IDEMPOTENCY_HEADER);
          stats.accepted++;
          if (!key) {
            stats.withoutKey++;
            return callback();
          }
          const d = deliveries.get(key) ?? { accepted: 0, messageIds: new Set<string>(), recipients: new Set<string>(), acceptedAt: [] };
          d.accepted++;
          d.messageIds.add(headerOf(raw, 'Message-ID') ?? '');
          for (const r of session.envelope.rcptTo) d.recipients.add(r.address.toLowerCase());
          deliveries.set(key, d);
          d.acceptedAt.push(Date.now());
          callback();
        });
      },
    });
    // A client killed mid-session (kill -9 of the worker) resets its socket: smtp-server emits that on the server,
    // which would be an uncaught exception in the test process (seen in a full run with 51 kills).
    s.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    server = s;
  };
  const stop = async () => {
    const s = server;
    server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  sink.down = stop;
  sink.up = listen;
  sink.close = stop;
  await listen();
  return sink;
}
