/**
 * Which IP addresses outbound HTTP may reach, and the OUTBOUND_ALLOW list that makes exceptions. Pure (no Node
 * builtins, no DNS): the guarded client (./outbound.ts) applies it to every address a host resolves to, the journey
 * compiler to literal hosts, and the configuration to the operator's own URLs.
 *
 * Refused: every address that is not globally routable unicast — loopback, "this network", private (RFC 1918),
 * shared/CGNAT, link-local (cloud metadata lives at 169.254.169.254), unique-local, multicast, broadcast and the
 * reserved/documentation ranges — plus the cloud metadata addresses that are not in those ranges. IPv6 forms that
 * carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by the IPv4 address they lead to; Teredo is
 * refused outright (its IPv4 part is obfuscated and it tunnels to anywhere).
 */

export type IpAddress = { family: 4; bytes: Uint8Array } | { family: 6; bytes: Uint8Array };

/** Strict dotted-quad IPv4 (what DNS answers and WHATWG URLs normalize every numeric form to). */
export function parseIPv4(s: string): Uint8Array | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return Uint8Array.from(parts);
}

/** IPv6 text (RFC 4291 forms, `::` compression, dotted IPv4 tail, optional `%zone`), without brackets. */
export function parseIPv6(input: string): Uint8Array | undefined {
  const s = input.replace(/%[^%]*$/, '');
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.split('::').length > 2) return undefined;
  const toGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (i === pieces.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(parseInt(p, 16));
      else return undefined;
    }
    return out;
  };
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = toGroups(head);
  const t = tail === undefined ? [] : toGroups(tail);
  if (!h || !t) return undefined;
  let groups: number[];
  if (tail === undefined) {
    if (h.length !== 8) return undefined;
    groups = h;
  } else {
    if (h.length + t.length > 7) return undefined;
    groups = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  }
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/** An IP literal as it appears in a URL host or a DNS answer (`[…]` brackets allowed for IPv6). */
export function parseIp(s: string): IpAddress | undefined {
  const v4 = parseIPv4(s);
  if (v4) return { family: 4, bytes: v4 };
  const unbracketed = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
  const v6 = parseIPv6(unbracketed);
  return v6 ? { family: 6, bytes: v6 } : undefined;
}

export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) return [...ip.bytes].join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((ip.bytes[i]! << 8) | ip.bytes[i + 1]!);
  // RFC 5952: the longest run of two or more zero groups becomes `::`.
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  return best.at < 0 ? hex(groups) : `${hex(groups.slice(0, best.at))}::${hex(groups.slice(best.at + best.len))}`;
}

type Range = { bytes: Uint8Array; prefix: number };

function inRange(bytes: Uint8Array, r: Range): boolean {
  if (bytes.length !== r.bytes.length) return false;
  let bits = r.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i]! & mask) !== (r.bytes[i]! & mask)) return false;
  }
  return true;
}

function range(cidr: string): Range {
  const [addr, len] = cidr.split('/') as [string, string];
  const ip = parseIp(addr);
  if (!ip) throw new Error(`internal: bad range ${cidr}`);
  return { bytes: ip.bytes, prefix: Number(len) };
}

/** IPv4 ranges that are not globally routable unicast (IANA special-purpose registry), with why. */
const V4_BLOCKED: Array<[Range, string]> = (
  [
    ['0.0.0.0/8', '"this network" (0.0.0.0/8)'],
    ['10.0.0.0/8', 'private (10.0.0.0/8)'],
    ['100.64.0.0/10', 'shared address space / CGNAT (100.64.0.0/10)'],
    ['127.0.0.0/8', 'loopback (127.0.0.0/8)'],
    ['169.254.0.0/16', 'link-local, where cloud metadata lives (169.254.0.0/16)'],
    ['172.16.0.0/12', 'private (172.16.0.0/12)'],
    ['192.0.0.0/24', 'IETF protocol assignments (192.0.0.0/24)'],
    ['192.0.2.0/24', 'documentation (192.0.2.0/24)'],
    ['192.88.99.0/24', '6to4 relay anycast (192.88.99.0/24)'],
    ['192.168.0.0/16', 'private (192.168.0.0/16)'],
    ['198.18.0.0/15', 'benchmarking (198.18.0.0/15)'],
    ['198.51.100.0/24', 'documentation (198.51.100.0/24)'],
    ['203.0.113.0/24', 'documentation (203.0.113.0/24)'],
    ['224.0.0.0/4', 'multicast (224.0.0.0/4)'],
    ['240.0.0.0/4', 'reserved or broadcast (240.0.0.0/4)'],
    // Public addresses that are a cloud's metadata/platform endpoint inside its networks.
    ['168.63.129.16/32', 'the Azure platform (metadata) address'],
  ] as const
).map(([c, why]) => [range(c), why]);

const V6_BLOCKED: Array<[Range, string]> = (
  [
    ['::/128', 'the unspecified address (::)'],
    ['::1/128', 'loopback (::1)'],
    ['100::/64', 'discard-only (100::/64)'],
    ['64:ff9b:1::/48', 'local-use NAT64 (64:ff9b:1::/48)'],
    ['2001::/32', 'Teredo (2001::/32), which tunnels to an address it hides'],
    ['2001:db8::/32', 'documentation (2001:db8::/32)'],
    ['2001:10::/28', 'ORCHID (2001:10::/28)'],
    ['2001:20::/28', 'ORCHIDv2 (2001:20::/28)'],
    ['3fff::/20', 'documentation (3fff::/20)'],
    ['fc00::/7', 'unique-local (fc00::/7)'],
    ['fe80::/10', 'link-local (fe80::/10)'],
    ['fec0::/10', 'site-local (fec0::/10)'],
    ['ff00::/8', 'multicast (ff00::/8)'],
  ] as const
).map(([c, why]) => [range(c), why]);

