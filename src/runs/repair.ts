/**
 * Actions on one running run: cancel or terminate it, or repair it with the workflow's cooperation or Temporal's
 * activity API (skip its wait, move it to a step, retry its failing activities now, migrate it to a newer version).
 * The run-action routes and the bulk action share them, so an action on one run and on a thousand behave the same; a
 * repair refuses with {@link RepairRefused} saying why when it does
 * not apply to the run (the route answers 409, the bulk action counts the run as skipped).
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { journeyRuns, journeys } from '../db/schema';
import { migrateVersionUpdate, moveToStepUpdate, skipWaitUpdate } from '../contracts';
import { loadPlan } from '../publishing/journeys';
import { ACTOR_PREFIX } from './timeline';
import { randomUUID } from 'node:crypto';

export class RepairRefused extends Error {
  override name = 'RepairRefused';
}

/** Sends a repair as a Temporal update; the workflow's validator refusing it becomes a {@link RepairRefused}. */
async function update<R>(client: Client, workflowId: string, verb: string, send: (handle: WorkflowHandle) => Promise<R>): Promise<R> {
  try {
    return await send(client.workflow.getHandle(workflowId));
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new RepairRefused(`Run "${workflowId}" cannot ${verb}: ${err.cause?.message ?? err.message}.`);
    throw err;
  }
}

/** Ends the run's current wait now (a `wait` moves on, a `wait_for_event` takes its timeout branch). */
export function skipRunWait(client: Client, workflowId: string, by: string): Promise<{ step: string }> {
  return update(client, workflowId, 'skip', (h) => h.executeUpdate(skipWaitUpdate, { args: [{ by }] }));
}

/** Moves a waiting run to another step of its version. */
export function moveRun(client: Client, workflowId: string, stepId: string, by: string): Promise<{ from: string; to: string }> {
  return update(client, workflowId, 'move', (h) => h.executeUpdate(moveToStepUpdate, { args: [{ stepId, by }] }));
}

export type RetriedActivity = { activityId: string; type: string; attempt: number };

/** Reschedules the run's failing activities at once, attempts restarting at 1 (use once the cause is fixed). */
export async function retryRunNow(client: Client, workflowId: string, by: string): Promise<RetriedActivity[]> {
  const d = await client.workflow.getHandle(workflowId).describe();
  const pending = (d.raw.pendingActivities ?? []).filter((a) => (a.attempt ?? 1) > 1 || a.lastFailure);
  if (pending.length === 0) throw new RepairRefused(`Run "${workflowId}" has no failing activity waiting to retry.`);
  for (const a of pending) {
    await client.workflowService.resetActivity({ namespace: client.options.namespace, execution: { workflowId }, id: a.activityId ?? '', identity: `itinera:${by}` });
  }
  return pending.map((a) => ({ activityId: a.activityId ?? '', type: a.activityType?.name ?? '', attempt: a.attempt ?? 1 }));
}

/**
 * Moves a run to a newer version of its journey (default: the latest): it continues as new there with its state. The
 * run carries on in the step it is in, so that step must exist in the target version.
 */
export async function migrateRun(
  db: Db,
  client: Client,
  run: { workflowId: string; journeyId: string; version: number; currentStep: string | null },
  version: number | undefined,
  by: string,
): Promise<{ from: number; to: number }> {
  let target = version;
  if (target === undefined) {
    const [journey] = await db.select({ latestVersion: journeys.latestVersion }).from(journeys).where(eq(journeys.id, run.journeyId));
    target = journey?.latestVersion ?? run.version;
  }
  if (target <= run.version) throw new RepairRefused(`Run "${run.workflowId}" is on version ${run.version}; version ${target} is not newer.`);
  const plan = await loadPlan(db, run.journeyId, target);
  if (run.currentStep && !Object.hasOwn(plan.steps, run.currentStep)) {
    throw new RepairRefused(`Step "${run.currentStep}" does not exist in version ${target} of ${run.journeyId}; move the run to a step both versions have first.`);
  }
  const to = target;
  return update(client, run.workflowId, 'migrate', (h) => h.executeUpdate(migrateVersionUpdate, { args: [{ version: to, by }] }));
}

/**
 * Requests graceful cancellation; the run records `cancelled` in the projection itself. With `by`, the request carries
 * `itinera:<by>` as its identity, so the run's history (and its timeline) says who cancelled it.
 */
export async function cancelRun(client: Client, workflowId: string, by?: string): Promise<'requested' | 'ended'> {
  try {
    if (by === undefined) await client.workflow.getHandle(workflowId).cancel();
    else {
      await client.workflowService.requestCancelWorkflowExecution({
        namespace: client.options.namespace,
        workflowExecution: { workflowId },
        identity: `${ACTOR_PREFIX}${by}`,
        requestId: randomUUID(),
        reason: `cancelled by ${by}`,
      });
    }
    return 'requested';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError || isGrpcNotFound(err)) return 'ended';
    throw err;
  }
}

/** The raw service answers NOT_FOUND (gRPC code 5) for a workflow that is unknown or has closed. */
const isGrpcNotFound = (err: unknown) => typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 5;

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
