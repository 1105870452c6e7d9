/**
 * VERP return paths (variable envelope return path): with BOUNCE_VERP_DOMAIN set, each email's SMTP envelope sender
 * (MAIL FROM, which receiving servers send delivery reports to) is `bounces+<token>@<domain>`, the token naming our
 * message. A DSN that no longer carries the original Message-ID (some servers return only a human text, or strip
 * the headers) is still matched: the bounce mailbox reads the token from the address the report was delivered to.
 *
 * The token is `<message row id><signature>` in lower-case base32 (RFC 4648 alphabet): 26 characters for the 16-byte
 * id, 16 for an 80-bit HMAC-SHA256 truncation, signed with the link-signing secrets (the first signs, all verify, as
 * for tokens.ts). Link tokens (base64url JSON plus a 256-bit MAC, ~90 characters) would not fit: RFC 5321 §4.5.3.1.1
 * limits a local part to 64 characters, and `bounces+` + 26 + 16 is 50. Lower-case base32 because mail servers may fold
 * the case of a local part; like tokens.ts, only the canonical text of the id is accepted (its 26th character has two
 * spare bits), so a modified token never verifies.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The local part before `+`: where the MX of BOUNCE_VERP_DOMAIN must deliver (or catch-all) to the bounce mailbox. */
export const VERP_LOCAL_PART = 'bounces';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const ID_CHARS = 26; // ceil(128 / 5)
const MAC_BYTES = 10;
const MAC_CHARS = 16; // 80 / 5
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ADDRESS = new RegExp(`^${VERP_LOCAL_PART}\\+([a-z2-7]{${ID_CHARS + MAC_CHARS}})@[a-z0-9.-]+$`);

function base32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(text: string, bytes: number): Buffer | undefined {
  const out = Buffer.alloc(bytes);
  let bits = 0;
  let value = 0;
  let at = 0;
  for (const c of text) {
    const v = ALPHABET.indexOf(c);
    if (v < 0) return undefined;
    value = ((value << 5) | v) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      if (at >= bytes) return undefined;
      out[at++] = (value >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  if (at !== bytes) return undefined;
  // Canonical form only: what base32() writes for these bytes, spare bits zero.
  return base32(out) === text ? out : undefined;
}

const mac = (secret: string, id: Buffer) => createHmac('sha256', secret).update('itinera-verp\0').update(id).digest().subarray(0, MAC_BYTES);

/** `bounces+<token>@<domain>` for the message whose `messages.id` is `messageRowId` (a UUID). */
export function verpAddress(secrets: readonly string[], domain: string, messageRowId: string): string {
  if (!secrets[0]) throw new Error('verp: a signing secret is required');
  if (!UUID.test(messageRowId)) throw new Error(`verp: not a message id: ${messageRowId}`);
  const id = Buffer.from(messageRowId.replace(/-/g, ''), 'hex');
  return `${VERP_LOCAL_PART}+${base32(id)}${base32(mac(secrets[0], id))}@${domain}`;
}

/**
 * The message row id a VERP address names, when the address is one and its signature verifies with one of `secrets`;
 * undefined otherwise (not a VERP address, another id, a modified or forged token). Compared case-insensitively: the
 * alphabet is lower-case, and servers that fold a local part to upper case must not break matching.
 */
export function messageOfVerpAddress(secrets: readonly string[], address: string): string | undefined {
  const m = ADDRESS.exec(address.trim().toLowerCase());
  if (!m) return undefined;
  const token = m[1]!;
  const id = unbase32(token.slice(0, ID_CHARS), 16);
  const given = unbase32(token.slice(ID_CHARS), MAC_BYTES);
  if (!id || !given) return undefined;
  let matched = false;
  // No early exit: the time taken must not reveal which secret matched.
  for (const secret of secrets) if (secret && timingSafeEqual(mac(secret, id), given)) matched = true;
  if (!matched) return undefined;
  const hex = id.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Message row ids named by whichever of `addresses` are VERP addresses signed by us (the first 5 of that form checked). */
export function verpMessageIds(secrets: readonly string[], addresses: readonly (string | null | undefined)[]): string[] {
  const ids = new Set<string>();
  const candidates = addresses.filter((a): a is string => typeof a === 'string' && a.trim().toLowerCase().startsWith(`${VERP_LOCAL_PART}+`));
  for (const a of candidates.slice(0, 5)) {
    const id = messageOfVerpAddress(secrets, a);
    if (id) ids.add(id);
  }
  return [...ids];
}
