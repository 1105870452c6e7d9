/**
 * Journey statistics for marketers: the per-step funnel, runs, messages and engagement, goals, MQLs and ROI.
 *
 * Every query is scoped to one journey (and optionally one version) and starts from an index on `journey_id`:
 * `journey_run_steps_journey_idx`, `journey_runs_journey_idx`, `messages_journey_idx`, `conversions_journey_idx`;
 * a message's version is one probe of `journey_run_steps_message_idx`; events are reached per contact through
 * `events_contact_time_idx`, never by scanning an event type. Each table is read once per report: the run projection
 * (runCounts), the journal's steps (stepEntered) and entries (entryCounts), and the messages (messageReport).
 */
import { asc, eq, sql, type SQL } from 'drizzle-orm';
import { successors, type JourneyPlan } from '../journey/plan';
import { compareProportions, TEST_NAME, wilsonInterval, type Comparison, type Interval } from '../stats/ab';
import type { DbOrTx } from './client';
import { DEFAULT_HALF_LIFE_DAYS, DEFAULT_LOOKBACK_DAYS, type AttributionOptions } from '../analytics/attribution';
import { journeyRevenue } from '../analytics/campaigns';
import { rateOf, round2, type FxOptions } from '../analytics/money';
import { journeys, journeyVersions } from './schema';

export type StatsScope = { journeyId: string; version?: number | undefined };

/** Message statuses always reported per channel (zeros included); any other status found is added. */
export const MESSAGE_STATUSES = ['sent', 'delivered', 'bounced', 'failed', 'suppressed'] as const;
/** Messages a provider accepted: these are the ones that cost money (and the ones frequency caps count). */
export const BILLED_STATUSES = ['sent', 'delivered'] as const;

type Row = Record<string, unknown>;
const rowsOf = (r: unknown): Row[] => ((r as { rows?: Row[] }).rows ?? (r as Row[]));
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

/** `and version = $n` for tables that carry the version. */
const versionFilter = (column: SQL, scope: StatsScope): SQL => (scope.version === undefined ? sql`` : sql` and ${column} = ${scope.version}`);

/**
 * Runs one of the report's passes over a journey's rows with JIT compilation off. The planner prices a pass over
 * 100,000 runs past `jit_above_cost`, and compiling then costs more than it saves: the message pass spent 0.1–0.25 s
 * of it compiling, and the message count it replaced, priced past `jit_inline_above_cost`, 0.8 s of 1.9 s (EXPLAIN
 * ANALYZE, bench/console.ts's rows). `set local` needs a transaction and lasts until it ends (inside a caller's
 * transaction, until that one ends).
 */
async function withoutJit(db: DbOrTx, query: SQL, opts: { incrementalSort?: false } = {}): Promise<Row[]> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`set local jit = off`);
    if (opts.incrementalSort === false) await tx.execute(sql`set local enable_incremental_sort = off`);
    return rowsOf(await tx.execute(query));
  });
}

/**
 * One row per run that entered the journey (version): when it entered its first step. The journal is written by the
 * worker as a run enters each step, so this is exact even for re-entries that reuse a workflow id.
 */
const entriesCte = (scope: StatsScope): SQL => sql`entries as (
  select workflow_id, run_id, contact_id, min(entered_at) as entered_at
  from journey_run_steps
  where journey_id = ${scope.journeyId}${versionFilter(sql`version`, scope)}
  group by workflow_id, run_id, contact_id
)`;

/**
 * Distinct runs that entered each step (journal). For one version the (step, workflow, run) triples come in order from
 * an index-only scan of journey_run_steps_journey_idx and are counted as they stream; across versions they are hashed
 * as plain columns, several times faster than count(distinct (workflow_id, run_id)), which sorts row values.
 */
export async function stepEntered(db: DbOrTx, scope: StatsScope): Promise<Map<string, number>> {
  const rows = await withoutJit(
    db,
    sql`
      select step_id, count(*)::int as entered
      from (
        select distinct step_id, workflow_id, run_id
        from journey_run_steps
        where journey_id = ${scope.journeyId}${versionFilter(sql`version`, scope)}
      ) runs
      group by step_id`,
  );
  return new Map(rows.map((r) => [String(r.step_id), num(r.entered)]));
}

export type RunCount = { version: number; currentStep: string | null; status: string; runs: number };

/**
 * The run projection in one pass: runs per version, current step and status, ordered by status. The live counts and
 * the report derive all they need of journey_runs from these few rows.
 */
