/**
 * The console's journey page with many runs: seeds N runs (default 100,000) of one journey straight into the tables
 * the worker writes (journey_runs, journey_run_steps, conversions, and one email per run in messages over 30 days),
 * then times the journey page's API calls (journey, plan, live, stats) and the dashboard's (funnel, response times,
 * messages by channel) over real HTTP with a session cookie, and — when chromium is installed — a headless load of
 * the journey page until its node counts show and of the dashboard until its chart shows. Also reports the initial
 * bundle's gzipped size and the machine's /proc/loadavg before and after (the machine may be shared).
 *   npm run bench:console -- [count=100000] [--samples 20]
 * Uses a fresh Postgres database from DATABASE_URL (or PGlite). Not a test: the numbers depend on the machine;
 * results go to bench/results/console.json. Targets from issue 16: page ≤ 1 s with 100,000 runs, bundle ≤ 500 kB.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { Client } from '@temporalio/client';
import { sql } from 'drizzle-orm';
import { buildApp } from '../src/api/app';
import { createApiKey } from '../src/api/auth';
import { CONSOLE_DIST, PROJECT_ROOT } from '../src/paths';
import { dbTriggerSource, publishJourney } from '../src/publishing/journeys';
import { createTestDatabase } from '../tests/helpers/db';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const count = Number(args.find((a, i) => /^\d+$/.test(a) && !args[i - 1]?.startsWith('--')) ?? 100_000);
const samples = flag('samples', 20);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const JOURNEY = `
id: bench-console
name: Console benchmark
triggers: [{ type: event, event: trial.started }]
goals: [{ id: demo, name: Demo booked, event: demo.booked }]
start: welcome
steps:
  welcome: { type: send_email, template: welcome, next: wait-demo }
  wait-demo: { type: wait_for_event, event: demo.booked, timeout: 7d, on_event: pick, on_timeout: nudge }
  nudge: { type: wait, duration: 1d, next: done }
  pick:
    type: split
    paths:
      - { name: a, percent: 50, next: done }
      - { name: b, percent: 50, next: done }
  done: { type: exit }
`;

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const round = (x: number) => Math.round(x * 10) / 10;

/** The gzipped size of what the first page load fetches: index.html and the assets it names (not lazy chunks). */
function initialBundle(dist: string): { files: string[]; gzipBytes: number } {
  const html = readFileSync(path.join(dist, 'index.html'), 'utf8');
  const files = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
  const gzipBytes = [html, ...files.map((f) => readFileSync(path.join(dist, f)))].reduce((a, b) => a + gzipSync(b).length, 0);
  return { files: ['index.html', ...files], gzipBytes };
}

/**
 * The page's report (asked for once its counts are in, not timed): awaited before the page closes, so a load's report
 * query does not run on in the database beside the next load's counts — each load is timed on a server serving only it.
 */
const statsAnswered = (page: import('playwright-core').Page) => page.waitForResponse((r) => new URL(r.url()).pathname.endsWith('/stats'), { timeout: 120_000 });

/**
 * One load of the journey page with its requests' times from the navigation (warm HTTP cache, as the timed loads), and
 * when the entered count of the first step showed: where the page's time goes.
 */
async function traceLoad(context: import('playwright-core').BrowserContext, url: string, expected: string) {
  const page = await context.newPage();
  const requests: { url: string; start: number; end: number }[] = [];
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  const stats = statsAnswered(page);
  const t0 = Date.now();
  page.on('requestfinished', (req) => {
    const tm = req.timing();
    const u = new URL(req.url());
    requests.push({ url: `${u.pathname}${u.search}`, start: Math.round(tm.startTime - t0), end: Math.round(tm.startTime - t0 + tm.responseEnd) });
  });
  await page.goto(url);
  const counter = page.locator('.react-flow__node[data-id="welcome"] [data-count="entered"]');
  await counter.waitFor({ timeout: 60_000 });
  while ((await counter.textContent()) !== expected) await page.waitForTimeout(5);
  const countsShown = Date.now() - t0;
  // The main thread's busy time until then (script, style, layout): what the page costs the browser, apart from waits.
  const { metrics } = await cdp.send('Performance.getMetrics');
  const metric = (name: string) => Math.round((metrics.find((x) => x.name === name)?.value ?? 0) * 1000);
  const mainThread = { taskMs: metric('TaskDuration'), scriptMs: metric('ScriptDuration'), layoutMs: metric('LayoutDuration'), styleMs: metric('RecalcStyleDuration') };
  // The console's own marks (performance.mark('itinera:…')): when the counts arrived.
  await stats;
  const offset = await page.evaluate(() => performance.timeOrigin);
  const marks = (await page.evaluate(() => performance.getEntriesByType('mark').map((e) => ({ name: e.name, at: e.startTime })))).map((mk) => ({ name: mk.name, at: Math.round(mk.at + offset - t0) }));
  await page.close();
  return { requests: requests.sort((a, b) => a.start - b.start), marks, countsShown, mainThread };
}

