/**
 * The console's browser tests share these: the console built into a folder of the test's own, Debian's chromium via
 * playwright-core, axe-core inside the page, a page watcher that records CSP refusals, uncaught errors and failed
 * requests, and signing in with a key.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import axe from 'axe-core';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PROJECT_ROOT } from '../../src/paths';
import { scaled } from './timing';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Screenshots of the console tests (gitignored). */
export const CONSOLE_ARTIFACTS = path.join(PROJECT_ROOT, 'test-artifacts', 'console');
export const BROWSER_WAIT = scaled(30_000);

/** The console as `npm run console:build` makes it, into a fresh folder; returns the folder. */
export function buildConsoleInto(): string {
  const dist = mkdtempSync(path.join(tmpdir(), 'itinera-console-'));
  execFileSync(process.execPath, [path.join(PROJECT_ROOT, 'node_modules/vite/bin/vite.js'), 'build', 'console', '--outDir', dist, '--emptyOutDir', '--logLevel', 'warn'], { cwd: PROJECT_ROOT });
  return dist;
}

/** --no-sandbox: CI runs as root, where chromium's sandbox cannot start. */
export const launchChromium = (): Promise<Browser> => chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });

export type AxeResult = { id: string; impact: string | null; help: string; nodes: { target: unknown }[] };

/** axe-core run inside the page (evaluated by the debugger protocol: the page's CSP stays in force for our own code). */
export async function seriousViolations(page: Page): Promise<AxeResult[]> {
  await page.evaluate(axe.source);
  // Strings, not functions: the tests are compiled without the DOM's types.
  const violations = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations)`)) as AxeResult[];
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => ({ target: n.target })) }));
}

/**
 * Records into `problems` what makes a page broken: a CSP refusal or an uncaught error, a console error, and any
 * failed request but a 401 (expected before sign-in and after sign-out).
 */
export function watchProblems(page: Page, problems: string[]): void {
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/status of 40[13]/.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400 && res.status() !== 401) problems.push(`${res.status()} ${res.url()}`);
  });
}

/** Signs in on `p` (the sign-in form showing) with a key, in English. */
export async function signInAs(p: Page, key: string): Promise<void> {
  await p.getByLabel('API key').fill(key);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: BROWSER_WAIT });
}

/** How the console writes a time: `2026-12-07 09:00 (Asia/Shanghai)` (console/src/format.ts), optionally with seconds. */
export const LABELLED_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})? \((UTC|[A-Za-z_]+(\/[A-Za-z0-9_+-]+)+)\)$/;
