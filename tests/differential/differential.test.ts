/**
 * The guard (issue 15, item 10): every sample journey in journeys/ and a set of generated journeys, each run on
 * generated contacts and event timelines through the simulator and through production (real workflow on the Temporal
 * dev server, Postgres, SMTP sink, POST /v1/events), compared on path, messages, tags, attributes, score changes,
 * goals and outcome. See harness.ts for how time and the calendar are handled.
 *
 * Quick mode (npm test): DIFFERENTIAL_TIMELINES (default 50) timelines per sample journey, 4 generated journeys with
 * 15 each. Full mode (npm run test:differential, DIFFERENTIAL_FULL=1): 200 per sample journey and 20 generated
 * journeys with 15 each (1,300 in all). Cases run in parallel; a divergent case is shrunk by fast-check (replaying
 * its generation path) and printed with both sides' results.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileOrThrow } from '../../src/journey/compiler';
import { publishJourney, setJourneyStatus } from '../../src/publishing/journeys';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { startTestStack, type TestStack } from '../helpers/stack';
import { json, startHttp, type TestHttp } from '../channels/support/http';
import { LOCAL_ALLOW } from '../helpers/outbound';
import { caseArb, type Case } from './cases';
import { journeyArb } from './generated';
import { chooseScale, describeCase, JournalPoller, runCase, type CaseOutcome, type Driver, type PreparedJourney } from './harness';

const FULL = process.env.DIFFERENTIAL_FULL === '1';
const PER_SAMPLE = Number(process.env.DIFFERENTIAL_TIMELINES ?? (FULL ? 200 : 50));
const GENERATED_JOURNEYS = Number(process.env.DIFFERENTIAL_GENERATED ?? (FULL ? 20 : 4));
const PER_GENERATED = 15;
/** Runs driven at once on the one dev server. */
const CONCURRENCY = Number(process.env.DIFFERENTIAL_CONCURRENCY ?? 25);
const SEED = Number(process.env.DIFFERENTIAL_SEED ?? Date.now() % 2_147_483_647);
const JOURNEYS_DIR = path.join(import.meta.dirname, '../../journeys');