export async function runCounts(db: DbOrTx, scope: StatsScope): Promise<RunCount[]> {
  const res = await db.execute(sql`
    select version, current_step, status, count(*)::int as n
    from journey_runs
    where journey_id = ${scope.journeyId}${versionFilter(sql`version`, scope)}
    group by version, current_step, status
    order by status, version, current_step`);
  return rowsOf(res).map((r) => ({ version: num(r.version), currentStep: r.current_step === null ? null : String(r.current_step), status: String(r.status), runs: num(r.n) }));
}

export type StepCounts = { stepId: string; entered: number; waiting: number; exitedHere: number };

/**
 * entered = distinct runs that entered the step (journal); waiting = running runs whose current step it is;
 * exitedHere = ended runs whose last step it is (run projection). A step appears when either side has it.
 */
export function stepCountsOf(entered: Map<string, number>, runs: RunCount[]): StepCounts[] {
  const steps = new Map<string, StepCounts>([...entered].map(([stepId, n]) => [stepId, { stepId, entered: n, waiting: 0, exitedHere: 0 }]));
  for (const r of runs) {
    if (r.currentStep === null) continue;
    let s = steps.get(r.currentStep);
    if (!s) steps.set(r.currentStep, (s = { stepId: r.currentStep, entered: 0, waiting: 0, exitedHere: 0 }));
    if (r.status === 'running') s.waiting += r.runs;
    else s.exitedHere += r.runs;
  }
  return [...steps.values()];
}

/** Runs per status, in status order. */
export function runsByStatusOf(runs: RunCount[]): Record<string, number> {
  const by: Record<string, number> = {};
  for (const r of runs) by[r.status] = (by[r.status] ?? 0) + r.runs;
  return by;
}

/**
 * From one pass over the journal's entries: runs that entered and their distinct contacts; and the MQLs the journey
 * produced: contacts who became MQL (a `lead.mql` event) after entering it, and sales handoffs the journey made for
 * contacts who entered it (in scope).
 */
export async function entryCounts(db: DbOrTx, scope: StatsScope): Promise<{ runs: number; contacts: number; mqls: { contacts: number; handoffs: number } }> {
  const [r = {}] = await withoutJit(
    db,
    sql`
      with ${entriesCte(scope)}
      select
        (select count(*)::int from entries) as runs,
        (select count(distinct contact_id)::int from entries) as contacts,
        (select count(distinct en.contact_id)::int from entries en
          where exists (select 1 from events e where e.contact_id = en.contact_id and e.type = 'lead.mql' and e.occurred_at >= en.entered_at)) as mql_contacts,
        (select count(*)::int from sales_handoffs h
          where h.journey_id = ${scope.journeyId} and h.contact_id in (select contact_id from entries)) as handoffs`,
    // Grouped by hashing: otherwise the planner walks journey_run_steps_message_idx, which is in workflow order, and
    // sorts each workflow's rows; at 100,000 runs that took 0.8 s against 0.25 s hashed.
    { incrementalSort: false },
  );
  return { runs: num(r.runs), contacts: num(r.contacts), mqls: { contacts: num(r.mql_contacts), handoffs: num(r.handoffs) } };
}

/**
 * Messages do not carry the journey version; a message belongs to the version of the run whose journal entry into the
 * sending step is the latest one before the message was created (runs are pinned, so that is the run's version).
 */
const messagesCte = (scope: StatsScope): SQL => sql`msgs as (
  select m.id, m.idempotency_key, m.contact_id, m.channel, m.status, m.step_id, v.version
  from messages m
  left join lateral (
    select s.version from journey_run_steps s
    where s.workflow_id = m.workflow_id and s.step_id = m.step_id and s.entered_at <= m.created_at
    order by s.entered_at desc limit 1
  ) v on true
  where m.journey_id = ${scope.journeyId}${scope.version === undefined ? sql`` : sql` and v.version = ${scope.version}`}
)`;

export type MessageCount = { version: number | null; channel: string; status: string; count: number };

export type DeliverabilityCounts = {
  stepId: string;
  /** Emails handed to the mail server (sent, delivered or bounced later). */
  sent: number;
  /** Distinct messages bounced: refused at send (5xx) or reported by a DSN or provider; by class for the reported ones. */
  bounced: number;
  hard: number;
  soft: number;
  policy: number;
  /** Distinct messages a recipient reported as spam. */
  complained: number;
};

