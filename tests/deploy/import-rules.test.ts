import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cruise, type IConfiguration, type ICruiseResult } from 'dependency-cruiser';
import { afterAll, describe, expect, it } from 'vitest';

// Proves the import rules that `npm run lint` enforces with dependency-cruiser (.dependency-cruiser.cjs): they fire on a
// deliberate cycle and on a contract that reaches into its implementation, and the real tree breaks none of them.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const config = createRequire(import.meta.url)(path.join(ROOT, '.dependency-cruiser.cjs')) as IConfiguration;

const fixture = mkdtempSync(path.join(os.tmpdir(), 'itinera-import-rules-'));
afterAll(() => rmSync(fixture, { recursive: true, force: true }));

/** Writes `files` under a fresh `src/` of the fixture and cruises it with the repository's rules. */
async function cruiseFixture(name: string, files: Record<string, string>): Promise<{ rule: string; from: string; to: string }[]> {
  const base = path.join(fixture, name);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(base, file)), { recursive: true });
    writeFileSync(path.join(base, file), text);
  }
  const cwd = process.cwd();
  process.chdir(base);
  try {
    const result = await cruise(['src'], { ruleSet: { forbidden: config.forbidden ?? [] }, validate: true, tsPreCompilationDeps: true });
    const out = result.output as ICruiseResult;
    return out.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to }));
  } finally {
    process.chdir(cwd);
  }
}

describe('import rules (npm run lint)', () => {
  it('refuses a deliberately added import cycle', async () => {
    const violations = await cruiseFixture('cycle', {
      'src/activities/launch.ts': "import { routeEvent } from '../ingest/router';\nexport const launch = () => routeEvent();\n",
      'src/ingest/router.ts': "import type { Activities } from '../activities/index';\nexport const routeEvent = (): Activities | undefined => undefined;\n",
      'src/activities/index.ts': "import { launch } from './launch';\nexport type Activities = ReturnType<typeof launch>;\n",
    });
    const cycles = violations.filter((v) => v.rule === 'no-circular');
    expect(cycles.length).toBeGreaterThan(0);
    const cycle = ['src/activities/index.ts', 'src/activities/launch.ts', 'src/ingest/router.ts'];
    for (const v of cycles) expect(cycle).toContain(v.from);
    expect(violations.filter((v) => v.rule !== 'no-circular')).toEqual([]);
  });

  it('refuses a contract that imports the code implementing it, and a workflow that bypasses the contract', async () => {
    const violations = await cruiseFixture('contract', {
      'src/contracts/activities.ts': "import type { Row } from '../db/schema';\nexport type Activities = { load(): Promise<Row> };\n",
      'src/db/schema.ts': 'export type Row = { id: string };\n',
      'src/workflows/journey.ts': "import type { Row } from '../db/schema';\nimport type { Activities } from '../contracts/activities';\nexport type W = [Row, Activities];\n",
    });
    expect(violations).toEqual(
      expect.arrayContaining([
        { rule: 'contracts-stand-alone', from: 'src/contracts/activities.ts', to: 'src/db/schema.ts' },
        { rule: 'workflows-through-contracts', from: 'src/workflows/journey.ts', to: 'src/db/schema.ts' },
      ]),
    );
    expect(violations).toHaveLength(2);
  });

  it('finds no violation in the real tree, through the same command as npm run lint', async () => {
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, [path.join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs'), 'src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd: ROOT });
    expect(stdout).toMatch(/no dependency violations found \(\d+ modules/);
  });
});
