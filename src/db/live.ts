/**
 * The live counts the console refreshes every few seconds: small, indexed queries on our own tables (never a listing
 * of Temporal), unlike the full report in `./stats`, which also prices messages and tests split arms. Three passes:
 * the journal per step (stepEntered), the run projection once (runCounts), and the journal's first entries.
 */
import { eq, sql } from 'drizzle-orm';
import type { JourneyPlan } from '../journey/plan';
import type { DbOrTx } from './client';
import { journeys, journeyVersions } from './schema';
import { runCounts, stepCountsOf, stepEntered, type StatsScope } from './stats';

type Row = Record<string, unknown>;
const rowsOf = (r: unknown): Row[] => ((r as { rows?: Row[] }).rows ?? (r as Row[]));
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const versionFilter = (scope: StatsScope) => (scope.version === undefined ? sql`` : sql` and version = ${scope.version}`);

/** Step types where a run sits waiting for time or an event to pass. */
const WAIT_TYPES = new Set(['wait', 'wait_for_event']);

export type LiveStep = { stepId: string; type: string | null; entered: number; waiting: number; exitedHere: number; failed: number };

export type JourneyLive = {
  journeyId: string;
  version: number | null;
  /** Runs in progress now, and those of them sitting in a wait or wait_for_event step. */
  runs: { running: number; waiting: number };
  /** Entries into the journey (a run's first step) in the last 7 days. */
  entries7d: number;
  /** Contacts that ever entered, and those of them that reached any goal. */
  contacts: { entered: number; converted: number };
  /** converted / entered; null before anyone entered. */
  conversionRate: number | null;
  /**
   * Per step: entered (runs that entered it), waiting (running runs there now), exitedHere (ended runs whose last step
   * it is) and failed (of those, the runs that failed there).
   */
  steps: LiveStep[];
};

/** `version: 'latest'` counts the latest published version (undefined when none is); no version, every version. */
export async function journeyLive(db: DbOrTx, asked: Omit<StatsScope, 'version'> & { version?: number | 'latest' | undefined }): Promise<JourneyLive | undefined> {
  const [j] = await db.select({ latest: journeys.latestVersion }).from(journeys).where(eq(journeys.id, asked.journeyId));
  if (!j) return undefined;
  if (asked.version === 'latest' && j.latest === null) return undefined;
  const scope: StatsScope = { journeyId: asked.journeyId, version: asked.version === 'latest' ? j.latest! : asked.version };
  const plans = new Map(
    (await db.select({ version: journeyVersions.version, plan: journeyVersions.plan }).from(journeyVersions).where(eq(journeyVersions.journeyId, scope.journeyId))).map(
      (r) => [r.version, r.plan as unknown as JourneyPlan],
    ),
  );
  if (scope.version !== undefined && !plans.has(scope.version)) return undefined;
  const plan = plans.get(scope.version ?? j.latest ?? -1);

  // The runs first, then the journal: a run's journal entries are committed with (or before) its state, so every
  // state the runs show has its entries in the later reads. Read side by side, a run could show as ended at a step
  // the journal did not yet show it entering (the journal read's snapshot taken before the run's last commit).
  const runs = await runCounts(db, scope);
  const [entered, entries] = await Promise.all([
    stepEntered(db, scope),
    db.execute(sql`
      select count(*) filter (where entered_at >= now() - interval '7 days')::int as entries7d, count(distinct contact_id)::int as entered,
        (select count(distinct contact_id)::int from conversions where journey_id = ${scope.journeyId}${versionFilter(scope)}) as converted
      from journey_run_steps
      where journey_id = ${scope.journeyId} and seq = 1${versionFilter(scope)}`),
  ]);

  let running = 0;
  let waiting = 0;
  const failedAt = new Map<string, number>();
  for (const r of runs) {
    if (r.status === 'running') {
      running += r.runs;
      const type = r.currentStep ? plans.get(r.version)?.steps[r.currentStep]?.type : undefined;
      if (type && WAIT_TYPES.has(type)) waiting += r.runs;
    } else if (r.status === 'failed' && r.currentStep) failedAt.set(r.currentStep, (failedAt.get(r.currentStep) ?? 0) + r.runs);
  }
  const steps = stepCountsOf(entered, runs);
  const counted = new Map(steps.map((s) => [s.stepId, s]));
  const ids = [...Object.keys(plan?.steps ?? {}), ...[...counted.keys()].filter((id) => !plan?.steps[id]).sort()];
  const c = rowsOf(entries)[0] ?? {};
  const contacts = { entered: num(c.entered), converted: num(c.converted) };
  return {
    journeyId: scope.journeyId,
    version: scope.version ?? null,
    runs: { running, waiting },
    entries7d: num(c.entries7d),
    contacts,
    conversionRate: contacts.entered > 0 ? Math.round((contacts.converted / contacts.entered) * 1e6) / 1e6 : null,
    steps: ids.map((stepId) => {
      const s = counted.get(stepId);
      return { stepId, type: plan?.steps[stepId]?.type ?? null, entered: s?.entered ?? 0, waiting: s?.waiting ?? 0, exitedHere: s?.exitedHere ?? 0, failed: failedAt.get(stepId) ?? 0 };
    }),
  };
}