export type MessageReport = {
  /** Messages per version, channel and status, ordered by channel, status and version. */
  counts: MessageCount[];
  /**
   * Opens, clicks and unsubscribes are events recorded by the tracking endpoints with the message's idempotency key as
   * `properties.message_key`; each counts distinct email messages (a message opened five times is one open).
   */
  engagement: { opened: number; clicked: number; unsubscribed: number };
  /**
   * Bounces and complaints per step that sent email (src/deliverability records them in email_feedback, matched to the
   * message), ordered by step; each counts distinct messages, so a message soft-bouncing three times is one bounce.
   */
  deliverability: DeliverabilityCounts[];
};

/**
 * Every message figure of the report from one pass over the journey's messages (each one's version found once):
 * per message its feedback and engagement flags, grouped both by (version, channel, status) and by (channel, step).
 */
export async function messageReport(db: DbOrTx, scope: StatsScope): Promise<MessageReport> {
  const rows = await withoutJit(
    db,
    sql`
      with ${messagesCte(scope)}, fb as (
        select f.message_id,
          bool_or(f.kind = 'bounce') as bounced,
          bool_or(f.bounce_class = 'hard') as hard, bool_or(f.bounce_class = 'soft') as soft, bool_or(f.bounce_class = 'policy') as policy,
          bool_or(f.kind = 'complaint') as complained
        from email_feedback f
        where f.message_id in (select id from msgs where channel = 'email')
        group by f.message_id
      ), eng as (
        select e.contact_id, e.properties->>'message_key' as message_key,
          bool_or(e.type = 'email.opened') as opened, bool_or(e.type = 'email.clicked') as clicked, bool_or(e.type = 'email.unsubscribed') as unsubscribed
        from events e
        where e.contact_id in (select contact_id from msgs where channel = 'email')
          and e.type in ('email.opened', 'email.clicked', 'email.unsubscribed')
        group by e.contact_id, e.properties->>'message_key'
      )
      select grouping(m.step_id) = 0 as by_step, m.version, m.channel, m.status, m.step_id, count(*)::int as n,
        count(*) filter (where m.status in ('sent', 'delivered', 'bounced'))::int as sent,
        count(*) filter (where m.status = 'bounced' or fb.bounced)::int as bounced,
        count(*) filter (where fb.hard)::int as hard, count(*) filter (where fb.soft)::int as soft, count(*) filter (where fb.policy)::int as policy,
        count(*) filter (where fb.complained)::int as complained,
        count(*) filter (where eng.opened)::int as opened, count(*) filter (where eng.clicked)::int as clicked,
        count(*) filter (where eng.unsubscribed)::int as unsubscribed
      from msgs m
      left join fb on m.channel = 'email' and fb.message_id = m.id
      left join eng on m.channel = 'email' and eng.contact_id = m.contact_id and eng.message_key = m.idempotency_key
      group by grouping sets ((m.version, m.channel, m.status), (m.channel, m.step_id))
      order by by_step, m.channel, m.status, m.version, m.step_id`,
  );
  const counts: MessageCount[] = [];
  const engagement = { opened: 0, clicked: 0, unsubscribed: 0 };
  const deliverability: DeliverabilityCounts[] = [];
  for (const r of rows) {
    if (r.by_step !== true) {
      counts.push({ version: r.version === null || r.version === undefined ? null : num(r.version), channel: String(r.channel), status: String(r.status), count: num(r.n) });
      continue;
    }
    if (r.channel !== 'email') continue;
    engagement.opened += num(r.opened);
    engagement.clicked += num(r.clicked);
    engagement.unsubscribed += num(r.unsubscribed);
    deliverability.push({ stepId: String(r.step_id), sent: num(r.sent), bounced: num(r.bounced), hard: num(r.hard), soft: num(r.soft), policy: num(r.policy), complained: num(r.complained) });
  }
  return { counts, engagement, deliverability };
}

export type GoalCount = { goal: string; conversions: number; contacts: number; value: number };

export async function conversionCounts(db: DbOrTx, scope: StatsScope): Promise<GoalCount[]> {
  const res = await db.execute(sql`
    select goal, count(*)::int as n, count(distinct contact_id)::int as contacts, coalesce(sum(value), 0)::text as value
    from conversions
    where journey_id = ${scope.journeyId}${versionFilter(sql`version`, scope)}
    group by goal order by goal`);
  return rowsOf(res).map((r) => ({ goal: String(r.goal), conversions: num(r.n), contacts: num(r.contacts), value: num(r.value) }));
}

