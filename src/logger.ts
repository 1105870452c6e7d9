import { createRequire } from 'node:module';
import { pino, type Logger, type LoggerOptions } from 'pino';

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
 * they could appear in a logged request or config, before either format sees them.
 */
export function createLogger(level: string, name = 'itinera'): Logger {
  const options: LoggerOptions = {
    name,
    level,
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
  if (logFormat({ isTTY: process.stdout.isTTY, nodeEnv: process.env.NODE_ENV }) === 'pretty' && prettyAvailable()) {
    // Runs in a worker thread; pino flushes it on exit. `name` is shown, pid and hostname are noise at a terminal.
    options.transport = {
      target: 'pino-pretty',
      options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
    };
  }
  return pino(options);
}
