import os from 'node:os';

/** Past this the scale stops growing: a machine that much slower is broken, and a hung test should still end. */
const MAX_SCALE = 20;

/**
 * How many times slower than an idle machine this one is expected to be: TEST_TIME_SCALE when set, otherwise the
 * one-minute load average per core when this module is first loaded (once per test file and once for the config),
 * never below 1. Two cores with a load of 20 give 10.
 */
function measure(env: Record<string, string | undefined> = process.env): number {
  const set = env.TEST_TIME_SCALE?.trim();
  if (set) {
    const v = Number(set);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`TEST_TIME_SCALE is "${set}": expected a positive number such as 1, 2.5 or 10`);
    return v;
  }
  const perCore = os.loadavg()[0]! / Math.max(1, os.cpus().length);
  return Math.min(MAX_SCALE, Math.max(1, perCore));
}

export const TIME_SCALE = measure();

/**
 * A duration that is right on an idle machine, stretched by TIME_SCALE. For upper bounds only: test and hook
 * timeouts, `until` deadlines, and client-side HTTP/abort timeouts the tests pass into the code under test. Never for
 * a duration an assertion expects to be short.
 */
export function scaled(ms: number): number {
  return Math.ceil(ms * TIME_SCALE);
}

/** `scaled` in whole seconds, for durations written into journey YAML (`timeout: 2s`). */
export function scaledSeconds(seconds: number): number {
  return Math.ceil(seconds * TIME_SCALE);
}