// --- splits ------------------------------------------------------------------------------------

export type ArmCount = { splitId: string; arm: string; holdout: boolean; entered: number };

/** Runs per split arm (run_arms: one row per run and split). */
export async function armCounts(db: DbOrTx, scope: StatsScope): Promise<ArmCount[]> {
  const res = await db.execute(sql`
    select split_id, arm, bool_or(holdout) as holdout, count(*)::int as entered
    from run_arms
    where journey_id = ${scope.journeyId}${versionFilter(sql`version`, scope)}
    group by split_id, arm order by split_id, arm`);
  return rowsOf(res).map((r) => ({ splitId: String(r.split_id), arm: String(r.arm), holdout: r.holdout === true, entered: num(r.entered) }));
}

export type ArmConversions = { splitId: string; arm: string; goal: string; conversions: number };

/**
 * Goal conversions per split arm. A conversion row is keyed `<workflowId>:goal:<goal>` (once per workflow id and goal);
 * it belongs to the run of that workflow id whose assignment at the split is the latest one at or before the
 * conversion — so a conversion recorded before the run reached the split counts for no arm, and one re-entry's
 * conversion never counts for an earlier entry. The workflow id is cut from the key so run_arms' primary key is used.
 */
export async function armConversions(db: DbOrTx, scope: StatsScope): Promise<ArmConversions[]> {
  const res = await db.execute(sql`
    select a.split_id, a.arm, c.goal, count(*)::int as n
    from conversions c
    join lateral (
      select distinct on (x.split_id) x.split_id, x.arm
      from run_arms x
      where right(c.idempotency_key, length(':goal:' || c.goal)) = ':goal:' || c.goal
        and x.workflow_id = left(c.idempotency_key, length(c.idempotency_key) - length(':goal:' || c.goal))
        and x.journey_id = c.journey_id${versionFilter(sql`x.version`, scope)}
        and x.assigned_at <= c.created_at
      order by x.split_id, x.assigned_at desc
    ) a on true
    where c.journey_id = ${scope.journeyId}
    group by a.split_id, a.arm, c.goal`);
  return rowsOf(res).map((r) => ({ splitId: String(r.split_id), arm: String(r.arm), goal: String(r.goal), conversions: num(r.n) }));
}

/**
 * Steps holdout runs entered after their assignment (journal entries after the split's), per version and step: the
 * report counts those that are message steps of that version as messages held back.
 */
async function heldOutEntries(db: DbOrTx, scope: StatsScope): Promise<{ splitId: string; arm: string; version: number; stepId: string; n: number }[]> {
  const res = await db.execute(sql`
    select a.split_id, a.arm, s.version, s.step_id, count(*)::int as n
    from run_arms a
    join journey_run_steps s on s.workflow_id = a.workflow_id and s.run_id = a.run_id and s.seq > a.step_seq
    where a.journey_id = ${scope.journeyId} and a.holdout${versionFilter(sql`a.version`, scope)}
    group by a.split_id, a.arm, s.version, s.step_id`);
  return rowsOf(res).map((r) => ({ splitId: String(r.split_id), arm: String(r.arm), version: num(r.version), stepId: String(r.step_id), n: num(r.n) }));
}

export type ArmGoalStats = {
  goal: string;
  /** Runs of the arm that reached the goal after their assignment. */
  conversions: number;
  /** conversions / entered; null when no run entered the arm. */
  rate: number | null;
  /** 95% Wilson score interval of the rate; null when no run entered the arm. */
  interval: Interval | null;
  /** Against the control arm, by the pooled two-sided two-proportion z-test; null for the control itself. */
  vsControl: Comparison | null;
};

export type ArmStats = {
  arm: string;
  holdout: boolean;
  /** The arm every other arm is compared with. */
  control: boolean;
  /** Percent of contacts the plan sends to this arm; null for an arm only older versions had. */
  percent: number | null;
  /** Runs assigned to the arm. */
  entered: number;
  /** Holdout arms: email and SMS steps their runs skipped instead of sending. */
  messagesHeldOut: number;
  goals: ArmGoalStats[];
};

export type SplitStats = {
  splitId: string;
  /** The control arm: the holdout arm if the split has one, else its first arm. */
  control: string | null;
  test: string;
  arms: ArmStats[];
};

