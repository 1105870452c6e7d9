import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CHAOS_PARTS_DIR } from '../../../scripts/chaos-summary';

/** `npm run test:chaos` sets CHAOS_FULL=1; `npm test` runs the quick mode. CHAOS_CONTACTS overrides the size. */
export const CHAOS_FULL = process.env.CHAOS_FULL === '1';
export const CHAOS_MODE = CHAOS_FULL ? 'full' : 'quick';
export const CHAOS_CONTACTS = Number(process.env.CHAOS_CONTACTS) || (CHAOS_FULL ? 10_000 : 1_000);

/** Writes one scenario's counts to bench/results/chaos-parts/<part>.json for the summary step. */
export function writePart(part: string, data: object): void {
  mkdirSync(CHAOS_PARTS_DIR, { recursive: true });
  writeFileSync(path.join(CHAOS_PARTS_DIR, `${part}.json`), `${JSON.stringify({ part, mode: CHAOS_MODE, ...data }, null, 2)}\n`);
}
