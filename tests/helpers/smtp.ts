import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { scaled } from './timing';

export type CapturedMail = { envelopeFrom: string; envelopeTo: string[]; raw: string; parsed: ParsedMail };

export type SmtpSink = {
  port: number;
  url: string;
  messages: CapturedMail[];
  /** Resolves when `count` messages have arrived (or rejects after `timeoutMs`, 30 s on an idle machine, stretched by TIME_SCALE). */
  waitFor(count: number, timeoutMs?: number): Promise<CapturedMail[]>;
  close(): Promise<void>;
};

/** A real SMTP server on loopback that keeps every message it accepts, parsed. */
export async function startSmtpSink(opts: Partial<SMTPServerOptions> = {}): Promise<SmtpSink> {
  const messages: CapturedMail[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        simpleParser(raw)
          .then((parsed) => {
            messages.push({
              envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              envelopeTo: session.envelope.rcptTo.map((r) => r.address),
              raw,
              parsed,
            });
            for (const w of waiters.filter((w) => messages.length >= w.count)) w.resolve();
            callback();
          })
          .catch(callback);
      });
    },
    ...opts,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    messages,
    waitFor(count, timeoutMs = 30_000) {
      if (messages.length >= count) return Promise.resolve(messages);
      const limit = scaled(timeoutMs);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`expected ${count} messages at the SMTP sink within ${limit} ms, got ${messages.length}`)),
          limit,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(messages);
          },
        });
      });
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