const MESSAGE_STEPS = new Set(['send_email', 'send_sms']);

type SplitRows = [ArmCount[], ArmConversions[], Awaited<ReturnType<typeof heldOutEntries>>];

const splitRows = (db: DbOrTx, scope: StatsScope): Promise<SplitRows> => Promise.all([armCounts(db, scope), armConversions(db, scope), heldOutEntries(db, scope)]);

function splitStats([counts, convs, held]: SplitRows, plan: JourneyPlan | undefined, plans: Map<number, JourneyPlan>, order: string[]): SplitStats[] {
  const planSplits = order.map((id) => plan?.steps[id]).filter((st): st is Extract<JourneyPlan['steps'][string], { type: 'split' }> => st?.type === 'split');
  const splitIds = [...planSplits.map((st) => st.id), ...[...new Set([...counts, ...convs].map((c) => c.splitId))].filter((id) => !planSplits.some((st) => st.id === id)).sort()];
  return splitIds.map((splitId) => {
    const planned = planSplits.find((st) => st.id === splitId)?.paths ?? [];
    const found = counts.filter((c) => c.splitId === splitId);
    const armNames = [...planned.map((p) => p.name), ...[...new Set([...found.map((c) => c.arm), ...convs.filter((c) => c.splitId === splitId).map((c) => c.arm)])].filter((a) => !planned.some((p) => p.name === a)).sort()];
    const isHoldout = (arm: string) => planned.find((p) => p.name === arm)?.holdout ?? found.find((c) => c.arm === arm)?.holdout ?? false;
    const control = armNames.find(isHoldout) ?? armNames[0] ?? null;
    const goals = [...(plan?.goals ?? []).map((g) => g.id), ...[...new Set(convs.filter((c) => c.splitId === splitId).map((c) => c.goal))].filter((g) => !plan?.goals.some((p) => p.id === g)).sort()];
    const entered = (arm: string) => found.find((c) => c.arm === arm)?.entered ?? 0;
    const converted = (arm: string, goal: string) => convs.find((c) => c.splitId === splitId && c.arm === arm && c.goal === goal)?.conversions ?? 0;
    const arms = armNames.map((arm): ArmStats => {
      const n = entered(arm);
      const messagesHeldOut = held
        .filter((h) => h.splitId === splitId && h.arm === arm && MESSAGE_STEPS.has(plans.get(h.version)?.steps[h.stepId]?.type ?? ''))
        .reduce((a, h) => a + h.n, 0);
      return {
        arm,
        holdout: isHoldout(arm),
        control: arm === control,
        percent: planned.find((p) => p.name === arm)?.percent ?? null,
        entered: n,
        messagesHeldOut,
        goals: goals.map((goal) => {
          const x = converted(arm, goal);
          return {
            goal,
            conversions: x,
            rate: n > 0 ? round(x / n) : null,
            interval: wilsonInterval(x, n) ?? null,
            vsControl: arm === control || control === null ? null : compareProportions({ successes: x, n }, { successes: converted(control, goal), n: entered(control) }),
          };
        }),
      };
    });
    return { splitId, control, test: TEST_NAME, arms };
  });
}

// --- the report --------------------------------------------------------------------------------

