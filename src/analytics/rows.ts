export type Row = Record<string, unknown>;
/** node-postgres answers `{ rows }`, PGlite through drizzle an array or `{ rows }`. */
export const rowsOf = (r: unknown): Row[] => ((r as { rows?: Row[] }).rows ?? (r as Row[]));
export const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
export const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
export const dateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)));

import { sql, type SQL } from 'drizzle-orm';
/** An instant as a query parameter (ISO text cast to timestamptz: node-postgres and PGlite agree on it). */
export const ts = (d: Date): SQL => sql`${d.toISOString()}::timestamptz`;
