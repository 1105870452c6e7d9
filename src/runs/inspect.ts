/**
 * Run inspection: which runs a filter selects and which of them look stuck (overdue in their step, or with an activity
 * stuck in retries), and what Temporal says of a run's pending activities. The runs routes, the CLI (through the API)
 * and the bulk action share it, so "the runs this filter selects" means the same thing in a list, a dry run and a bulk
 * action.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
// @temporalio/proto is CommonJS: under Node's own ESM loader (tsx, npm start) only its default export exists.
import proto from '@temporalio/proto';
import type { temporal } from '@temporalio/proto';

const { temporal: protos } = proto;
import { and, eq, lte, or, sql, type SQL } from 'drizzle-orm';
import type { RunFilter } from '../contracts';
import type { Db } from '../db/client';
import { journeyRuns } from '../db/schema';
import { loadPlan } from '../publishing/journeys';
import { assertNever, type JourneyPlan, type PlanStep } from '../journey/plan';

export type { RunFilter } from '../contracts';

export const STUCK_DEFAULTS = { minAttempts: 3, graceSeconds: 600 } as const;

export type PendingActivityView = {
  activityId: string;
  activityType: string;
  /** The attempt running now, or the next one while the activity waits out its retry backoff. */
  attempt: number;
  /** 0 means unlimited. */
  maximumAttempts: number;
  state: string;
  lastFailure: string | null;
  scheduledAt: Date | null;
  lastStartedAt: Date | null;
  nextAttemptAt: Date | null;
};

type Ts = { seconds?: number | { toNumber(): number } | null; nanos?: number | null } | null | undefined;

export function tsToDate(ts: Ts): Date | null {
  if (!ts) return null;
  const s = ts.seconds == null ? 0 : typeof ts.seconds === 'number' ? ts.seconds : ts.seconds.toNumber();
  return new Date(s * 1000 + Math.floor((ts.nanos ?? 0) / 1e6));
}

export function durationMs(d: Ts): number {
  return d ? tsToDate(d)!.getTime() : 0;
}

/** Failure messages are shown to ops; they are ours (status lines, not payloads) but kept short all the same. */
export function failureMessage(f: { message?: string | null; cause?: unknown } | null | undefined): string | null {
  if (!f) return null;
  const cause = f.cause as { message?: string | null } | null | undefined;
  const m = f.message || cause?.message || '';
  return m ? (m.length > 300 ? `${m.slice(0, 300)}…` : m) : null;
}

