import { mergeChaosParts } from '../../scripts/chaos-summary';

let started = 0;

/** Parts older than this run (an earlier run's) are left out of its summary; nothing is deleted. */
export function setup() {
  started = Date.now();
}

/** After every chaos and security file: bench/results/chaos.json and the one summary line. */
export function teardown() {
  const merged = mergeChaosParts(started);
  if (merged) process.stdout.write(`\n${merged.line}\n`);
}