async function pool<T, R>(items: T[], limit: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

const templates = await loadTemplateCatalog(TEMPLATES_DIR);

describe('differential: simulator vs production', () => {
  let stack: TestStack;
  let receiver: TestHttp;
  let driver: Driver;
  const totals = { journeys: 0, timelines: 0, divergences: 0, late: 0 };

  beforeAll(async () => {
    receiver = await startHttp((_req, res) => json(res, 200, { ok: true }));
    // Runs enter by their trigger event (or the date sweep), after the case's contact is written: creating it must not
    // enter industry-content by its change trigger first (change and audience entries: tests/e2e/contact-changes).
    stack = await startTestStack({ contactTriggers: false });
    driver = { stack, journal: new JournalPoller(stack), runTag: SEED.toString(36) };
  });
  afterAll(async () => {
    console.log(`differential: journeys=${totals.journeys} timelines=${totals.timelines} divergences=${totals.divergences}`);
    if (totals.late) console.log(`differential: ${totals.late} case(s) re-run because an event could not be posted within the margin`);
    await stack?.stop();
    await receiver?.close();
  });

  /** Publishes a journey scaled to seconds; webhook URLs on example.com are pointed at the local receiver. */
  async function prepare(id: string, source: string): Promise<PreparedJourney> {
    const local = source.replace(/https:\/\/[a-z0-9.-]*example\.com/g, receiver.url);
    const unscaled = compileOrThrow(local, { templates, outboundAllow: LOCAL_ALLOW });
    const factor = chooseScale(unscaled);
    const { version } = await publishJourney(stack.db.db, local, { templates, outboundAllow: LOCAL_ALLOW, timeScale: factor });
    const plan = compileOrThrow(local, { templates, outboundAllow: LOCAL_ALLOW, timeScale: factor });
    return { id, plan, factor, version };
  }

  /** One case; a case whose events could not be posted on time is run again (twice at most) with a fresh contact. */
  async function once(j: PreparedJourney, kase: Case, index: number): Promise<CaseOutcome> {
    let out = await runCase(driver, j, kase, index);
    for (let retry = 0; retry < 2 && out.late && out.diffs.length > 0; retry++) {
      totals.late += 1;
      out = await runCase(driver, j, kase, index);
    }
    return out;
  }

  /** Runs `count` cases of a journey; returns a report per divergent journey (empty when all agree). */
  async function check(j: PreparedJourney, count: number, seed: number, reports: string[]): Promise<void> {
    const arb = caseArb(j.plan, { maxEvents: 5 });
    const cases = fc.sample(arb, { seed, numRuns: count });
    const outcomes = await pool(cases, CONCURRENCY, (kase, i) => once(j, kase, i));
    totals.journeys += 1;
    totals.timelines += outcomes.length;
    // What the cases reached, so a suite that only ever walks one path shows it.
    const paths = new Set(outcomes.map((o) => o.expected.path.join('>')));
    const cut = outcomes.filter((o) => o.expected.calendarTimer !== undefined || o.expected.outcome.startsWith('waiting')).length;
    const events = outcomes.reduce((a, o) => a + o.placed.length, 0);
    console.log(`differential: ${j.id} timelines=${outcomes.length} paths=${paths.size} compared-at-calendar-timer=${cut} events=${events}`);
    const bad = outcomes.map((o, i) => ({ o, i })).filter(({ o }) => o.diffs.length > 0);
    totals.divergences += bad.length;
    if (bad.length === 0) return;
    // Shrink the first divergent case: fast-check replays its generation path and looks for a smaller failure.
    const first = bad[0]!;
    let shrunk: string | undefined;
    const result = await fc.check(
      fc.asyncProperty(arb, async (kase) => {
        const out = await once(j, kase, 10_000 + Math.floor(Math.random() * 1e6));
        if (out.diffs.length > 0) {
          shrunk = describeCase(j, kase, out);
          return false;
        }
        return true;
      }),
      { seed, path: String(first.i), numRuns: 1, endOnFailure: false, interruptAfterTimeLimit: 5 * 60_000 },
    );
    reports.push(
      [
        `${j.id}: ${bad.length} of ${outcomes.length} timelines diverge (seed ${seed})`,
        `first divergent case (#${first.i}):`,
        describeCase(j, cases[first.i]!, first.o),
        ...(result.failed && shrunk ? [`shrunk after ${result.numShrinks} shrinks:`, shrunk] : ['(shrinking did not reproduce it)']),
      ].join('\n'),
    );
  }

  // DIFFERENTIAL_ONLY=name,name narrows the samples (when chasing one divergence).
  const only = process.env.DIFFERENTIAL_ONLY?.split(',');
  const samples = readdirSync(JOURNEYS_DIR)
    .filter((f) => f.endsWith('.yaml') && f !== 'scoring.yaml')
    .map((f) => f.replace(/\.yaml$/, ''))
    .filter((n) => !only || only.includes(n))
    .sort();

  it(`every sample journey (${samples.join(', ')}) behaves in production as simulated`, { timeout: 60 * 60_000 }, async () => {
    const reports: string[] = [];
    for (const [k, name] of samples.entries()) {
      const j = await prepare(name, readFileSync(path.join(JOURNEYS_DIR, `${name}.yaml`), 'utf8'));
      await check(j, PER_SAMPLE, SEED + k, reports);
      // Its triggers must not start runs while the next journey's timelines are posted.
      await setJourneyStatus(stack.db.db, name, 'pause');
    }
    expect(reports.join('\n\n')).toBe('');
  });

  it('generated journeys behave in production as simulated', { timeout: 60 * 60_000 }, async () => {
    const reports: string[] = [];
    const journeys = Array.from({ length: GENERATED_JOURNEYS }, (_, i) => fc.sample(journeyArb(i), { seed: SEED + 1000 + i, numRuns: 1 })[0]!);
    for (const [i, g] of journeys.entries()) {
      const j = await prepare(g.id, JSON.stringify(g.source));
      await check(j, PER_GENERATED, SEED + 2000 + i, reports);
      await setJourneyStatus(stack.db.db, g.id, 'pause');
    }
    expect(reports.join('\n\n')).toBe('');
  });

  it('reports a divergence when production does not do what the simulator says (the harness can fail)', async () => {
    const source = (tag: string, wait: string) => `
id: diff-self-check
name: Self check
triggers: [{ type: event, event: selfcheck.started }]
steps:
  mark: { type: tag, tags: [${tag}], next: pause }
  pause: { type: wait, duration: ${wait}, next: done }
  done: { type: exit, reason: done }
`;
    // Production runs the published journey (tag "seen"); the simulator is given one that tags "other".
    const published = await prepare('diff-self-check', source('seen', '1d'));
    const lying = { ...published, plan: compileOrThrow(source('other', '1d'), { timeScale: published.factor }) };
    const out = await runCase(driver, lying, { fields: {}, tags: [], zone: 'UTC', locale: 'en', trigger: {}, events: [] }, 0);
    expect(out.diffs).toEqual([expect.stringMatching(/^tags: simulator \["other"\] ≠ production \["seen"\]$/)]);
    expect(describeCase(lying, { fields: {}, tags: [], zone: 'UTC', locale: 'en', trigger: {}, events: [] }, out)).toContain('journey diff-self-check');
    await setJourneyStatus(stack.db.db, 'diff-self-check', 'pause');
  });
});
