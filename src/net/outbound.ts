/**
 * The one HTTP client for requests to URLs that a journey, a setting or a provider names: webhook steps, chat robots,
 * the CRM hand-off webhook and SMS gateways. A journey author controls webhook URLs, so every request here is a
 * potential server-side request forgery; this client is where that is stopped:
 *
 * - the host is resolved once, every address it resolves to is checked (./addresses.ts), and the socket connects to
 *   exactly the address that was checked (a `lookup` that answers with it), so a DNS server that answers a public
 *   address first and a private one later (rebinding) cannot switch the target between check and connect;
 * - private, loopback, link-local, CGNAT, multicast and metadata addresses are refused unless OUTBOUND_ALLOW lists
 *   the address, its range or the host name;
 * - redirects are never followed (a 3xx is returned as is), the whole exchange has one deadline, and at most
 *   `maxResponseBytes` of the body are read.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import {
  addressAllowed,
  blockedReason,
  EMPTY_ALLOW_LIST,
  formatIp,
  hostAllowed,
  isLocalhostName,
  parseIp,
  type IpAddress,
  type OutboundAllowList,
} from './addresses';

/** Resolves a host name to every address it has. Injectable so tests can play a rebinding DNS server. */
export type OutboundLookup = (hostname: string) => Promise<ReadonlyArray<{ address: string; family: number }>>;

export interface OutboundRequest {
  /** @default 'POST' */
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Deadline of the whole exchange: resolution, connection, request and reading the response. */
  timeoutMs: number;
}

export interface OutboundResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The first `maxResponseBytes` of the body, decoded as UTF-8. */
  body: string;
  /** The body was longer than `maxResponseBytes` and was cut. */
  truncated: boolean;
}

export interface OutboundHttp {
  /**
   * @throws OutboundRefusedError when the host is, or resolves to, an address outbound HTTP may not reach
   * @throws OutboundTimeoutError when `timeoutMs` passed first
   * @throws a Node network error (`code` ECONNREFUSED, ENOTFOUND…) when there was no response
   */
  request(url: string, init: OutboundRequest): Promise<OutboundResponse>;
}

/**
 * Marks, in a refusal message, what a host name resolved to. An internal DNS answer is for ops: shown to whoever wrote
 * the webhook, it would let a journey map internal names to addresses (the API cuts it for roles below ops).
 */
export const RESOLVED_MARKER = ' · resolved: ';

/** The request was not sent: its host is, or resolves to, a refused address. Sending it again cannot succeed. */
export class OutboundRefusedError extends Error {
  override name = 'OutboundRefusedError';
  constructor(
    /** The URL's host name (never the full URL, which may carry a robot key or a token). */
    readonly host: string,
    readonly reason: string,
    /** For a host name: the refused address it resolved to, and why. */
    readonly resolved?: string,
  ) {
    super(`refused to connect to ${host}: ${reason} (outbound HTTP may reach it only if OUTBOUND_ALLOW lists it)${resolved ? `${RESOLVED_MARKER}${resolved}` : ''}`);
  }
}

/** Named `TimeoutError`, as fetch's is, so the channels' error messages treat both alike. */
export class OutboundTimeoutError extends Error {
  override name = 'TimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`no response within ${timeoutMs}ms`);
  }
}

export interface OutboundHttpOptions {
  /** Exceptions to the refused ranges (OUTBOUND_ALLOW). @default none */
  allow?: OutboundAllowList;
  /** @default node:dns lookup with `all: true` (the system resolver, /etc/hosts included) */
  lookup?: OutboundLookup;
  /** @default 65536 */
  maxResponseBytes?: number;
}

const systemLookup: OutboundLookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export function createOutboundHttp(opts: OutboundHttpOptions = {}): OutboundHttp {
  const allow = opts.allow ?? EMPTY_ALLOW_LIST;
  const resolve = opts.lookup ?? systemLookup;
  const maxResponseBytes = opts.maxResponseBytes ?? 65_536;
  // Kept-alive sockets are safe to share: each was connected through a checked address.
  const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

  /** The address to connect to, after checking the literal or every address the name resolves to. */
  async function target(hostname: string): Promise<IpAddress> {
    const byName = hostAllowed(allow, hostname);
    const literal = parseIp(hostname);
    let addresses: IpAddress[];
    if (literal) addresses = [literal];
    else {
      if (isLocalhostName(hostname) && !byName) throw new OutboundRefusedError(hostname, 'localhost is a loopback name');
      const answers = await resolve(hostname);
      addresses = answers.map((a) => parseIp(a.address)).filter((a): a is IpAddress => a !== undefined);
      if (addresses.length === 0) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    }
    if (!byName) {
      // Every answer, not just the one we would use: a name with one private answer is aimed at the inside.
      for (const ip of addresses) {
        const why = blockedReason(ip);
        if (why && !addressAllowed(allow, ip)) {
          if (literal) throw new OutboundRefusedError(hostname, `it is ${why}`);
          throw new OutboundRefusedError(hostname, 'it resolves to a non-public address', `${formatIp(ip)}, ${why}`);
        }
      }
    }
    return addresses[0]!;
  }

  return {
    async request(rawUrl, init) {
      const url = new URL(rawUrl);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new OutboundRefusedError(url.host, `${url.protocol} is not http(s)`);
      }
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new OutboundTimeoutError(init.timeoutMs)), init.timeoutMs);
      const deadline = new Promise<never>((_, reject) => {
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), { once: true });
      });
      deadline.catch(() => undefined);
      try {
        const ip = await Promise.race([target(url.hostname), deadline]);
        const address = formatIp(ip);
        const family = ip.family;
        // Pinning: whatever name Node asks about, the answer is the address checked above.
        const pinned: LookupFunction = (_host, options, callback) => {
          if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address, family }]);
          else callback(null, address, family);
        };
        return await Promise.race([send(url, init, pinned, controller.signal), deadline]);
      } finally {
        clearTimeout(timer);
      }
    },
  };

  function send(url: URL, init: OutboundRequest, lookup: LookupFunction, signal: AbortSignal): Promise<OutboundResponse> {
    const body = init.body ?? '';
    const headers: Record<string, string> = { ...init.headers };
    if (body !== '' || !['GET', 'HEAD'].includes((init.method ?? 'POST').toUpperCase())) headers['content-length'] = String(Buffer.byteLength(body));
    return new Promise<OutboundResponse>((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(url, {
        method: init.method ?? 'POST',
        headers,
        lookup,
        agent: url.protocol === 'https:' ? agents.https : agents.http,
        signal,
      });
      req.on('error', (err) => reject(signal.aborted ? (signal.reason as Error) : err));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let truncated = false;
        const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), truncated });
        res.on('data', (c: Buffer) => {
          if (truncated) return;
          const room = maxResponseBytes - size;
          if (c.length > room) {
            chunks.push(c.subarray(0, room));
            truncated = true;
            // Enough read: the rest of an oversized body is not worth the time or the memory.
            res.destroy();
            done();
            return;
          }
          chunks.push(c);
          size += c.length;
        });
        res.on('end', done);
        // The body stream broke after the status line: the status is what matters.
        res.on('error', done);
        res.on('aborted', done);
      });
      req.end(body);
    });
  }
}

/** What a channel uses when it is given no client: no exception to the refused ranges. */
export const STRICT_OUTBOUND: OutboundHttp = createOutboundHttp();