export type JourneyStats = {
  journeyId: string;
  /** null: every version together. */
  version: number | null;
  entered: { runs: number; contacts: number };
  runs: { total: number; byStatus: Record<string, number> };
  steps: { stepId: string; type: string | null; entered: number; passed: number; waiting: number; exitedHere: number }[];
  messages: {
    total: number;
    byChannel: Record<string, Record<string, number>>;
    opened: number;
    clicked: number;
    unsubscribed: number;
    /** Emails bounced and complained about, and their rates over emails sent (null when none was sent). */
    bounced: number;
    complained: number;
    bounceRate: number | null;
    complaintRate: number | null;
  };
  /** Per step that sent email: sent, bounced (hard / soft / policy), complained, and the rates. */
  deliverability: (DeliverabilityCounts & { bounceRate: number | null; complaintRate: number | null })[];
  goals: { goal: string; name: string; conversions: number; contacts: number; value: number }[];
  /**
   * Per split step, per arm: runs entered, goal conversions after the assignment, the rate with its 95% Wilson
   * interval, and the comparison with the control arm (holdout arm, else the first arm): difference, relative lift and
   * the pooled two-sided two-proportion z-test's p-value, or `tooSmall` with the reason (no p-value) when an arm expects
   * fewer than 5 conversions or non-conversions.
   */
  splits: SplitStats[];
  mqls: { contacts: number; handoffs: number };
  roi: {
    currency: string;
    cost: number;
    costByChannel: Record<string, number>;
    /** The fixed campaign cost included in `cost` (settings.costs.campaign). */
    campaignCost: number;
    /**
     * Won deals (src/analytics/deals.ts) of contacts who entered, closed at or after their first entry (within the
     * window), credited to the contact's touches by `attribution.model`: the journey's share, converted to `currency`.
     */
    revenue: number;
    /** Won deals that gave the journey any credit. */
    deals: number;
    /** Revenue in currencies with no rate to `currency`: credited, not added (per currency). */
    unconvertedRevenue: Record<string, number>;
    attribution: { model: AttributionOptions['model']; halfLifeDays: number; lookbackDays: number };
    /** The goal conversion window revenue is counted in; null = no limit. */
    windowMs: number | null;
    /** (revenue − cost) / cost; null when nothing was spent. */
    roi: number | null;
  };
};

const round = (x: number, digits = 6) => Math.round(x * 10 ** digits) / 10 ** digits;
/** Message channels are named as in `messages.channel`; plan costs name the notify step's channel `notify`. */
const COST_KEY: Record<string, 'email' | 'sms' | 'webhook' | 'notify' | undefined> = { email: 'email', sms: 'sms', webhook: 'webhook', chat: 'notify' };

/** Steps in the order a contact meets them (breadth-first from the start); jsonb does not keep the written order. */
function stepOrder(plan: JourneyPlan | undefined): string[] {
  if (!plan) return [];
  const seen = new Set<string>([plan.start]);
  for (const id of seen) for (const next of plan.steps[id] ? successors(plan.steps[id]) : []) seen.add(next);
  return [...seen, ...Object.keys(plan.steps).filter((id) => !seen.has(id)).sort()];
}

async function plansOf(db: DbOrTx, journeyId: string): Promise<Map<number, JourneyPlan>> {
  const rows = await db
    .select({ version: journeyVersions.version, plan: journeyVersions.plan })
    .from(journeyVersions)
    .where(eq(journeyVersions.journeyId, journeyId))
    .orderBy(asc(journeyVersions.version));
  return new Map(rows.map((r) => [r.version, r.plan as unknown as JourneyPlan]));
}

/**
 * The whole report. `plan` (the version asked for, else the latest) gives the step order, the goal names and the
 * conversion window; each version's own `settings.costs` prices its messages. Returns undefined when the journey (or
 * the version) does not exist.
 */
export type StatsOptions = {
  /** How revenue is shared among a contact's touches. @default linear, half-life 7 days, lookback 365 days */
  attribution?: AttributionOptions;
  /** Rates to the journey's cost currency. @default USD, no rates */
  fx?: FxOptions;
};

