import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { buildApp, type AppDeps } from '../../src/api/app';
import { CONSOLE_MISSING } from '../../src/api/console';
import { PROJECT_ROOT } from '../../src/paths';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { createTestDatabase } from '../helpers/db';
import { connectTestTemporal, type TestTemporal } from '../helpers/temporal';

describe('the console served at / by the API', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let temporal: TestTemporal;
  let deps: AppDeps;
  const dist = mkdtempSync(path.join(tmpdir(), 'itinera-console-'));

  beforeAll(async () => {
    // A fresh build of the real console into a folder of this test's own.
    execFileSync(process.execPath, [path.join(PROJECT_ROOT, 'node_modules/vite/bin/vite.js'), 'build', 'console', '--outDir', dist, '--emptyOutDir', '--logLevel', 'warn'], { cwd: PROJECT_ROOT });
    [db, temporal] = await Promise.all([createTestDatabase(), connectTestTemporal()]);
    deps = { database: db, temporal: temporal.client, taskQueue: temporal.taskQueue, triggers: dbTriggerSource(db.db), signingSecrets: ['s'.repeat(32)] };
  });
  afterAll(async () => {
    await temporal?.close();
    await db?.drop();
  });

  it('serves the built page with the app’s CSP, no inline script, and cacheable hashed assets', async () => {
    const app = buildApp({ ...deps, consoleDist: dist });
    const page = await request(app).get('/').expect(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['cache-control']).toBe('no-cache');
    const scripts = [...page.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      expect(body!.trim(), 'inline script').toBe('');
      expect(attrs).toMatch(/src="\/assets\/[\w.-]+\.js"/);
    }
    expect(page.text).not.toMatch(/https?:\/\//);
    const src = /src="(\/assets\/[\w.-]+\.js)"/.exec(page.text)![1]!;
    const js = await request(app).get(src).expect(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    expect(js.headers['cache-control']).toMatch(/max-age=31536000.*immutable/);
    expect(readdirSync(path.join(dist, 'assets')).length).toBeGreaterThan(2);
    expect(js.text).toBe(readFileSync(path.join(dist, src)).toString('utf8'));
    await request(app).get('/assets/nope.js').expect(404);
    // The API is unchanged beside it.
    await request(app).get('/healthz').expect(200);
  });

  it('answers / with a bilingual message naming the build command when the console is not built', async () => {
    const app = buildApp({ ...deps, consoleDist: path.join(dist, 'missing') });
    const res = await request(app).get('/').expect(503);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.text).toBe(CONSOLE_MISSING);
    expect(res.text).toContain('npm run console:build');
    expect(res.text).toMatch(/尚未构建/);
  });
});