/** Picks fields from `describe().raw.pendingActivities`: never the heartbeat details or the inputs. */
export function pendingActivityViews(raw: temporal.api.workflowservice.v1.IDescribeWorkflowExecutionResponse): PendingActivityView[] {
  return (raw.pendingActivities ?? []).map((p) => ({
    activityId: p.activityId ?? '',
    activityType: p.activityType?.name ?? '',
    attempt: p.attempt ?? 1,
    maximumAttempts: p.maximumAttempts ?? 0,
    state: (protos.api.enums.v1.PendingActivityState[p.state ?? 0] ?? 'UNSPECIFIED').replace(/^PENDING_ACTIVITY_STATE_/, '').toLowerCase(),
    lastFailure: failureMessage(p.lastFailure),
    scheduledAt: tsToDate(p.scheduledTime),
    lastStartedAt: tsToDate(p.lastStartedTime),
    nextAttemptAt: tsToDate(p.nextAttemptScheduleTime),
  }));
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** Backoff of the webhook step's retry policy (src/workflows/journey.ts): 2s doubling, at most 5 minutes. */
function webhookBudgetMs(timeoutMs: number, retries: number): number {
  let total = 0;
  for (let i = 0; i <= retries; i++) total += timeoutMs + 5000 + (i < retries ? Math.min(2000 * 2 ** i, 5 * MINUTE) : 0);
  return total;
}

/**
 * How long a run may sit in a step before the grace starts counting: a wait's own duration, an event wait's timeout,
 * a send's longest legitimate deferral (quiet hours, send windows, a deferring frequency cap), a webhook's retry
 * budget; 0 for steps that should pass at once. `null`: the step has no bound we can know here (a wait until a
 * contact's date field).
 */
export function stepAllowanceMs(plan: JourneyPlan, step: PlanStep | undefined): number | null {
  if (!step) return 0;
  switch (step.type) {
    case 'wait':
      switch (step.wait.mode) {
        case 'duration':
          return step.wait.ms;
        case 'until_time':
          return 7 * DAY;
        case 'until_date':
          return null;
        default:
          return assertNever(step.wait, 'wait mode');
      }
    case 'wait_for_event':
      return step.timeoutMs;
    case 'send_email':
    case 'send_sms': {
      const s = plan.settings;
      const caps = Object.values(s.frequencyCaps).filter((c) => c?.onCap === 'defer').map((c) => c!.perMs);
      return Math.max(0, s.quietHours ? DAY : 0, s.sendWindows.length > 0 ? 7 * DAY : 0, ...caps);
    }
    case 'webhook':
      return webhookBudgetMs(step.timeoutMs, step.retries);
    case 'notify':
    case 'handoff_to_sales':
    case 'branch':
    case 'split':
    case 'update_score':
    case 'tag':
    case 'untag':
    case 'set_attribute':
    case 'set_lifecycle_stage':
    case 'goal':
    case 'exit':
      return 0;
    default:
      return assertNever(step, 'step');
  }
}

/** The SQL conditions of a filter on the projection, without `stuck`. */
export function runFilterSql(f: RunFilter): SQL[] {
  const out: SQL[] = [];
  if (f.contactId) out.push(eq(journeyRuns.contactId, f.contactId));
  if (f.journeyId) out.push(eq(journeyRuns.journeyId, f.journeyId));
  if (f.version) out.push(eq(journeyRuns.version, f.version));
  if (f.step) out.push(eq(journeyRuns.currentStep, f.step));
  if (f.stuck) out.push(eq(journeyRuns.status, 'running'));
  else if (f.status) out.push(eq(journeyRuns.status, f.status));
  return out;
}

/**
 * Running runs that have been in their current step longer than the step allows plus the grace, as one SQL condition
 * (an OR over journey, version and step, the plans read once per version). `undefined` when nothing can be overdue.
 * The projection's `updated_at` is the time the run entered its current step: the worker writes it at each entry.
 */
export async function overdueSql(db: Db, base: SQL[], graceMs: number, now = Date.now()): Promise<SQL | undefined> {
  const versions = await db
    .selectDistinct({ journeyId: journeyRuns.journeyId, version: journeyRuns.version })
    .from(journeyRuns)
    .where(and(...base, eq(journeyRuns.status, 'running')));
  const clauses: SQL[] = [];
  for (const v of versions) {
    const plan = await loadPlan(db, v.journeyId, v.version).catch(() => undefined);
    if (!plan) continue;
    const same = and(eq(journeyRuns.journeyId, v.journeyId), eq(journeyRuns.version, v.version))!;
    // Before the first step is entered a run should be there within the grace.
    clauses.push(and(same, sql`${journeyRuns.currentStep} is null`, lte(journeyRuns.updatedAt, new Date(now - graceMs)))!);
    for (const step of Object.values(plan.steps)) {
      const allowance = stepAllowanceMs(plan, step);
      if (allowance === null) continue;
      clauses.push(and(same, eq(journeyRuns.currentStep, step.id), lte(journeyRuns.updatedAt, new Date(now - allowance - graceMs)))!);
    }
  }
  return clauses.length > 0 ? or(...clauses) : undefined;
}

/** A literal for a visibility query, or undefined when the value has characters we would rather not quote. */
function visibilityLiteral(v: string): string | undefined {
  return /^[\w.:@-]+$/.test(v) ? `'${v}'` : undefined;
}

/**
 * The visibility query for running journey runs on a task queue, narrowed by whatever of the filter it can express.
 * Not the step: runs upsert JourneyStep where they wait and end, so a run retrying an action is listed under the step
 * it last waited in (the projection's current_step is the step it is in: inspectRetryingRuns reads that instead).
 */
export function runningRunsQuery(taskQueue: string, f: RunFilter): string {
  const parts = [`WorkflowType = 'journeyWorkflow'`, `ExecutionStatus = 'Running'`];
  const tq = visibilityLiteral(taskQueue);
  if (tq) parts.push(`TaskQueue = ${tq}`);
  const add = (key: string, v: string | undefined) => {
    const lit = v === undefined ? undefined : visibilityLiteral(v);
    if (lit) parts.push(`${key} = ${lit}`);
  };
  add('JourneyId', f.journeyId);
  add('ContactId', f.contactId);
  if (f.version) parts.push(`JourneyVersion = ${f.version}`);
  return parts.join(' AND ');
}

export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** Pending activities of a run; empty when the run has ended or is gone. */
export async function describePending(client: Client, workflowId: string): Promise<PendingActivityView[]> {
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    return d.status.name === 'RUNNING' ? pendingActivityViews(d.raw) : [];
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return [];
    throw err;
  }
}

export type Inspection = {
  /** Running runs described in Temporal. */
  inspected: number;
  /** True when more running runs matched than `limit`: some stuck runs may be missing. */
  capped: boolean;
  limit: number;
  /** Runs whose pending activity is on attempt ≥ minAttempts, with that activity. */
  retrying: Map<string, PendingActivityView>;
};

/**
 * Narrows to running runs with visibility (with the projection when a step is asked for), then describes them (bounded concurrency, at most `limit`) to find pending
 * activities stuck in retries: Temporal keeps attempts in mutable state, not in anything a query can filter on.
 */
export async function inspectRetryingRuns(
  client: Client,
  taskQueue: string,
  f: RunFilter,
  opts: { limit: number; concurrency?: number; minAttempts: number; db: Db },
): Promise<Inspection> {
  let ids: string[] = [];
  let capped = false;
  if (f.step) {
    // The run projection is written before each step's action is scheduled: its current_step is where a run retries.
    const rows = await opts.db
      .select({ id: journeyRuns.workflowId })
      .from(journeyRuns)
      .where(and(...runFilterSql({ ...f, stuck: true })))
      .orderBy(journeyRuns.workflowId)
      .limit(opts.limit + 1);
    capped = rows.length > opts.limit;
    ids = rows.slice(0, opts.limit).map((r) => r.id);
  } else {
    for await (const w of client.workflow.list({ query: runningRunsQuery(taskQueue, f), pageSize: Math.min(opts.limit + 1, 1000) })) {
      if (ids.length >= opts.limit) {
        capped = true;
        break;
      }
      ids.push(w.workflowId);
    }
  }
  const retrying = new Map<string, PendingActivityView>();
  await mapLimit(ids, opts.concurrency ?? 8, async (id) => {
    const worst = (await describePending(client, id)).filter((p) => p.attempt >= opts.minAttempts).sort((a, b) => b.attempt - a.attempt)[0];
    if (worst) retrying.set(id, worst);
  });
  return { inspected: ids.length, capped, limit: opts.limit, retrying };
}