/** IPv6 forms that lead to an IPv4 address, and where in the 16 bytes that address sits. */
const V6_EMBEDDING: Array<[Range, number, string]> = (
  [
    ['::ffff:0:0/96', 12, 'IPv4-mapped'],
    ['::ffff:0:0:0/96', 12, 'IPv4-translated'],
    ['64:ff9b::/96', 12, 'NAT64'],
    ['2002::/16', 2, '6to4'],
    // Last: ::/96 also holds :: and ::1, which V6_BLOCKED names first.
    ['::/96', 12, 'IPv4-compatible'],
  ] as const
).map(([c, at, name]) => [range(c), at, name]);

/** The IPv4 address an IPv6 address leads to (mapped, translated, NAT64, 6to4, compatible), if any. */
export function embeddedIPv4(ip: IpAddress): { v4: IpAddress; form: string } | undefined {
  if (ip.family !== 6) return undefined;
  for (const [r, at, form] of V6_EMBEDDING) {
    if (inRange(ip.bytes, r)) return { v4: { family: 4, bytes: ip.bytes.slice(at, at + 4) }, form };
  }
  return undefined;
}

/** Why outbound HTTP may not reach this address, or undefined when it is globally routable unicast. */
export function blockedReason(ip: IpAddress): string | undefined {
  if (ip.family === 4) {
    for (const [r, why] of V4_BLOCKED) if (inRange(ip.bytes, r)) return why;
    return undefined;
  }
  for (const [r, why] of V6_BLOCKED) if (inRange(ip.bytes, r)) return why;
  const inner = embeddedIPv4(ip);
  if (inner) {
    const why = blockedReason(inner.v4);
    return why ? `${inner.form} IPv6 for ${formatIp(inner.v4)}, ${why}` : undefined;
  }
  return undefined;
}

/** The name forms every resolver answers locally (RFC 6761 `localhost`, and its subdomains). */
export function isLocalhostName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost');
}

/**
 * The OUTBOUND_ALLOW setting: addresses, CIDR ranges and exact host names that outbound HTTP may reach although
 * they are private (a self-hosted CRM, an SMS gateway on the LAN, the test suite's receivers on 127.0.0.1).
 */
export type OutboundAllowList = { ranges: Range[]; hosts: string[] };

export const EMPTY_ALLOW_LIST: OutboundAllowList = { ranges: [], hosts: [] };

const HOST_NAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/**
 * Parses a comma-separated list (`127.0.0.1, 10.0.0.0/8, fd00::/8, crm.internal`). Every entry that is not an
 * address, a range or a host name comes back in `errors`, quoted, with why.
 */
export function parseOutboundAllow(value: string): { allow: OutboundAllowList; errors: string[] } {
  const allow: OutboundAllowList = { ranges: [], hosts: [] };
  const errors: string[] = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const [addr, len, extra] = entry.split('/');
    const ip = parseIp(addr!);
    if (ip) {
      const max = ip.family === 4 ? 32 : 128;
      const prefix = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
      if (extra !== undefined || !(prefix >= 0 && prefix <= max)) errors.push(`"${entry}" has a prefix length that is not 0-${max}`);
      else allow.ranges.push({ bytes: ip.bytes, prefix });
      continue;
    }
    const host = entry.toLowerCase().replace(/\.$/, '');
    if (len === undefined && HOST_NAME.test(host) && !/^[\d.]+$/.test(host)) allow.hosts.push(host);
    else errors.push(`"${entry}" is neither an IP address, a CIDR range (10.0.0.0/8) nor a host name`);
  }
  return { allow, errors };
}

/** Whether the allow-list lets outbound HTTP reach `ip` (an IPv4-mapped IPv6 address counts as its IPv4 address). */
export function addressAllowed(allow: OutboundAllowList, ip: IpAddress): boolean {
  const mapped = ip.family === 6 && inRange(ip.bytes, V6_EMBEDDING[0]![0]) ? embeddedIPv4(ip)!.v4 : undefined;
  return allow.ranges.some((r) => inRange(ip.bytes, r) || (mapped !== undefined && inRange(mapped.bytes, r)));
}

export function hostAllowed(allow: OutboundAllowList, host: string): boolean {
  return allow.hosts.includes(host.toLowerCase().replace(/\.$/, ''));
}

/**
 * What can be said about a URL's host without DNS: why it is refused (a literal private address or `localhost`, not
 * on the allow-list), or undefined (a public literal, an allowed one, or a name that only resolution can judge).
 * `hostname` is WHATWG URL's `hostname` (numeric IPv4 forms already normalized to dotted quads, IPv6 in brackets).
 */
export function literalHostProblem(hostname: string, allow: OutboundAllowList = EMPTY_ALLOW_LIST): string | undefined {
  if (hostAllowed(allow, hostname)) return undefined;
  const ip = parseIp(hostname);
  if (ip) {
    const why = blockedReason(ip);
    return why && !addressAllowed(allow, ip) ? `${hostname} is ${why}` : undefined;
  }
  return isLocalhostName(hostname) ? `${hostname} is a loopback name` : undefined;
}
