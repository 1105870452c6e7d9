/**
 * CSV for report exports (RFC 4180: comma-separated, CRLF, quotes doubled). A text cell starting with `=`, `+`, `-`,
 * `@`, a tab or a carriage return is prefixed with `'` so a spreadsheet shows it as text instead of running it as a
 * formula (OWASP "CSV injection"); numbers are written as numbers.
 */
export type Cell = string | number | boolean | null | undefined;

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(v: Cell): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  const text = FORMULA_START.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
}
