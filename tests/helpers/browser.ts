/**
 * The console's browser tests share these: the console built as `npm run console:build` makes it, Debian's chromium
 * driven by playwright-core, axe-core run inside the page, screenshots and the page's problems collected.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import axe from 'axe-core';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { PROJECT_ROOT } from '../../src/paths';
import { scaled } from './timing';
import { until } from './until';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = path.join(PROJECT_ROOT, 'test-artifacts', 'console');
export const WAIT = scaled(30_000);

/** The console built into a folder of the caller's own (as `npm run console:build` builds console/dist). */
export function buildConsole(): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  const dist = mkdtempSync(path.join(tmpdir(), 'itinera-console-'));
  // As `npm run console:build` ships it: vitest's NODE_ENV=test would make vite bundle React's development build (whose
  // StrictMode runs every effect twice).
  execFileSync(process.execPath, [path.join(PROJECT_ROOT, 'node_modules/vite/bin/vite.js'), 'build', 'console', '--outDir', dist, '--emptyOutDir', '--logLevel', 'warn'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, NODE_ENV: 'production' },
  });
  return dist;
}

/** Debian's chromium. --no-sandbox: CI runs as root, where chromium's sandbox cannot start. */
export const launchChromium = (): Promise<Browser> => chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });

/**
 * Collects what breaks a page into `problems`: a CSP refusal or an uncaught error (the bundle must run under the app's
 * own policy), and failed requests other than 401s (expected before sign-in and after sign-out).
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

type AxeResult = { id: string; impact: string | null; help: string; nodes: { target: unknown }[] };

/** axe-core run inside the page (evaluated by the debugger protocol: the page's CSP stays in force for our own code). */
export async function seriousViolations(page: Page): Promise<AxeResult[]> {
  await page.evaluate(axe.source);
  // Strings, not functions: the tests are compiled without the DOM's types.
  const violations = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations)`)) as AxeResult[];
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => ({ target: n.target })) }));
}

/** Polls the element's text on the open page (no reload) until it reads `text`. */
export const shows = (locator: Locator, text: string) => until(`"${text}" in ${locator.toString()}`, async () => ((await locator.textContent()) === text ? true : undefined));

/** A full-page screenshot into test-artifacts/console/. */
export const screenshot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

/** Signs in on `p` (the sign-in form showing) with a key, in English. */
export async function signInAs(p: Page, key: string): Promise<void> {
  await p.getByLabel('API key').fill(key);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: WAIT });
}

/** How the console writes a time: `2026-12-07 09:00 (Asia/Shanghai)` (console/src/format.ts), optionally with seconds. */
export const LABELLED_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})? \((UTC|[A-Za-z_]+(\/[A-Za-z0-9_+-]+)+)\)$/;
