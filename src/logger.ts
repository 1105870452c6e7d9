import { pino, type Logger } from 'pino';

/** Structured JSON logs; secrets are redacted wherever they could appear in a logged request or config. */
export function createLogger(level: string, name = 'itinera'): Logger {
  return pino({
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
  });
}