/** The 1, 5 and 15 minute load averages and running/total tasks, as /proc/loadavg says (the machine may be shared). */
const loadavg = () => (existsSync('/proc/loadavg') ? readFileSync('/proc/loadavg', 'utf8').trim() : os.loadavg().join(' '));

async function main() {
  const loadavgBefore = loadavg();
  console.log(`loadavg before: ${loadavgBefore}`);
  // The console as the code is now.
  execFileSync('npm', ['run', '--silent', 'console:build'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  const db = await createTestDatabase({ poolSize: 10, prefix: 'itinera_bench' });
  const server = { close: () => undefined } as { close(): void };
  try {
    await publishJourney(db.db, JOURNEY, { publishedBy: 'bench' });
    const t0 = process.hrtime.bigint();
    // Every run entered `welcome`; 60% wait at wait-demo, 10% wait at nudge, 20% done (half through the split,
    // converting), 10% failed at welcome.
    await db.db.execute(sql`
      insert into journey_runs (workflow_id, run_id, journey_id, version, contact_id, current_step, status, started_at)
      select 'journey:bench-console:' || i, 'r' || i, 'bench-console', 1, gen_random_uuid(),
        case when i % 10 < 6 then 'wait-demo' when i % 10 = 6 then 'nudge' when i % 10 < 9 then 'done' else 'welcome' end,
        case when i % 10 < 7 then 'running' when i % 10 < 9 then 'completed' else 'failed' end,
        now() - (i % 14) * interval '1 day'
      from generate_series(1, ${count}) i`);
    await db.db.execute(sql`
      insert into journey_run_steps (workflow_id, run_id, seq, journey_id, version, contact_id, step_id, entered_at)
      select r.workflow_id, r.run_id, s.seq, r.journey_id, 1, r.contact_id, s.step, r.started_at + s.seq * interval '1 minute'
      from journey_runs r
      cross join lateral (values (1, 'welcome'), (2, 'wait-demo'), (3, r.current_step)) s(seq, step)
      where r.journey_id = 'bench-console' and (s.seq = 1 or (s.seq = 2 and r.current_step <> 'welcome') or (s.seq = 3 and r.current_step in ('nudge', 'done')))`);
    await db.db.execute(sql`
      insert into conversions (idempotency_key, journey_id, version, contact_id, goal)
      select r.workflow_id || ':goal:demo', r.journey_id, 1, r.contact_id, 'demo'
      from journey_runs r where r.journey_id = 'bench-console' and r.current_step = 'done' and right(r.workflow_id, 1) in ('7')`);
    // One message per run (a tenth SMS), spread over the last 29 days: inside the dashboard's 30 days however long the
    // seeding and the timings before it take, so its chart must count every one.
    await db.db.execute(sql`
      insert into messages (idempotency_key, channel, contact_id, journey_id, workflow_id, step_id, recipient, status, created_at, sent_at)
      select r.workflow_id || ':welcome', case when right(r.workflow_id, 1) = '3' then 'sms' else 'email' end, r.contact_id, r.journey_id, r.workflow_id, 'welcome',
        'bench@example.com', case when right(r.workflow_id, 1) = '9' then 'bounced' else 'delivered' end,
        now() - (hashtext(r.workflow_id)::bigint & 2147483647) % (29 * 86400) * interval '1 second', now()
      from journey_runs r where r.journey_id = 'bench-console'`);
    for (const table of ['journey_runs', 'journey_run_steps', 'conversions', 'messages']) await db.db.execute(sql.raw(`analyze ${table}`));
    const seedMs = ms(t0);
    console.log(`seeded ${count} runs in ${round(seedMs / 1000)} s`);

    // A real client object that never connects: the routes timed here read only the database.
    const app = buildApp({ database: db, temporal: new Client(), taskQueue: 'bench', triggers: dbTriggerSource(db.db), signingSecrets: ['bench-signing-secret-0123456789abcdef'], rateLimit: { perSecond: 1e6, burst: 1e6 } });
    const http = await new Promise<ReturnType<typeof app.listen>>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    server.close = () => http.close();
    const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const key = await createApiKey(db.db, { name: 'bench', role: 'admin' });
    const signIn = await fetch(`${base}/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: key.key }) });
    const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;

    // The calls the journey page makes on open (journey, plan, live, stats) and on every refresh (live); the list's
    // two; the dashboard's three for its default 30 days.
    const to = new Date();
    const from = new Date(to.getTime() - 30 * 86_400_000);
    const range = `from=${from.toISOString()}&to=${to.toISOString()}`;
    const PAGE_CALLS = ['/v1/journeys/bench-console', '/v1/journeys/bench-console/plan', '/v1/journeys/bench-console/live?version=1', '/v1/journeys/bench-console/stats?version=1'];
    const DASHBOARD_CALLS = [`/v1/analytics/funnel?${range}`, `/v1/analytics/response-times?${range}`, `/v1/analytics/messages?${range}&bucket=day&timeZone=Asia%2FShanghai`];
    const calls = [...PAGE_CALLS, '/v1/journeys?limit=200', '/v1/journeys/bench-console/live', ...DASHBOARD_CALLS];
    const timings: Record<string, { p50: number; p95: number; max: number }> = {};
    for (const c of calls) {
      const xs: number[] = [];
      for (let i = 0; i < samples + 2; i++) {
        const t = process.hrtime.bigint();
        const res = await fetch(base + c, { headers: { cookie } });
        if (!res.ok) throw new Error(`${c}: HTTP ${res.status}`);
        await res.arrayBuffer();
        if (i >= 2) xs.push(ms(t)); // two warm-ups
      }
      timings[c] = { p50: round(pct(xs, 50)), p95: round(pct(xs, 95)), max: round(Math.max(...xs)) };
      console.log(`${c.replace(range, '<30 days>').padEnd(72)} p50 ${timings[c]!.p50} ms  p95 ${timings[c]!.p95} ms`);
    }
    const live = (await (await fetch(`${base}/v1/journeys/bench-console/live?version=1`, { headers: { cookie } })).json()) as { steps: { stepId: string; entered: number }[] };
    const pageCalls = Math.max(...PAGE_CALLS.map((c) => timings[c]!.p95));
    const dashboardCalls = Math.max(...DASHBOARD_CALLS.map((c) => timings[c]!.p95));
    const messages = (await (await fetch(`${base}${DASHBOARD_CALLS[2]}`, { headers: { cookie } })).json()) as { channels: Record<string, { total: number }> };
    const counted = Object.values(messages.channels).reduce((a, c) => a + c.total, 0);
    if (counted !== count) throw new Error(`messages by channel counted ${counted} of ${count} messages`);

    let headless: { loads: number[]; p50: number; max: number } | null = null;
    let headlessDashboard: { loads: number[]; p50: number; max: number } | null = null;
    let trace: Awaited<ReturnType<typeof traceLoad>> | null = null;
    if (existsSync(CHROMIUM)) {
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      try {
        const context = await browser.newContext({ locale: 'en-US' });
        await context.addCookies([{ name: 'itinera_session', value: cookie.split('=')[1]!, url: base }]);
        const expected = new Intl.NumberFormat('en-US').format(live.steps.find((s) => s.stepId === 'welcome')!.entered);
        const loads: number[] = [];
        for (let i = 0; i < 6; i++) {
          const page = await context.newPage();
          const stats = statsAnswered(page);
          const t = process.hrtime.bigint();
          await page.goto(`${base}/#/journeys/bench-console`);
          const counter = page.locator('.react-flow__node[data-id="welcome"] [data-count="entered"]');
          await counter.waitFor({ timeout: 60_000 });
          while ((await counter.textContent()) !== expected) await page.waitForTimeout(10);
          if (i > 0) loads.push(round(ms(t))); // the first load warms the browser's cache of the bundle
          await stats;
          await page.close();
        }
        headless = { loads, p50: pct(loads, 50), max: Math.max(...loads) };
        console.log(`headless page load until counts show: p50 ${headless.p50} ms, max ${headless.max} ms`);
        trace = await traceLoad(context, `${base}/#/journeys/bench-console`, expected);
        console.log('one more load, traced (ms from navigation):');
        for (const r of trace.requests) console.log(`  ${String(r.start).padStart(5)}–${String(r.end).padEnd(5)} ${r.url}`);
        for (const mk of trace.marks) console.log(`  ${String(mk.at).padStart(5)}       mark ${mk.name}`);
        console.log(`  counts shown at ${trace.countsShown}; main thread busy ${trace.mainThread.taskMs} ms until then (script ${trace.mainThread.scriptMs}, style ${trace.mainThread.styleMs}, layout ${trace.mainThread.layoutMs})`);
        const expectedTotal = `Email: ${new Intl.NumberFormat('en-US').format(messages.channels.email?.total ?? 0)}`;
        const dashLoads: number[] = [];
        for (let i = 0; i < 6; i++) {
          const page = await context.newPage();
          const t = process.hrtime.bigint();
          await page.goto(`${base}/#/dashboard`);
          const legend = page.locator('[data-channel-total="email"]');
          await legend.waitFor({ timeout: 60_000 });
          if ((await legend.textContent())?.trim() !== expectedTotal) throw new Error(`dashboard shows ${await legend.textContent()}, not ${expectedTotal}`);
          if (i > 0) dashLoads.push(round(ms(t)));
          await page.close();
        }
        headlessDashboard = { loads: dashLoads, p50: pct(dashLoads, 50), max: Math.max(...dashLoads) };
        console.log(`headless dashboard load until the chart shows: p50 ${headlessDashboard.p50} ms, max ${headlessDashboard.max} ms`);
      } finally {
        await browser.close();
      }
    } else console.log(`no chromium at ${CHROMIUM}: headless load skipped`);

    const bundle = initialBundle(CONSOLE_DIST);
    const lazy = readdirSync(path.join(CONSOLE_DIST, 'assets')).filter((f) => !bundle.files.includes(`/assets/${f}`));
    const lazyGzip = Object.fromEntries(lazy.map((f) => [f, gzipSync(readFileSync(path.join(CONSOLE_DIST, 'assets', f))).length]));
    console.log(`initial bundle ${round(bundle.gzipBytes / 1024)} kB gzipped (${bundle.files.join(', ')})`);
    console.log(`loadavg after: ${loadavg()}`);
    const result = {
      scenario: 'console',
      params: { runs: count, samples },
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, os: `${os.platform()} ${os.release()}`, loadavgBefore, loadavgAfter: loadavg() },
      date: new Date().toISOString(),
      seedMs: round(seedMs),
      timingsMs: timings,
      metrics: [
        { name: 'journey page API calls, slowest p95', value: pageCalls, unit: 'ms', target: 1000, met: pageCalls <= 1000 },
        ...(headless ? [{ name: 'headless journey page load until counts show, p50', value: headless.p50, unit: 'ms', target: 1000, met: headless.p50 <= 1000 }] : []),
        { name: 'dashboard API calls, slowest p95', value: dashboardCalls, unit: 'ms' },
        ...(headlessDashboard ? [{ name: 'headless dashboard load until the chart shows, p50', value: headlessDashboard.p50, unit: 'ms' }] : []),
        { name: 'initial bundle, gzipped', value: round(bundle.gzipBytes / 1024), unit: 'kB', target: 500, met: bundle.gzipBytes <= 500 * 1024 },
      ],
      headless,
      headlessDashboard,
      trace,
      bundle: { initial: bundle, lazyGzipBytes: lazyGzip },
    };
    mkdirSync(path.join(PROJECT_ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(path.join(PROJECT_ROOT, 'bench', 'results', 'console.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    server.close();
    if (process.env.BENCH_KEEP_DB === '1') console.log(`kept database ${db.url}`);
    else await db.drop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
