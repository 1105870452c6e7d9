import { defineConfig } from 'vitest/config';

/** Files that load the shared dev server with thousands of workflows: they run alone, after everything else. */
const HEAVY = ['tests/e2e/launch.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['tests/helpers/global-setup.ts'],
    // Temporal-backed tests start workers and wait on real (second-scale) timers.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores are shared by the dev server, Postgres and the test workers.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'main', include: ['tests/**/*.test.ts'], exclude: HEAVY, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'heavy', include: HEAVY, sequence: { groupOrder: 1 } } },
    ],
  },
});