export async function journeyStats(db: DbOrTx, scope: StatsScope, opts: StatsOptions = {}): Promise<JourneyStats | undefined> {
  const attribution = opts.attribution ?? { model: 'linear', halfLifeDays: DEFAULT_HALF_LIFE_DAYS, lookbackDays: DEFAULT_LOOKBACK_DAYS };
  const fx = opts.fx ?? { currency: 'USD', rates: {} };
  const [j] = await db.select({ latest: journeys.latestVersion }).from(journeys).where(eq(journeys.id, scope.journeyId));
  if (!j) return undefined;
  const plans = await plansOf(db, scope.journeyId);
  if (scope.version !== undefined && !plans.has(scope.version)) return undefined;
  const plan = plans.get(scope.version ?? j.latest ?? -1);

  const windows = (plan?.goals ?? []).map((g) => g.withinMs).filter((w): w is number => w !== undefined);
  const windowMs = windows.length ? Math.max(...windows) : undefined;
  const [enteredSteps, runs, { mqls, ...entered }, { counts: msgs, engagement, deliverability: delivery }, goals, revenue, arms] = await Promise.all([
    stepEntered(db, scope),
    runCounts(db, scope),
    entryCounts(db, scope),
    messageReport(db, scope),
    conversionCounts(db, scope),
    journeyRevenue(db, scope.journeyId, attribution, windowMs, scope.version),
    splitRows(db, scope),
  ]);
  const steps = stepCountsOf(enteredSteps, runs);
  const byStatus = runsByStatusOf(runs);
  const rate = (x: number, n: number) => (n > 0 ? round(x / n) : null);
  const emails = delivery.reduce((a, d) => ({ sent: a.sent + d.sent, bounced: a.bounced + d.bounced, complained: a.complained + d.complained }), { sent: 0, bounced: 0, complained: 0 });

  // Plan order first, then steps only older versions had.
  const counted = new Map(steps.map((s) => [s.stepId, s]));
  const order = [...stepOrder(plan), ...[...counted.keys()].filter((id) => !plan?.steps[id]).sort()];
  const splits = splitStats(arms, plan, plans, order);
  const stepRows = order.map((stepId) => {
    const c = counted.get(stepId) ?? { entered: 0, waiting: 0, exitedHere: 0 };
    // A run journaled before the step journal existed can be waiting without an entry; never report a negative pass.
    return { stepId, type: plan?.steps[stepId]?.type ?? null, entered: c.entered, passed: Math.max(0, c.entered - c.waiting - c.exitedHere), waiting: c.waiting, exitedHere: c.exitedHere };
  });

  const byChannel: Record<string, Record<string, number>> = {};
  const costByChannel: Record<string, number> = {};
  let cost = 0;
  for (const m of msgs) {
    const statuses = (byChannel[m.channel] ??= Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, 0])));
    statuses[m.status] = (statuses[m.status] ?? 0) + m.count;
    const key = COST_KEY[m.channel];
    const pricing = plans.get(m.version ?? j.latest ?? -1) ?? plan;
    if (key && pricing && (BILLED_STATUSES as readonly string[]).includes(m.status)) {
      const c = m.count * pricing.settings.costs[key];
      costByChannel[m.channel] = round((costByChannel[m.channel] ?? 0) + c);
      cost += c;
    }
  }
  // The campaign's fixed cost counts once: the version's own for a version, the latest version's for the journey.
  const campaignCost = plan?.settings.costs.campaign ?? 0;
  cost = round(cost + campaignCost);

  // Revenue in the journey's cost currency: converted through the reporting currency's rates; the rest kept apart.
  const currency = plan?.settings.costs.currency ?? 'USD';
  const to = rateOf(fx, currency);
  let converted = 0;
  const unconvertedRevenue: Record<string, number> = {};
  for (const [cur, amount] of Object.entries(revenue.byCurrency)) {
    const from = rateOf(fx, cur);
    if (cur === currency) converted += amount;
    else if (from !== undefined && to !== undefined) converted += (amount * from) / to;
    else unconvertedRevenue[cur] = round2(amount);
  }
  const revenueTotal = round2(converted);

  const conv = new Map(goals.map((g) => [g.goal, g]));
  const goalRows = [
    ...(plan?.goals ?? []).map((g) => ({ goal: g.id, name: g.name })),
    ...goals.filter((g) => !plan?.goals.some((p) => p.id === g.goal)).map((g) => ({ goal: g.goal, name: g.goal })),
  ].map((g) => ({ ...g, conversions: conv.get(g.goal)?.conversions ?? 0, contacts: conv.get(g.goal)?.contacts ?? 0, value: conv.get(g.goal)?.value ?? 0 }));

  return {
    journeyId: scope.journeyId,
    version: scope.version ?? null,
    entered,
    runs: { total: Object.values(byStatus).reduce((a, b) => a + b, 0), byStatus },
    steps: stepRows,
    messages: {
      total: msgs.reduce((a, m) => a + m.count, 0), byChannel, ...engagement,
      bounced: emails.bounced, complained: emails.complained, bounceRate: rate(emails.bounced, emails.sent), complaintRate: rate(emails.complained, emails.sent),
    },
    deliverability: delivery.map((d) => ({ ...d, bounceRate: rate(d.bounced, d.sent), complaintRate: rate(d.complained, d.sent) })),
    goals: goalRows,
    splits,
    mqls,
    roi: {
      currency,
      cost,
      costByChannel,
      campaignCost,
      revenue: revenueTotal,
      deals: revenue.deals,
      unconvertedRevenue,
      attribution: { model: attribution.model, halfLifeDays: attribution.halfLifeDays, lookbackDays: attribution.lookbackDays },
      windowMs: windowMs ?? null,
      roi: cost > 0 ? round((revenueTotal - cost) / cost) : null,
    },
  };
}
