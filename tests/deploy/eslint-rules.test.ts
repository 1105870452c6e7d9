import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint, type Linter } from 'eslint';
import { describe, it, expect } from 'vitest';

// Proves the lint rules that protect the codebase, through ESLint's Node API and the repo's real eslint.config.js.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// lintText() with a path that does not exist on disk is not part of tsconfig.json's program, so the project service
// would refuse it. These probe paths are let in through `allowDefaultProject`, which typescript-eslint only uses for
// files outside every tsconfig; everything else (rules, file globs, parser) comes from eslint.config.js unchanged.
const WORKFLOW_PROBE = 'src/workflows/__eslint_probe__.ts';
const API_PROBE = 'src/api/__eslint_probe__.ts';

const eslint = new ESLint({
  cwd: ROOT,
  overrideConfigFile: path.join(ROOT, 'eslint.config.js'),
  overrideConfig: {
    files: [WORKFLOW_PROBE, API_PROBE],
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: [WORKFLOW_PROBE, API_PROBE], defaultProject: 'tsconfig.json' },
      },
    },
  },
});

async function lint(code: string, filePath = WORKFLOW_PROBE): Promise<Linter.LintMessage[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, filePath) });
  if (!result) throw new Error('ESLint returned no result');
  const fatal = result.messages.filter((m) => m.fatal);
  // A parse or config failure must fail the test loudly, not pass it by reporting "no restricted import".
  expect(fatal, JSON.stringify(fatal)).toEqual([]);
  return result.messages;
}

const errorsOf = (messages: Linter.LintMessage[], ruleId: string) =>
  messages.filter((m) => m.ruleId === ruleId && m.severity === 2);

const RESTRICTED = '@typescript-eslint/no-restricted-imports';

describe('eslint.config.js: workflow sandbox imports', () => {
  it('rejects Node builtins in workflow files (node: prefix and bare name)', async () => {
    expect(errorsOf(await lint(`import fs from 'node:fs';\nexport const a = fs;\n`), RESTRICTED)).toHaveLength(1);
    expect(errorsOf(await lint(`import { readFile } from 'fs/promises';\nexport const a = readFile;\n`), RESTRICTED)).toHaveLength(1);
    expect(errorsOf(await lint(`import { randomUUID } from 'crypto';\nexport const a = randomUUID;\n`), RESTRICTED)).toHaveLength(1);
  });

  it('rejects database, mail and server packages in workflow files', async () => {
    const pg = await lint(`import { Pool } from 'pg';\nexport const a = Pool;\n`);
    expect(errorsOf(pg, RESTRICTED)).toHaveLength(1);
    expect(errorsOf(pg, RESTRICTED)[0]?.message).toMatch(/activity/);
    for (const source of ['drizzle-orm', 'drizzle-orm/node-postgres', '@electric-sql/pglite', 'nodemailer', 'express', 'zod']) {
      const messages = await lint(`import * as m from '${source}';\nexport const a = m;\n`);
      expect(errorsOf(messages, RESTRICTED), source).toHaveLength(1);
    }
  });

  it('rejects value imports of activities, db, api and channels but allows `import type` of activities', async () => {
    const typeOnly = await lint(`import type { Activities } from '../activities';\nexport type A = Activities;\n`);
    expect(typeOnly.filter((m) => m.severity === 2)).toEqual([]);

    const value = await lint(`import * as activities from '../activities';\nexport const a = activities;\n`);
    expect(errorsOf(value, RESTRICTED)).toHaveLength(1);
    for (const source of ['../db/client', '../db', '../api/routes/health', '../channels/email']) {
      const messages = await lint(`import * as m from '${source}';\nexport const a = m;\n`);
      expect(errorsOf(messages, RESTRICTED), source).toHaveLength(1);
    }
  });

  it('allows the deterministic imports workflows are built from', async () => {
    const messages = await lint(
      `import { proxyActivities } from '@temporalio/workflow';\n` +
        `import { JourneyStepKey, type Activities } from '../contracts';\n` +
        `export const a = [proxyActivities, JourneyStepKey];\nexport type A = Activities;\n`,
    );
    expect(messages.filter((m) => m.severity === 2)).toEqual([]);
  });

  it('does not restrict the same imports outside src/workflows', async () => {
    const messages = await lint(`import { Pool } from 'pg';\nimport fs from 'node:fs';\nexport const a = [Pool, fs];\n`, API_PROBE);
    expect(errorsOf(messages, RESTRICTED)).toEqual([]);
  });
});

describe('eslint.config.js: promises', () => {
  it('reports a floating promise as an error (type-aware rule is active)', async () => {
    const code = `async function send(): Promise<void> {}\nexport function run(): void {\n  send();\n}\n`;
    for (const file of [WORKFLOW_PROBE, API_PROBE]) {
      expect(errorsOf(await lint(code, file), '@typescript-eslint/no-floating-promises'), file).toHaveLength(1);
    }
  });

  it('accepts the same call when it is awaited or explicitly voided', async () => {
    const code =
      `async function send(): Promise<void> {}\n` +
      `export async function run(): Promise<void> {\n  await send();\n  void send();\n}\n`;
    expect((await lint(code)).filter((m) => m.severity === 2)).toEqual([]);
  });
});
