import { createRequire } from 'node:module';
import { pino, type Logger, type LoggerOptions } from 'pino';
import { maskDeep, maskPersonalData, safeError } from './log-safety';

export type LogFormat = 'pretty' | 'json';

/**
 * Readable, coloured lines for a developer at a terminal; JSON lines for everything else: production (even at a
 * terminal), and any output that is not a TTY (log collectors, pipes, tests, CI), so nothing there loads pino-pretty.
 */
export function logFormat(opts: { isTTY: boolean | undefined; nodeEnv: string | undefined }): LogFormat {
  return opts.isTTY === true && opts.nodeEnv !== 'production' ? 'pretty' : 'json';
}

/** pino-pretty is resolved, not imported: only the pretty case needs it, and without it the logs stay JSON. */
function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/**
 * Structured logs on stdout, pretty-printed at a development terminal (see logFormat). Secrets are redacted wherever
 * they could appear in a logged request or config, before either format sees them; no contact's email address or
 * phone number is written (see log-safety.ts): errors are logged by kind and code, and every logged string is masked.
 */
export function createLogger(level: string, name = 'itinera', destination?: pino.DestinationStream): Logger {
  const options: LoggerOptions = {
    name,
    level,
    serializers: { err: safeError, error: safeError },
    formatters: {
      // Before the serializers: errors under `err`/`error` are left to safeError, everything else is masked.
      log: (object) =>
        Object.fromEntries(Object.entries(object).map(([k, v]) => [k, (k === 'err' || k === 'error') && v instanceof Error ? v : maskDeep(v)])),
    },
    hooks: {
      logMethod(args, method) {
        // `log.error(err)` would make the error's own message the line's message: it goes under `err` instead.
        const [first, ...rest] = args as unknown[];
        const normalized = first instanceof Error ? [{ err: first }, ...(rest.length ? rest : [safeError(first).message])] : args;
        method.apply(this, normalized.map((a) => (typeof a === 'string' ? maskPersonalData(a) : a)) as Parameters<typeof method>);
      },
    },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-api-key"]',
        'headers.authorization',
        '*.password',
        '*.secret',
        '*.signingSecret',
        '*.apiKey',
      ],
      censor: '[redacted]',
    },
  };
  if (destination) return pino(options, destination);
  if (logFormat({ isTTY: process.stdout.isTTY, nodeEnv: process.env.NODE_ENV }) === 'pretty' && prettyAvailable()) {
    // Runs in a worker thread; pino flushes it on exit. `name` is shown, pid and hostname are noise at a terminal.
    options.transport = {
      target: 'pino-pretty',
      options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
    };
  }
  return pino(options);
}
