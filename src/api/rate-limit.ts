import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit, type ClientRateLimitInfo, type Options, type RateLimitRequestHandler, type Store } from 'express-rate-limit';
import { ADDRESS_LIMIT_DEFAULTS } from '../config';
import { sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { apiKeyRateBuckets } from '../db/schema';
import { DomainError } from '../errors';
import { batched } from '../db/batch';

export type RateLimitOptions = {
  /** Sustained requests per second per API key. @default 50 */
  perSecond?: number;
  /** Burst size. @default 200 */
  burst?: number;
  now?: () => number;
  /**
   * Keep the buckets in this database (api_key_rate_buckets), shared by every API process on it, so that replicas
   * give a key the limit once and not once each. Without it the buckets live in this process's memory: right for the
   * embedded PGlite, which one process owns.
   */
  shared?: Db;
};

type Take = (keyId: string, t: number) => Promise<{ allowed: boolean; left: number }>;

function memoryBuckets(rate: number, burst: number): Take {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return async (key, t) => {
    const b = buckets.get(key) ?? { tokens: burst, at: t };
    b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * rate);
    b.at = t;
    buckets.set(key, b);
    if (b.tokens < 1) return { allowed: false, left: b.tokens };
    b.tokens -= 1;
    return { allowed: true, left: b.tokens };
  };
}

/**
 * The requests of one key that arrive together take their tokens in one statement (a key's row is one hot row: one
 * update per request would queue every request behind the previous one's commit). The bucket is refilled by the time
 * since its last touch, then gives as many of the `n` requests a token as it holds whole tokens, in arrival order.
 * The row is locked by the subquery, so the refilled value it answers is the one the update wrote over.
 */
function databaseBuckets(db: Db, rate: number, burst: number): Take {
  const b = apiKeyRateBuckets;
  const takeMany = async (keyId: string, n: number, t: number): Promise<number | undefined> => {
    const at = new Date(t).toISOString();
    const res = await db.execute(sql`update ${b} set
        tokens = o.r - least(${n}::int, floor(o.r)),
        refilled_at = greatest(${b.refilledAt}, ${at}::timestamptz),
        allowed = o.r >= 1
      from (select key_id, least(${burst}::double precision, tokens + greatest(0, extract(epoch from (${at}::timestamptz - refilled_at)))::double precision * ${rate}::double precision) as r
            from ${b} where key_id = ${keyId}::uuid for update) o
      where ${b.keyId} = o.key_id
      returning o.r`);
    const [row] = ((res as { rows?: unknown[] }).rows ?? (res as unknown as unknown[])) as { r: number | string }[];
    return row ? Number(row.r) : undefined;
  };
  const perKey = new Map<string, (t: number) => Promise<{ allowed: boolean; left: number }>>();
  return (keyId, t) => {
    let take = perKey.get(keyId);
    if (!take) {
      if (perKey.size >= 10_000) perKey.clear();
      perKey.set(
        keyId,
        (take = batched<number, { allowed: boolean; left: number }>(async (times) => {
          const latest = Math.max(...times);
          let r = await takeMany(keyId, times.length, latest);
          if (r === undefined) {
            // The key's first request: a full bucket, then the same take.
            await db.insert(b).values({ keyId, tokens: burst, refilledAt: new Date(latest), allowed: true }).onConflictDoNothing({ target: b.keyId });
            r = await takeMany(keyId, times.length, latest);
            if (r === undefined) throw new Error(`rate bucket of key ${keyId} vanished`);
          }
          const granted = r >= 1 ? Math.min(times.length, Math.floor(r)) : 0;
          return times.map((_, k) => (k < granted ? { allowed: true, left: r - (k + 1) } : { allowed: false, left: r - granted }));
        })),
      );
    }
    return take(t);
  };
}

/**
 * A token bucket per API key, after authentication (keyless floods are the per-address limit's). Every answer says
 * where the key stands in the same draft-8 RateLimit headers as the per-address limits: the policy is the burst over
 * the time the bucket takes to refill (`q=200; w=4` by default), `r` the whole tokens left, `t` the seconds until full.
 */
export function rateLimitPerKey(opts: RateLimitOptions = {}): RequestHandler {
  const rate = opts.perSecond ?? 50;
  const burst = opts.burst ?? 200;
  const now = opts.now ?? Date.now;
  const take = opts.shared ? databaseBuckets(opts.shared, rate, burst) : memoryBuckets(rate, burst);
  return (req, res, next) => {
    const key = req.principal?.keyId;
    if (!key) return next();
    take(key, now()).then(
      ({ allowed, left }) => {
        res.set({
          'RateLimit-Policy': `"per-key"; q=${burst}; w=${Math.ceil(burst / rate)}`,
          RateLimit: `"per-key"; r=${Math.max(0, Math.floor(left))}; t=${Math.ceil((burst - left) / rate)}`,
        });
        if (!allowed) {
          const retryAfter = Math.max(1, Math.ceil((1 - left) / rate));
          res.set('Retry-After', String(retryAfter));
          return next(new DomainError('rate_limited', 429, `Too many requests for this API key; retry after ${retryAfter}s.`));
        }
        next();
      },
      (err: unknown) => next(err),
    );
  };
}

/**
 * Per-address limits for what anyone can send without a key: failed authentications (missing, malformed, unknown,
 * wrong or revoked keys) and the public endpoints (tracking pixel and click redirect, unsubscribe and preference pages,
 * health, metrics, the docs).
 */
