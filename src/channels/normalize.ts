/**
 * Normalization of contact identifiers before they are stored or matched, so that `Ada@Example.com `
 * and `ada@example.com`, or `138 0013 8000` and `+8613800138000`, are the same contact and the same
 * suppression-list entry.
 */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

export type Normalized = { ok: true; value: string } | { ok: false; error: string };

// Pragmatic, not RFC 5322 in full: quoted local parts and IP-literal domains are legal but are
// essentially never real marketing recipients, and accepting them invites header-injection bugs.
const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uFFFF-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uFFFF-]+)*$/;
const DOMAIN_LABEL = /^(?!-)[a-z0-9\u0080-\uFFFF-]{1,63}(?<!-)$/;

/**
 * Trims, lower-cases (the whole address: providers treat local parts case-insensitively in practice,
 * and dedupe must not depend on how a form capitalised it) and validates.
 */
export function normalizeEmail(raw: string): Normalized {
  if (typeof raw !== 'string') return { ok: false, error: 'email must be a string' };
  const value = raw.normalize('NFC').trim().toLowerCase();
  if (value === '') return { ok: false, error: 'email is empty' };
  if (value.length > 254) return { ok: false, error: 'email is longer than 254 characters' };
  const at = value.lastIndexOf('@');
  if (at <= 0 || at === value.length - 1) return { ok: false, error: `"${raw.trim()}" is not an email address` };
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  if (local.length > 64 || !LOCAL_PART.test(local)) return { ok: false, error: `"${raw.trim()}" has an invalid local part` };
  const labels = domain.split('.');
  if (labels.length < 2 || !labels.every((l) => DOMAIN_LABEL.test(l)) || /^\d+$/.test(labels.at(-1)!)) {
    return { ok: false, error: `"${raw.trim()}" has an invalid domain` };
  }
  return { ok: true, value };
}

/**
 * Any common notation (spaces, dashes, brackets, full-width digits, 00/+ prefixes) → E.164.
 * `defaultRegion` is used for numbers without a country prefix (`138 0013 8000` + CN).
 * Uses libphonenumber's full metadata, so numbers with an impossible prefix are rejected, not just
 * wrong lengths.
 */
export function normalizePhone(raw: string, defaultRegion?: string): Normalized {
  if (typeof raw !== 'string' || raw.trim() === '') return { ok: false, error: 'phone number is empty' };
  const region = defaultRegion?.trim().toUpperCase();
  const phone = parsePhoneNumberFromString(raw.trim(), region ? { defaultCountry: region as CountryCode } : undefined);
  if (!phone) return { ok: false, error: `"${raw.trim()}" is not a phone number${region ? '' : ' (no default region given)'}` };
  if (!phone.isValid()) return { ok: false, error: `"${raw.trim()}" is not a valid phone number for ${phone.country ?? region ?? 'any region'}` };
  return { ok: true, value: phone.number };
}

// The region table and folding are pure (no libphonenumber), so the journey compiler can fold rule values too.
export { CN_REGIONS, MACRO_REGIONS, normalizeRegion, regionName, regionRuleValues, type NormalizeRegionOptions, type RegionInfo } from '../contacts/regions';
