import path from 'node:path';

// Where the project's own files are. Beside config.ts rather than in wiring/: API routes, the CLI, tests and the
// benchmarks read these locations too, and none of them should have to import the composition root to do so.

export const PROJECT_ROOT = path.resolve(new URL('..', import.meta.url).pathname);
export const JOURNEYS_DIR = path.join(PROJECT_ROOT, 'journeys');
export const TEMPLATES_DIR = path.join(JOURNEYS_DIR, 'templates');
export const SCORING_MODEL_FILE = path.join(JOURNEYS_DIR, 'scoring.yaml');
/** In a subdirectory so the journey publisher, which takes every journeys/*.yaml, does not read it as a journey. */
export const SALES_FILE = path.join(JOURNEYS_DIR, 'sales', 'teams.yaml');
/** The built web console (`npm run console:build`), served at `/` by the API. */
export const CONSOLE_DIST = path.join(PROJECT_ROOT, 'console', 'dist');
