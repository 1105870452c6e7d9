/**
 * One import row, cleaned: read from its record, mapped, checked by the same schema as `PUT /v1/contacts` and
 * normalized by the contact pipeline's own `normalizedValues` (src/contacts/upsert.ts) — so a row is accepted exactly
 * when PUT would accept the contact, and matched on exactly the email and phone PUT would store. Pure.
 */
import { z } from 'zod';
import { ContactInput } from '../api/routes/contacts';
import { normalizedValues, type ContactFields } from '../contacts/upsert';
import type { Consent, ConsentStatus } from '../db/schema';
import type { NewContact } from '../db/queries';
import { mapRow, type ImportMapping } from './mapping';
import type { RawRecord } from './records';

export const MatchKey = z.enum(['externalId', 'email', 'phone']);
export type MatchKey = z.infer<typeof MatchKey>;

export type CleanRow = {
  ok: true;
  externalId?: string;
  /** Normalized, as stored. */
  email?: string;
  phone?: string;
  /** What the write sends to the contact pipeline (without the CRM id). */
  fields: ContactFields;
  /** `normalizedValues(fields)`, computed once: the batch write stores exactly these. */
  values: Partial<NewContact>;
  /** Where each field came from, to name the column of a later problem. */
  columnOf: Record<string, string>;
  consentSource?: string;
  consentAt?: string;
};
export type RejectedRow = { ok: false; column: string | null; reason: string };

export type CleanOptions = { columns: readonly string[] | null; mapping: ImportMapping; country: string };

const STATUSES: readonly ConsentStatus[] = ['opted_in', 'opted_out', 'unknown'];
const ExternalId = z.string().min(1).max(200);

/** The row's values by column: CSV fields against the header, or a JSON line's object. */
function rowObject(raw: RawRecord, columns: readonly string[] | null): Record<string, unknown> | RejectedRow {
  if (raw.e) return { ok: false, column: null, reason: raw.e };
  if ('f' in raw) {
    if (!columns) return { ok: false, column: null, reason: 'the file has no header row' };
    if (raw.f.length !== columns.length) return { ok: false, column: null, reason: `has ${raw.f.length} fields; the header has ${columns.length}` };
    const o: Record<string, unknown> = {};
    columns.forEach((c, i) => (o[c] = raw.f[i]));
    return o;
  }
  let v: unknown;
  try {
    v = JSON.parse(raw.l);
  } catch {
    return { ok: false, column: null, reason: 'is not valid JSON' };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { ok: false, column: null, reason: 'is not a JSON object' };
  return v as Record<string, unknown>;
}

export function cleanRow(raw: RawRecord, opts: CleanOptions): CleanRow | RejectedRow {
  const obj = rowObject(raw, opts.columns);
  if ('ok' in obj && obj.ok === false) return obj as RejectedRow;
  const mapped = mapRow(obj, opts.mapping);
  if (!mapped.ok) return mapped;
  const { columnOf } = mapped;
  const fields: Record<string, unknown> = { ...mapped.fields };
  const externalId = fields.externalId as string | undefined;
  delete fields.externalId;
  if (externalId !== undefined && !ExternalId.safeParse(externalId).success) return { ok: false, column: columnOf.externalId ?? null, reason: 'the CRM id must be 1 to 200 characters' };
  fields.country = ((fields.country as string | undefined) ?? opts.country).toUpperCase();
  if (Object.keys(mapped.attributes).length) fields.attributes = mapped.attributes;

  const channels = Object.entries(mapped.consent);
  let consentAt: string | undefined;
  if (channels.length) {
    for (const [ch, v] of channels) {
      if (!STATUSES.includes(v as ConsentStatus)) return { ok: false, column: columnOf[`consent.${ch}`] ?? null, reason: `consent "${v.slice(0, 50)}" is not one of ${STATUSES.join(', ')} (map the file's values with "map")` };
    }
    const firstCol = columnOf[`consent.${channels[0]![0]}`] ?? null;
    if (!mapped.consentSource) return { ok: false, column: columnOf['consent.source'] ?? firstCol, reason: 'consent without its source: the consent source column is empty' };
    if (!mapped.consentAt) return { ok: false, column: columnOf['consent.at'] ?? firstCol, reason: 'consent without its time: the consent time column is empty' };
    const t = Date.parse(mapped.consentAt);
    if (Number.isNaN(t)) return { ok: false, column: columnOf['consent.at'] ?? null, reason: `"${mapped.consentAt.slice(0, 50)}" is not a time (ISO 8601, or give the column a date format)` };
    consentAt = new Date(t).toISOString();
    fields.consent = Object.fromEntries(channels) as Consent;
  }

  const checked = ContactInput.safeParse(fields);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    const field = String(issue.path[0] ?? '');
    const column = field === 'attributes' || field === 'consent' ? (columnOf[`${field}.${String(issue.path[1] ?? '')}`] ?? null) : (columnOf[field] ?? null);
    return { ok: false, column, reason: `${issue.path.join('.') || 'row'}: ${issue.message}` };
  }
  const values = normalizedValues(checked.data);
  if (externalId === undefined && !values.email && !values.phone) return { ok: false, column: null, reason: 'has no CRM id, email or phone to match or create a contact by' };
  return {
    ok: true,
    ...(externalId !== undefined ? { externalId } : {}),
    ...(values.email ? { email: values.email } : {}),
    ...(values.phone ? { phone: values.phone } : {}),
    fields: checked.data,
    values,
    columnOf,
    ...(mapped.consentSource ? { consentSource: mapped.consentSource } : {}),
    ...(consentAt ? { consentAt } : {}),
  };
}

/** The row's match keys in precedence order (`email:ada@example.com`); a key it lacks is left out. */
export function rowKeys(row: CleanRow, precedence: readonly MatchKey[]): { kind: MatchKey; key: string }[] {
  const out: { kind: MatchKey; key: string }[] = [];
  for (const k of precedence) {
    const v = k === 'externalId' ? row.externalId : k === 'email' ? row.email : row.phone;
    if (v !== undefined) out.push({ kind: k, key: `${k}:${v}` });
  }
  return out;
}
