import { rmSync } from 'node:fs';
import { CHAOS_PARTS_DIR, mergeChaosParts } from '../../scripts/chaos-summary';

/** Parts from an earlier run must not leak into this run's summary. */
export function setup() {
  rmSync(CHAOS_PARTS_DIR, { recursive: true, force: true });
}

/** After every chaos and security file: bench/results/chaos.json and the one summary line. */
export function teardown() {
  const merged = mergeChaosParts();
  if (merged) process.stdout.write(`\n${merged.line}\n`);
}
