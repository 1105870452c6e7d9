// @ts-check
// ESLint flat config (ESLint 10). `npm run lint` (eslint .) uses it; tests/deploy/eslint-rules.test.ts proves the rules that
// matter most: workflow code stays deterministic, and no promise is left floating.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** TypeScript sources that belong to tsconfig.json and get type-aware rules. */
const TYPED_FILES = ['src/**/*.ts', 'tests/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts'];

const WORKFLOW_SANDBOX =
  'Workflow code runs in the deterministic Temporal sandbox and is bundled with webpack: do I/O in an activity instead.';

/**
 * Everything src/workflows/** may not import. Temporal replays workflow code, so it must not reach Node APIs,
 * databases, mail, or the API layer; those belong in activities. `import type` of the activities' interface is fine
 * (it is erased at compile time and is how proxyActivities<Activities>() gets its types).
 */
const workflowRestrictedImports = {
  paths: [
    ...builtinModules
      .filter((name) => !name.startsWith('_'))
      .map((name) => ({ name, message: `Node builtin '${name}' is not available in workflows. ${WORKFLOW_SANDBOX}` })),
    ...['pg', 'handlebars', 'zod', 'yaml', 'express', 'pino'].map((name) => ({
      name,
      message: `'${name}' must not be imported from workflow code. ${WORKFLOW_SANDBOX}`,
    })),
  ],
  patterns: [
    { group: ['node:*'], message: `Node builtins are not available in workflows. ${WORKFLOW_SANDBOX}` },
    {
      group: ['pg/**', 'pg-*', 'drizzle-orm', 'drizzle-orm/**', 'drizzle-kit', 'drizzle-kit/**', '@electric-sql/*'],
      message: `Database clients must not be imported from workflow code. ${WORKFLOW_SANDBOX}`,
    },
    {
      group: ['nodemailer', 'nodemailer/**', 'nodemailer-*', 'express/**', 'pino/**', 'pino-*', 'zod/**', 'yaml/**'],
      message: `This package must not be imported from workflow code. ${WORKFLOW_SANDBOX}`,
    },
    {
      regex: '^(\\.\\./)+(db|api|channels|templates|wiring|runs|publishing|ingest|contacts)(/.*)?$',
      message: `src/db, api, channels, templates, wiring, runs, publishing, ingest and contacts do I/O and must not be imported from workflow code. ${WORKFLOW_SANDBOX}`,
    },
    {
      regex: '^(\\.\\./)+activities(/.*)?$',
      allowTypeImports: true,
      message:
        'Import activities into workflows only as types (`import type { Activities } from ../activities`) and call ' +
        'them through proxyActivities().',
    },
  ],
};

/** Node globals for the few plain JS files (this config, bin/*.mjs). */
const nodeGlobals = Object.fromEntries(
  ['process', 'console', 'URL', 'URLSearchParams', 'Buffer', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'fetch', 'AbortController', 'AbortSignal', 'structuredClone', 'queueMicrotask'].map(
    (name) => [name, 'readonly'],
  ),
);

export default defineConfig(
  globalIgnores(['**/node_modules/', '.data/', '.tools/', 'dist/', 'console/dist/', 'drizzle/', 'coverage/', 'bench/results/']),
  {
    linterOptions: { reportUnusedDisableDirectives: 'warn' },
  },
  js.configs.recommended,
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: nodeGlobals },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
  // Syntax-only TypeScript rules for every .ts file (root config files such as drizzle.config.ts included) and the
  // console's .tsx (type-checked by `tsc -p console` in `npm run typecheck`).
  {
    files: ['**/*.ts', '**/*.mts', '**/*.cts', '**/*.tsx'],
    extends: [tseslint.configs.recommended],
  },
  {
    files: ['**/*.ts', '**/*.mts', '**/*.cts', '**/*.tsx'],
    rules: {
      // TypeScript itself reports undefined names; the core rule only produces false positives on types.
      'no-undef': 'off',
      '@typescript-eslint/no-explicit-any': 'warn',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  // Type-aware rules for the sources that tsconfig.json covers.
  {
    files: TYPED_FILES,
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // Express 5 handles async handlers, so passing one where a void callback is expected is fine.
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
    },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': ['error', workflowRestrictedImports],
    },
  },
);
