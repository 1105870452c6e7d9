/**
 * The field mapping of an import: which source column fills which contact field, through which transforms. Pure (no
 * I/O), so a dry run, a real run and the tests read a row the same way.
 */
import { z } from 'zod';

/** Contact fields a column may fill, as `PUT /v1/contacts` names them, plus `attributes.<name>` and consent. */
export const SIMPLE_FIELDS = [
  'externalId',
  'email',
  'phone',
  'country',
  'firstName',
  'lastName',
  'company',
  'region',
  'industry',
  'jobTitle',
  'timezone',
  'locale',
  'lifecycleStage',
  'ownerId',
  'tags',
] as const;
export const CONSENT_FIELDS = ['consent.email', 'consent.sms', 'consent.chat'] as const;
export const CONSENT_META = ['consent.source', 'consent.at'] as const;

const TargetField = z
  .string()
  .refine(
    (f) => (SIMPLE_FIELDS as readonly string[]).includes(f) || (CONSENT_FIELDS as readonly string[]).includes(f) || (CONSENT_META as readonly string[]).includes(f) || /^attributes\.[A-Za-z0-9_-]{1,100}$/.test(f),
    { message: `is not a contact field: use one of ${SIMPLE_FIELDS.join(', ')}, attributes.<name>, ${CONSENT_FIELDS.join(', ')}, ${CONSENT_META.join(', ')}` },
  );

/** `YYYY`, `MM`, `DD`, `HH`, `mm`, `ss` and literal separators, or `iso` (ISO 8601). */
const DateFormat = z
  .string()
  .max(40)
  .refine((f) => f === 'iso' || (/YYYY/.test(f) && /MM/.test(f) && /DD/.test(f)), { message: 'must be "iso" or a pattern with YYYY, MM and DD (and optionally HH, mm, ss), e.g. "YYYY/MM/DD"' });

export const ColumnSpec = z.union([
  TargetField,
  z.strictObject({
    field: TargetField,
    /** Trim surrounding white space (full-width spaces too). @default true */
    trim: z.boolean().default(true),
    /** Lower-case the value. @default false */
    lower: z.boolean().default(false),
    /** Pick-list values replaced before anything else reads them (after trim/lower), e.g. { "北京市": "北京" }. */
    map: z.record(z.string().max(200), z.string().max(200)).optional(),
    /** Split the value into tags on this separator (only for `tags`). */
    split: z.string().min(1).max(5).optional(),
    /** Read the value as a date in this format; stored as YYYY-MM-DD, or an ISO instant (UTC) when it has a time. */
    date: DateFormat.optional(),
  }),
]);
export type ColumnSpec = z.infer<typeof ColumnSpec>;

export const ImportMapping = z
  .strictObject({
    /** Source column (CSV header, JSON Lines key) → contact field. */
    columns: z.record(z.string().min(1).max(200), ColumnSpec).refine((c) => Object.keys(c).length <= 500, { message: 'maps more than 500 columns' }),
  })
  .superRefine((m, ctx) => {
    const targets = new Map<string, string>();
    for (const [col, spec] of Object.entries(m.columns)) {
      const field = typeof spec === 'string' ? spec : spec.field;
      if (field !== 'tags' && targets.has(field)) ctx.addIssue({ code: 'custom', path: ['columns', col], message: `maps to ${field}, which column "${targets.get(field)}" already fills` });
      targets.set(field, col);
      if (typeof spec !== 'string' && spec.split !== undefined && field !== 'tags') ctx.addIssue({ code: 'custom', path: ['columns', col, 'split'], message: 'only applies to tags' });
      if (typeof spec !== 'string' && spec.date !== undefined && !(field.startsWith('attributes.') || field === 'consent.at')) ctx.addIssue({ code: 'custom', path: ['columns', col, 'date'], message: 'only applies to attributes.<name> and consent.at' });
    }
    // Consent is imported only when the file says where it came from and when (a record of consent, not a guess).
    if (CONSENT_FIELDS.some((f) => targets.has(f))) {
      for (const meta of CONSENT_META) {
        if (!targets.has(meta)) ctx.addIssue({ code: 'custom', path: ['columns'], message: `maps consent but no column to ${meta}: consent is imported only with its source and time` });
      }
    }
  });
export type ImportMapping = z.infer<typeof ImportMapping>;

const squash = (s: string) => s.toLowerCase().replace(/[\s_-]/g, '');
const ALIASES: Record<string, string> = { crmid: 'externalId', mobile: 'phone', tag: 'tags', owner: 'ownerId', stage: 'lifecycleStage' };

/** Without a mapping: each column named like a field (any case, `_`/`-`/spaces ignored: `first_name`, `Email`) fills it. */
export function defaultMapping(columns: readonly string[]): ImportMapping {
  const byName = new Map<string, string>(SIMPLE_FIELDS.map((f) => [squash(f), f]));
  for (const [a, f] of Object.entries(ALIASES)) byName.set(a, f);
  const out: Record<string, ColumnSpec> = {};
  const used = new Set<string>();
  for (const col of columns) {
    const f = byName.get(squash(col));
    if (f && !used.has(f)) {
      out[col] = f === 'tags' ? { field: 'tags', trim: true, lower: false, split: ',' } : f;
      used.add(f);
    }
  }
  return { columns: out };
}

