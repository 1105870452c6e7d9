/**
 * One page of a bulk run action (src/workflows/bulk.ts drives the pages): the runs of the filter that entered before
 * the action began, narrowed to the stuck ones when asked, each cancelled, terminated or repaired.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { and, asc, eq, gt, inArray, lte, sql } from 'drizzle-orm';
import type { Activities, BulkPageResult, RunFilter } from '../contracts';
import { INT32_MAX, unstorableText } from '../bounds';
import type { Db } from '../db/client';
import { journeyRuns } from '../db/schema';
import { assertNever } from '../journey/plan';
import { describePending, failureMessage, mapLimit, overdueSql, runFilterSql, STUCK_DEFAULTS } from './inspect';
import { cancelRun, migrateRun, RepairRefused, retryRunNow, skipRunWait, terminateRun } from './repair';

export type BulkPageInput = Parameters<Activities['bulkRunPage']>[0];

/** Running runs that entered before the bulk action began: runs starting later are not the ones the operator saw. */
const scope = (filter: RunFilter, before: number) => [...runFilterSql({ ...filter, stuck: false, status: undefined }), eq(journeyRuns.status, 'running'), lte(journeyRuns.startedAt, new Date(before))];

/**
 * Why a bulk action's input can never work, or undefined. The API refuses such input with a 400 first; this guards a
 * workflow started any other way (or recorded before a bound existed), so the action fails at once with the reason
 * instead of retrying a query Postgres will always refuse.
 */
export function bulkInputProblem(input: { filter: RunFilter; version?: number; pageSize?: number; before?: number }): string | undefined {
  const ints: [string, unknown, number, number][] = [
    ['filter.version', input.filter.version, 1, INT32_MAX],
    ['filter.minAttempts', input.filter.minAttempts, 1, INT32_MAX],
    ['filter.graceSeconds', input.filter.graceSeconds, 0, INT32_MAX],
    ['version', input.version, 1, INT32_MAX],
    ['pageSize', input.pageSize, 1, 10_000],
  ];
  for (const [name, v, min, max] of ints) {
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= min && (v as number) <= max)) return `${name} ${JSON.stringify(v)} is not a whole number from ${min} to ${max}`;
  }
  if (input.before !== undefined && Number.isNaN(new Date(input.before).getTime())) return `before ${JSON.stringify(input.before)} is not a time`;
  for (const [name, v] of Object.entries(input.filter)) {
    const bad = typeof v === 'string' ? unstorableText(v) : undefined;
    if (bad) return `filter.${name} ${bad}`;
  }
  return undefined;
}

/** How many runs a bulk action will read (the denominator of its progress). */
export async function countBulkCandidates(db: Db, input: { filter: RunFilter; before: number }): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(journeyRuns).where(and(...scope(input.filter, input.before)));
  return row?.n ?? 0;
}

/**
 * One page of a bulk action, by workflow id. A retried page re-reads runs still running in the projection, so a
 * terminated run is never counted twice; a cancel asked twice is harmless. `onRun` is called after each run acted on
 * (the activity heartbeats there).
 */
export async function bulkRunPage(deps: { db: Db; client: () => Client }, input: BulkPageInput, onRun: () => void = () => {}): Promise<BulkPageResult> {
  const { db, client } = deps;
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
        return (await cancelRun(client(), id, by)) === 'ended' ? 'ended' : 'done';
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
    onRun();
  });
  return out;
}
