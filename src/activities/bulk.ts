/**
 * Ops actions on runs: finding stuck runs, cancelling and terminating them one by one or in bulk. The API's runs routes
 * and the bulk workflow's activities share these, so "the runs this filter selects" means the same thing in a list, a
 * dry run and a bulk action.
 */
import { heartbeat } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
// @temporalio/proto is CommonJS: under Node's own ESM loader (tsx, npm start) only its default export exists.
import proto from '@temporalio/proto';
import type { temporal } from '@temporalio/proto';

const { temporal: protos } = proto;
import { and, asc, eq, gt, inArray, lte, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client';
import { journeyRuns } from '../db/schema';
import { loadPlan } from '../engine/journeys';
import { assertNever, type JourneyPlan, type PlanStep } from '../journey/plan';
import { migrateRun, RepairRefused, retryRunNow, skipRunWait } from '../engine/run-repair';
import type { ActivityDeps } from './deps';

/** What selects runs, in a list and in a bulk action. */
export type RunFilter = {
  journeyId?: string;
  version?: number;
  step?: string;
  status?: string;
  contactId?: string;
  /** Only runs that look stuck (see {@link stuckReasons}); implies `status: running`. */
  stuck?: boolean;
  /** A pending activity on at least this attempt makes a run stuck. @default 3 */
  minAttempts?: number;
  /** Time a run may spend in a step beyond what the step itself allows. @default 600 (10 minutes) */
  graceSeconds?: number;
};

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

/** The visibility query for running journey runs on a task queue, narrowed by whatever of the filter it can express. */
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
  add('JourneyStep', f.step);
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
 * Narrows to running runs with visibility, then describes them (bounded concurrency, at most `limit`) to find pending
 * activities stuck in retries: Temporal keeps attempts in mutable state, not in anything a query can filter on.
 */
export async function inspectRetryingRuns(
  client: Client,
  taskQueue: string,
  f: RunFilter,
  opts: { limit: number; concurrency?: number; minAttempts: number },
): Promise<Inspection> {
  const ids: string[] = [];
  let capped = false;
  for await (const w of client.workflow.list({ query: runningRunsQuery(taskQueue, f), pageSize: Math.min(opts.limit + 1, 1000) })) {
    if (ids.length >= opts.limit) {
      capped = true;
      break;
    }
    ids.push(w.workflowId);
  }
  const retrying = new Map<string, PendingActivityView>();
  await mapLimit(ids, opts.concurrency ?? 8, async (id) => {
    const worst = (await describePending(client, id)).filter((p) => p.attempt >= opts.minAttempts).sort((a, b) => b.attempt - a.attempt)[0];
    if (worst) retrying.set(id, worst);
  });
  return { inspected: ids.length, capped, limit: opts.limit, retrying };
}

/** Requests graceful cancellation; the run records `cancelled` in the projection itself. */
export async function cancelRun(client: Client, workflowId: string): Promise<'requested' | 'ended'> {
  try {
    await client.workflow.getHandle(workflowId).cancel();
    return 'requested';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'ended';
    throw err;
  }
}

/** Terminates a run and sets the projection: a terminated workflow runs no more code, so it cannot say so itself. */
export async function terminateRun(client: Client, db: Db, workflowId: string, reason: string): Promise<'terminated' | 'ended'> {
  try {
    await client.workflow.getHandle(workflowId).terminate(reason);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'ended';
    throw err;
  }
  await db
    .update(journeyRuns)
    .set({ status: 'terminated', endedAt: sql`now()`, updatedAt: sql`now()` })
    .where(and(eq(journeyRuns.workflowId, workflowId), eq(journeyRuns.status, 'running')));
  return 'terminated';
}

export type BulkAction = 'cancel' | 'terminate' | 'skip-wait' | 'retry-now' | 'migrate';

export type BulkPageResult = {
  /** Runs read from the projection. */
  scanned: number;
  /** Of those, runs the filter selects (all of them unless `stuck`). */
  matched: number;
  succeeded: number;
  /** Runs that had already ended in Temporal. */
  skipped: number;
  failed: number;
  errors: { workflowId: string; message: string }[];
  /** Why runs were skipped (the first few): the repair did not apply to them. */
  notes: { workflowId: string; message: string }[];
  nextCursor: string | null;
};

export function bulkActivities(deps: ActivityDeps) {
  const { db } = deps;
  const client = () => {
    if (!deps.temporal) throw new Error('bulk run actions need a Temporal client in the activity deps');
    return deps.temporal.client;
  };
  /** Running runs that entered before the bulk action began: runs starting later are not the ones the operator saw. */
  const scope = (filter: RunFilter, before: number) => [...runFilterSql({ ...filter, stuck: false, status: undefined }), eq(journeyRuns.status, 'running'), lte(journeyRuns.startedAt, new Date(before))];

  return {
    /** How many runs a bulk action will read (the denominator of its progress). */
    async countBulkCandidates(input: { filter: RunFilter; before: number }): Promise<number> {
      const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(journeyRuns).where(and(...scope(input.filter, input.before)));
      return row?.n ?? 0;
    },

    /**
     * One page of a bulk action, by workflow id. A retried page re-reads runs still running in the projection, so a
     * terminated run is never counted twice; a cancel asked twice is harmless.
     */
    async bulkRunPage(input: {
      action: BulkAction;
      filter: RunFilter;
      reason?: string;
      /** For `migrate`: the target version (default: each journey's latest). */
      version?: number;
      requestedBy?: string;
      dryRun: boolean;
      before: number;
      after: string | null;
      pageSize: number;
    }): Promise<BulkPageResult> {
      const rows = await db
        .select({ workflowId: journeyRuns.workflowId, journeyId: journeyRuns.journeyId, version: journeyRuns.version, currentStep: journeyRuns.currentStep, updatedAt: journeyRuns.updatedAt })
        .from(journeyRuns)
        .where(and(...scope(input.filter, input.before), input.after ? gt(journeyRuns.workflowId, input.after) : undefined))
        .orderBy(asc(journeyRuns.workflowId))
        .limit(input.pageSize);
      const nextCursor = rows.length === input.pageSize ? rows.at(-1)!.workflowId : null;
      let selected = rows.map((r) => r.workflowId);
      if (input.filter.stuck && rows.length > 0) {
        const graceMs = (input.filter.graceSeconds ?? STUCK_DEFAULTS.graceSeconds) * 1000;
        const overdue = await overdueSql(db, [inArray(journeyRuns.workflowId, selected)], graceMs);
        const late = new Set(
          overdue ? (await db.select({ id: journeyRuns.workflowId }).from(journeyRuns).where(and(inArray(journeyRuns.workflowId, selected), overdue))).map((r) => r.id) : [],
        );
        const minAttempts = input.filter.minAttempts ?? STUCK_DEFAULTS.minAttempts;
        const retrying = await mapLimit(selected.filter((id) => !late.has(id)), 8, async (id) => ((await describePending(client(), id)).some((p) => p.attempt >= minAttempts) ? id : undefined));
        const hit = new Set([...late, ...retrying.filter((x): x is string => x !== undefined)]);
        selected = selected.filter((id) => hit.has(id));
      }
      const out: BulkPageResult = { scanned: rows.length, matched: selected.length, succeeded: 0, skipped: 0, failed: 0, errors: [], notes: [], nextCursor };
      if (input.dryRun) return out;
      const byId = new Map(rows.map((r) => [r.workflowId, r]));
      const by = input.requestedBy ?? 'bulk';
      const act = async (id: string): Promise<'done' | 'ended'> => {
        switch (input.action) {
          case 'cancel':
            return (await cancelRun(client(), id)) === 'ended' ? 'ended' : 'done';
          case 'terminate':
            return (await terminateRun(client(), db, id, input.reason ?? 'bulk terminate')) === 'ended' ? 'ended' : 'done';
          case 'skip-wait':
            await skipRunWait(client(), id, by);
            return 'done';
          case 'retry-now':
            await retryRunNow(client(), id, by);
            return 'done';
          case 'migrate':
            await migrateRun(db, client(), byId.get(id)!, input.version, by);
            return 'done';
          default:
            return assertNever(input.action);
        }
      };
      await mapLimit(selected, 8, async (id) => {
        try {
          if ((await act(id)) === 'ended') out.skipped++;
          else out.succeeded++;
        } catch (err) {
          // Ended in the meantime, or the repair does not apply to this run (not waiting, nothing failing, step missing).
          if (err instanceof WorkflowNotFoundError || err instanceof RepairRefused) {
            out.skipped++;
            if (out.notes.length < 20) out.notes.push({ workflowId: id, message: err instanceof RepairRefused ? err.message : 'the run had ended' });
            return;
          }
          out.failed++;
          if (out.errors.length < 20) out.errors.push({ workflowId: id, message: failureMessage(err as Error) ?? 'error' });
        }
        heartbeat();
      });
      return out;
    },
  };
}