/** Mapping problems against the file's columns (CSV header), each naming the mapping field. */
export function mappingIssues(mapping: ImportMapping, columns: readonly string[] | undefined): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  if (columns) {
    for (const col of Object.keys(mapping.columns)) {
      if (!columns.includes(col)) out.push({ path: `mapping.columns.${col}`, message: `names a column the file does not have (its columns: ${columns.slice(0, 30).join(', ')})` });
    }
  }
  const fields = Object.values(mapping.columns).map((s) => (typeof s === 'string' ? s : s.field));
  if (!fields.some((f) => f === 'externalId' || f === 'email' || f === 'phone')) {
    out.push({ path: 'mapping.columns', message: 'maps no column to externalId, email or phone: rows could not be matched to contacts' });
  }
  return out;
}

function parseDate(value: string, format: string): string | undefined {
  if (format === 'iso') {
    if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) return undefined;
    const t = Date.parse(value.replace(' ', 'T'));
    if (Number.isNaN(t)) return undefined;
    return value.length === 10 ? value : new Date(t).toISOString();
  }
  const names: string[] = [];
  const re = format.replace(/YYYY|MM|DD|HH|mm|ss|[.*+?^${}()|[\]\\]/g, (tok) => {
    if (tok.length === 1) return `\\${tok}`;
    names.push(tok);
    return tok === 'YYYY' ? '(\\d{4})' : '(\\d{1,2})';
  });
  const m = new RegExp(`^${re}$`).exec(value);
  if (!m) return undefined;
  const part: Record<string, number> = { HH: 0, mm: 0, ss: 0 };
  names.forEach((n, i) => (part[n] = Number(m[i + 1])));
  const d = new Date(Date.UTC(part.YYYY!, part.MM! - 1, part.DD!, part.HH!, part.mm!, part.ss!));
  if (d.getUTCFullYear() !== part.YYYY || d.getUTCMonth() !== part.MM! - 1 || d.getUTCDate() !== part.DD || part.HH! > 23 || part.mm! > 59 || part.ss! > 59) return undefined;
  return names.includes('HH') ? d.toISOString() : d.toISOString().slice(0, 10);
}

/** One row's contact fields as the mapping reads them, or the column and reason it cannot be read. */
export type MappedRow =
  | { ok: true; fields: Record<string, unknown>; attributes: Record<string, unknown>; consent: Record<string, string>; consentSource?: string; consentAt?: string; columnOf: Record<string, string> }
  | { ok: false; column: string | null; reason: string };

const TRIM = /^[\s\u3000\uFEFF]+|[\s\u3000\uFEFF]+$/g;

/** Applies the mapping to one row (column → cell). Empty cells leave their field absent. */
export function mapRow(row: Record<string, unknown>, mapping: ImportMapping): MappedRow {
  const fields: Record<string, unknown> = {};
  const attributes: Record<string, unknown> = {};
  const consent: Record<string, string> = {};
  const columnOf: Record<string, string> = {};
  let consentSource: string | undefined;
  let consentAt: string | undefined;
  for (const [col, raw] of Object.entries(mapping.columns)) {
    const spec = typeof raw === 'string' ? { field: raw, trim: true, lower: false } : raw;
    columnOf[spec.field] ??= col;
    const cell = row[col];
    if (cell === undefined || cell === null) continue;
    let values: string[];
    if (Array.isArray(cell) && spec.field === 'tags' && cell.every((t) => typeof t === 'string')) values = cell as string[];
    else if (typeof cell === 'string' || typeof cell === 'number' || typeof cell === 'boolean') values = [String(cell)];
    else return { ok: false, column: col, reason: `holds ${Array.isArray(cell) ? 'a list' : 'an object'}, which ${spec.field} cannot take` };
    values = values.map((v) => {
      let s = spec.trim ? v.replace(TRIM, '') : v;
      if (spec.lower) s = s.toLowerCase();
      if ('map' in spec && spec.map && Object.hasOwn(spec.map, s)) s = spec.map[s]!;
      return s;
    });
    if ('split' in spec && spec.split) values = values.flatMap((v) => v.split(spec.split!).map((t) => t.replace(TRIM, '')));
    values = values.filter((v) => v !== '');
    if (values.length === 0) continue;
    if ('date' in spec && spec.date) {
      const d = parseDate(values[0]!, spec.date);
      if (d === undefined) return { ok: false, column: col, reason: `"${values[0]!.slice(0, 100)}" is not a date in the format ${spec.date}` };
      values = [d];
    }
    const v = values[0]!;
    if (spec.field === 'tags') fields.tags = [...new Set([...((fields.tags as string[] | undefined) ?? []), ...values])];
    else if (spec.field.startsWith('attributes.')) attributes[spec.field.slice('attributes.'.length)] = v;
    else if (spec.field === 'consent.source') consentSource = v;
    else if (spec.field === 'consent.at') consentAt = v;
    else if (spec.field.startsWith('consent.')) consent[spec.field.slice('consent.'.length)] = v;
    else fields[spec.field] = v;
  }
  return { ok: true, fields, attributes, consent, ...(consentSource !== undefined ? { consentSource } : {}), ...(consentAt !== undefined ? { consentAt } : {}), columnOf };
}
