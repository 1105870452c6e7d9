/**
 * What remains of an erased contact's email and phone: a keyed, salted hash on the suppression list, so the address is
 * never messaged again without the list holding the address itself. The salt is derived from each signing secret
 * (SIGNING_SECRETS), so a copy of the database alone cannot test guessed addresses against it; an erasure stores one
 * row per secret configured at the time, and a send checks every configured secret (rotation: while a retired secret
 * is still listed, addresses erased under it stay suppressed).
 *
 * The same hash is computed in SQL by the email send's batched look-up (`erasedAddressSql`), so it is plain SHA-256
 * over text Postgres can build: `sha256(salt ":" channel ":" address)`, stored as `sha256:<hex>`.
 */
import { createHash, createHmac } from 'node:crypto';
import { sql, type SQL } from 'drizzle-orm';

export const ERASED_PREFIX = 'sha256:';

/** One salt per signing secret: HMAC-SHA256(secret, purpose), hex. */
export function erasureSalts(secrets: readonly string[]): string[] {
  return secrets.map((s) => createHmac('sha256', s).update('itinera erased-address salt v1').digest('hex'));
}

/** The suppression addresses standing for `address` (already normalized: lower-cased email, E.164 phone). */
export function erasedAddresses(salts: readonly string[], channel: 'email' | 'sms', address: string): string[] {
  return salts.map((salt) => ERASED_PREFIX + createHash('sha256').update(`${salt}:${channel}:${address}`, 'utf8').digest('hex'));
}

/** The same addresses in SQL, for an address held in a column; `saltsJson` is a JSON array parameter. */
export function erasedAddressSql(saltsJson: SQL | string, channel: 'email' | 'sms', address: SQL): SQL {
  return sql`(select ${ERASED_PREFIX} || encode(sha256(convert_to(s || ${`:${channel}:`} || ${address}, 'UTF8')), 'hex') from jsonb_array_elements_text(${saltsJson}::jsonb) s)`;
}
