import { defineConfig } from 'vitest/config';
import { scaled } from './tests/helpers/timing.ts';

/** Files that load the shared dev server with thousands of workflows: they run alone, after everything else. */
const HEAVY = ['tests/e2e/launch.test.ts'];
/**
 * Fault injection (tests/chaos: real processes killed and restarted) and the API fuzz/authz suite (tests/security):
 * last, after `heavy`. Quick by default (`npm test`); `npm run test:chaos` sets CHAOS_FULL=1 for the full sizes.
 */
const CHAOS = ['tests/chaos/**/*.test.ts', 'tests/security/**/*.test.ts'];
const CHAOS_FULL = process.env.CHAOS_FULL === '1';
/**
 * Simulator vs production on generated timelines (tests/differential): alone, last, so the events it places within a
 * margin of timers are not delayed by other suites. Quick by default; `npm run test:differential` is the full size.
 */
const DIFFERENTIAL = ['tests/differential/**/*.test.ts'];
/**
 * The console in a real browser (chromium via playwright-core): its own project, part of `npm test`, run on its own
 * after `main` — beside the main files' worker processes and timers it missed its waits on a loaded machine.
 */
const BROWSER = ['tests/console/**/*.test.ts'];
/**
 * The production topology on a real Temporal server (Postgres persistence, SQL visibility; src/temporal/cluster.ts):
 * two worker and two API processes per file. Its own global setup (not the dev server's), files one at a time, last.
 */
const CLUSTER = ['tests/cluster/**/*.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['tests/helpers/global-setup.ts'],
    // Temporal-backed tests start workers and wait on real (second-scale) timers. What an idle machine needs, stretched
    // by the load at start (or TEST_TIME_SCALE): see tests/helpers/timing.ts.
    testTimeout: scaled(60_000),
    hookTimeout: scaled(120_000),
    pool: 'forks',
    // Two cores are shared by the dev server, Postgres and the test workers.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'main', include: ['tests/**/*.test.ts'], exclude: [...HEAVY, ...CHAOS, ...DIFFERENTIAL, ...BROWSER, ...CLUSTER], sequence: { groupOrder: 0 } } },
      // One file at a time: each starts its own stack and chromium, which beside another's missed their waits.
      { extends: true, test: { name: 'browser', include: BROWSER, fileParallelism: false, sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: 'heavy', include: HEAVY, sequence: { groupOrder: 2 } } },
      {
        extends: true,
        test: {
          name: 'chaos',
          include: CHAOS,
          // The teardown merges bench/results/chaos-parts/*.json into chaos.json and prints the one-line summary.
          globalSetup: ['tests/chaos/summary-setup.ts'],
          testTimeout: scaled((CHAOS_FULL ? 90 : 15) * 60_000),
          hookTimeout: scaled(300_000),
          sequence: { groupOrder: 3 },
        },
      },
      { extends: true, test: { name: 'differential', include: DIFFERENTIAL, testTimeout: scaled(60 * 60_000), sequence: { groupOrder: 4 } } },
      {
        // Not `extends`: the root's global setup would start a dev server this project does not use.
        test: {
          name: 'cluster',
          include: CLUSTER,
          globalSetup: ['tests/cluster/global-setup.ts'],
          pool: 'forks',
          fileParallelism: false,
          testTimeout: scaled(10 * 60_000),
          hookTimeout: scaled(300_000),
          sequence: { groupOrder: 5 },
        },
      },
    ],
  },
});
