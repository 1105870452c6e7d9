import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/helpers/global-setup.ts'],
    // Temporal-backed tests start workers and wait on real (second-scale) timers.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores are shared by the dev server, Postgres and the test workers.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