export type AddressLimitOptions = {
  /**
   * Failed authentications per client address per minute; past it, 429 until the minute is over. A valid key is never
   * refused by this limit (a shared NAT address with one broken client keeps serving the good ones).
   * @default 60
   */
  unauthenticatedPerMinute?: number;
  /**
   * Requests to public endpoints per client address per minute. Generous: mail providers' image proxies (Gmail's)
   * fetch the open pixels of many readers from a few addresses, and their one-click unsubscribe POSTs too.
   * @default 3000
   */
  publicPerMinute?: number;
  /**
   * Addresses each limit remembers at most; past it the oldest entry is forgotten, so a flood from many addresses
   * costs bounded memory (~100 bytes an address).
   * @default 100_000
   */
  maxAddresses?: number;
  /**
   * IPv6 clients are counted per network of this prefix length: one host usually owns a whole /64.
   * @default 64
   */
  ipv6Subnet?: number;
  /** Where the limiter library's configuration warnings go. @default console */
  logger?: { warn: (error: unknown, message?: string) => void; error: (error: unknown, message?: string) => void };
};

const WINDOW_MS = 60_000;

/**
 * A fixed-window hit counter with a ceiling on the number of keys. express-rate-limit's MemoryStore forgets idle keys
 * only at the end of a window, so within one window a flood from many addresses would grow it without bound.
 * Entries are kept in insertion order, which (one window length for all) is also the order they expire in: the first
 * entry is always the oldest, so expiry and eviction are both O(1) from the front.
 */
export class BoundedMemoryStore implements Store {
  readonly localKeys = true;
  private readonly hits = new Map<string, { totalHits: number; resetTime: Date }>();
  constructor(
    private readonly maxKeys: number,
    private windowMs = WINDOW_MS,
  ) {}

  init(options: Options) {
    this.windowMs = options.windowMs;
  }

  get size(): number {
    return this.hits.size;
  }

  get(key: string): ClientRateLimitInfo | undefined {
    const c = this.hits.get(key);
    return c && c.resetTime.getTime() > Date.now() ? c : undefined;
  }

  increment(key: string): ClientRateLimitInfo {
    const now = Date.now();
    this.expire(now);
    let c = this.hits.get(key);
    if (!c || c.resetTime.getTime() <= now) {
      // Re-inserted so the insertion order stays the expiry order.
      this.hits.delete(key);
      c = { totalHits: 0, resetTime: new Date(now + this.windowMs) };
      this.hits.set(key, c);
      for (const oldest of this.hits.keys()) {
        if (this.hits.size <= this.maxKeys) break;
        this.hits.delete(oldest);
      }
    }
    c.totalHits++;
    return c;
  }

  decrement(key: string) {
    const c = this.hits.get(key);
    if (c && c.totalHits > 0) c.totalHits--;
  }

  resetKey(key: string) {
    this.hits.delete(key);
  }

  resetAll() {
    this.hits.clear();
  }

  private expire(now: number) {
    for (const [key, c] of this.hits) {
      if (c.resetTime.getTime() > now) break;
      this.hits.delete(key);
    }
  }
}

/** The bucket of a client: its address as express sees it (`trust proxy` decides), IPv6 by network. */
export function addressKey(req: Request, ipv6Subnet: number = ADDRESS_LIMIT_DEFAULTS.ipv6Subnet): string {
  return ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown', ipv6Subnet);
}

function limiter(name: string, limit: number, opts: AddressLimitOptions, message: string): { handler: RateLimitRequestHandler; key: (req: Request) => string } {
  const subnet = opts.ipv6Subnet ?? ADDRESS_LIMIT_DEFAULTS.ipv6Subnet;
  const key = (req: Request) => addressKey(req, subnet);
  const handler = rateLimit({
    windowMs: WINDOW_MS,
    limit,
    // draft-ietf-httpapi-ratelimit-headers-08: `RateLimit-Policy: "name"; q=60; w=60; pk=:…:` and
    // `RateLimit: "name"; r=0; t=42`; the partition key is a hash, never the address itself.
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: name,
    keyGenerator: key,
    store: new BoundedMemoryStore(opts.maxAddresses ?? ADDRESS_LIMIT_DEFAULTS.maxAddresses),
    // Answered as problem+json by the one error handler, with the RateLimit and Retry-After headers already set.
    handler: (_req, res, next) => next(new DomainError('rate_limited', 429, `${message}; retry after ${String(res.getHeader('Retry-After') ?? 60)}s.`)),
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  return { handler, key };
}

/** Every request to a public endpoint counts against its client address. */
export function rateLimitPublic(opts: AddressLimitOptions = {}): RequestHandler {
  return limiter('public', opts.publicPerMinute ?? ADDRESS_LIMIT_DEFAULTS.publicPerMinute, opts, 'Too many requests from this address').handler;
}

export type UnauthenticatedLimit = {
  /** Error middleware after authentication: a 401 counts against the address and becomes a 429 past the limit. */
  onFailure: ErrorRequestHandler;
  /** Whether the address is already past its limit: then authentication skips its database lookup. */
  exhausted(req: Request): Promise<boolean>;
};

export function rateLimitUnauthenticated(opts: AddressLimitOptions = {}): UnauthenticatedLimit {
  const limit = opts.unauthenticatedPerMinute ?? ADDRESS_LIMIT_DEFAULTS.unauthenticatedPerMinute;
  const { handler, key } = limiter('unauthenticated', limit, opts, 'Too many requests without a valid API key from this address');
  return {
    onFailure: (err, req, res, next) => {
      if (!(err instanceof DomainError) || err.status !== 401) return next(err);
      void handler(req, res, (limited?: unknown) => next(limited ?? err));
    },
    exhausted: async (req) => ((await handler.getKey(key(req)))?.totalHits ?? 0) >= limit,
  };
}
