import type { RequestHandler } from 'express';
import { DomainError } from '../errors';

export type RateLimitOptions = {
  /** Sustained requests per second per API key. @default 50 */
  perSecond?: number;
  /** Burst size. @default 200 */
  burst?: number;
  now?: () => number;
};

/** A token bucket per API key; runs after authentication so anonymous floods are turned away earlier, by 401. */
export function rateLimitPerKey(opts: RateLimitOptions = {}): RequestHandler {
  const rate = opts.perSecond ?? 50;
  const burst = opts.burst ?? 200;
  const now = opts.now ?? Date.now;
  const buckets = new Map<string, { tokens: number; at: number }>();
  return (req, res, next) => {
    const key = req.principal?.keyId;
    if (!key) return next();
    const t = now();
    const b = buckets.get(key) ?? { tokens: burst, at: t };
    b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * rate);
    b.at = t;
    buckets.set(key, b);
    if (b.tokens < 1) {
      const retryAfter = Math.max(1, Math.ceil((1 - b.tokens) / rate));
      res.set('Retry-After', String(retryAfter));
      return next(new DomainError('rate_limited', 429, `Too many requests for this API key; retry after ${retryAfter}s.`));
    }
    b.tokens -= 1;
    next();
  };
}
