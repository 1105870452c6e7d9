/**
 * The differential suite's body, whatever production is: publish a journey scaled to seconds, run generated cases on
 * both sides (harness.ts), shrink the first divergent case and report it. differential.test.ts drives it on the dev
 * server through the in-process stack; tests/cluster/differential.test.ts on the cluster through API and worker
 * processes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { compileOrThrow } from '../../src/journey/compiler';
import { publishJourney, setJourneyStatus } from '../../src/publishing/journeys';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { JOURNEYS_DIR, TEMPLATES_DIR } from '../../src/paths';
import { LOCAL_ALLOW } from '../helpers/outbound';
import { caseArb, type Case } from './cases';
import { journeyArb } from './generated';
import { chooseScale, describeCase, JournalPoller, runCase, type CaseOutcome, type Driver, type PreparedJourney, type Production } from './harness';

export async function pool<T, R>(items: T[], limit: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
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

/** The sample journeys (journeys/*.yaml but the scoring model), narrowed to `only` when given. */
export function sampleJourneys(only?: string[]): string[] {
  return readdirSync(JOURNEYS_DIR)
    .filter((f) => f.endsWith('.yaml') && f !== 'scoring.yaml')
    .map((f) => f.replace(/\.yaml$/, ''))
    .filter((n) => !only || only.includes(n))
    .sort();
}

export interface SuiteOptions {
  production: Production;
  /** Where webhook URLs on example.com are pointed (a local receiver). */
  receiverUrl: string;
  runTag: string;
  /** Runs driven at once. */
  concurrency: number;
  /** Prefix of the lines printed (`differential`, `differential(cluster)`). */
  label: string;
}

export type DifferentialSuite = ReturnType<typeof differentialSuite>;

export function differentialSuite(o: SuiteOptions) {
  // Loaded once (MJML layouts compile asynchronously), awaited by each journey's preparation.
  const catalog = loadTemplateCatalog(TEMPLATES_DIR);
  const db = o.production.db;
  const driver: Driver = { production: o.production, journal: new JournalPoller(db), runTag: o.runTag };
  const totals = { journeys: 0, timelines: 0, divergences: 0, late: 0 };

  /** Publishes a journey scaled to seconds; webhook URLs on example.com are pointed at the local receiver. */
  async function prepare(id: string, source: string): Promise<PreparedJourney> {
    const local = source.replace(/https:\/\/[a-z0-9.-]*example\.com/g, o.receiverUrl);
    const templates = await catalog;
    const unscaled = compileOrThrow(local, { templates, outboundAllow: LOCAL_ALLOW });
    const factor = chooseScale(unscaled);
    const { version } = await publishJourney(db, local, { templates, outboundAllow: LOCAL_ALLOW, timeScale: factor });
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

  /** Runs `count` cases of a journey; pushes a report when any diverges. */
  async function check(j: PreparedJourney, count: number, seed: number, reports: string[]): Promise<void> {
    const arb = caseArb(j.plan, { maxEvents: 5 });
    const cases = fc.sample(arb, { seed, numRuns: count });
    const outcomes = await pool(cases, o.concurrency, (kase, i) => once(j, kase, i));
    totals.journeys += 1;
    totals.timelines += outcomes.length;
    // What the cases reached, so a suite that only ever walks one path shows it.
    const paths = new Set(outcomes.map((x) => x.expected.path.join('>')));
    const cut = outcomes.filter((x) => x.expected.calendarTimer !== undefined || x.expected.outcome.startsWith('waiting')).length;
    const events = outcomes.reduce((a, x) => a + x.placed.length, 0);
    console.log(`${o.label}: ${j.id} timelines=${outcomes.length} paths=${paths.size} compared-at-calendar-timer=${cut} events=${events}`);
    const bad = outcomes.map((x, i) => ({ x, i })).filter(({ x }) => x.diffs.length > 0);
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
        describeCase(j, cases[first.i]!, first.x),
        ...(result.failed && shrunk ? [`shrunk after ${result.numShrinks} shrinks:`, shrunk] : ['(shrinking did not reproduce it)']),
      ].join('\n'),
    );
  }

  return {
    driver,
    totals,
    prepare,
    /** Each named sample journey in turn, `perJourney` cases each; the reports of those that diverge. */
    async samples(names: string[], perJourney: number, seed: number): Promise<string[]> {
      const reports: string[] = [];
      for (const [k, name] of names.entries()) {
        const j = await prepare(name, readFileSync(path.join(JOURNEYS_DIR, `${name}.yaml`), 'utf8'));
        await check(j, perJourney, seed + k, reports);
        // Its triggers must not start runs while the next journey's timelines are posted.
        await setJourneyStatus(db, name, 'pause');
      }
      return reports;
    },
    /** `count` generated journeys, `perJourney` cases each; the reports of those that diverge. */
    async generated(count: number, perJourney: number, seed: number): Promise<string[]> {
      const reports: string[] = [];
      const journeys = Array.from({ length: count }, (_, i) => fc.sample(journeyArb(i), { seed: seed + 1000 + i, numRuns: 1 })[0]!);
      for (const [i, g] of journeys.entries()) {
        const j = await prepare(g.id, JSON.stringify(g.source));
        await check(j, perJourney, seed + 2000 + i, reports);
        await setJourneyStatus(db, g.id, 'pause');
      }
      return reports;
    },
    /** The closing lines: the totals, and the re-runs a slow machine caused. */
    summary(): string[] {
      return [
        `${o.label}: journeys=${totals.journeys} timelines=${totals.timelines} divergences=${totals.divergences}`,
        ...(totals.late ? [`${o.label}: ${totals.late} case(s) re-run because an event could not be posted within the margin`] : []),
      ];
    },
  };
}
