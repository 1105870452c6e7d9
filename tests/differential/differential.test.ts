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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileOrThrow } from '../../src/journey/compiler';
import { setJourneyStatus } from '../../src/publishing/journeys';
import { startTestStack, type TestStack } from '../helpers/stack';
import { json, startHttp, type TestHttp } from '../channels/support/http';
import { describeCase, runCase, stackProduction } from './harness';
import { differentialSuite, sampleJourneys, type DifferentialSuite } from './suite';

const FULL = process.env.DIFFERENTIAL_FULL === '1';
const PER_SAMPLE = Number(process.env.DIFFERENTIAL_TIMELINES ?? (FULL ? 200 : 50));
const GENERATED_JOURNEYS = Number(process.env.DIFFERENTIAL_GENERATED ?? (FULL ? 20 : 4));
const PER_GENERATED = 15;
/** Runs driven at once on the one dev server. */
const CONCURRENCY = Number(process.env.DIFFERENTIAL_CONCURRENCY ?? 25);
const SEED = Number(process.env.DIFFERENTIAL_SEED ?? Date.now() % 2_147_483_647);

describe('differential: simulator vs production', () => {
  let stack: TestStack;
  let receiver: TestHttp;
  let suite: DifferentialSuite;

  beforeAll(async () => {
    receiver = await startHttp((_req, res) => json(res, 200, { ok: true }));
    // Runs enter by their trigger event (or the date sweep), after the case's contact is written: creating it must not
    // enter industry-content by its change trigger first (change and audience entries: tests/e2e/contact-changes).
    stack = await startTestStack({ contactTriggers: false });
    suite = differentialSuite({ production: stackProduction(stack), receiverUrl: receiver.url, runTag: SEED.toString(36), concurrency: CONCURRENCY, label: 'differential' });
  });
  afterAll(async () => {
    for (const line of suite?.summary() ?? []) console.log(line);
    await stack?.stop();
    await receiver?.close();
  });

  // DIFFERENTIAL_ONLY=name,name narrows the samples (when chasing one divergence).
  const samples = sampleJourneys(process.env.DIFFERENTIAL_ONLY?.split(','));

  it(`every sample journey (${samples.join(', ')}) behaves in production as simulated`, { timeout: 60 * 60_000 }, async () => {
    const reports = await suite.samples(samples, PER_SAMPLE, SEED);
    expect(reports.join('\n\n')).toBe('');
  });

  it('generated journeys behave in production as simulated', { timeout: 60 * 60_000 }, async () => {
    const reports = await suite.generated(GENERATED_JOURNEYS, PER_GENERATED, SEED);
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
    const published = await suite.prepare('diff-self-check', source('seen', '1d'));
    const lying = { ...published, plan: compileOrThrow(source('other', '1d'), { timeScale: published.factor }) };
    const out = await runCase(suite.driver, lying, { fields: {}, tags: [], zone: 'UTC', locale: 'en', trigger: {}, events: [] }, 0);
    expect(out.diffs).toEqual([expect.stringMatching(/^tags: simulator \["other"\] ≠ production \["seen"\]$/)]);
    expect(describeCase(lying, { fields: {}, tags: [], zone: 'UTC', locale: 'en', trigger: {}, events: [] }, out)).toContain('journey diff-self-check');
    await setJourneyStatus(stack.db.db, 'diff-self-check', 'pause');
  });
});
