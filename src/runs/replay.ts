/**
 * Replays a journey's latest runs against the current workflow bundle and names any nondeterminism, so ops can check
 * workflow code before deploying it (the API's replay route and `itinera runs replay`).
 */
import type { Client } from '@temporalio/client';
import { and, desc, eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { journeyRuns } from '../db/schema';
import { ensureWorkflowBundle } from '../temporal/workflow-bundle';
import { failureMessage, mapLimit } from './inspect';

export type ReplayStatus = 'ok' | 'nondeterministic' | 'failed' | 'unavailable' | 'not_replayed';
export type ReplayResult = { workflowId: string; runId: string | null; version: number; status: ReplayStatus; error?: string };
export type ReplayReport = {
  journeyId: string;
  results: ReplayResult[];
  totals: { ok: number; nondeterministic: number; failed: number; unavailable: number; notReplayed: number };
  timedOut: boolean;
};

export type ReplayDeps = {
  db: Db;
  client: Client;
  /** Path of the workflow bundle that replays run against. @default ensureWorkflowBundle() */
  workflowBundle?: () => Promise<string>;
  /** The longest a replay may take before the runs left are reported not replayed. @default 60000 */
  replayTimeoutMs?: number;
};

export async function replayJourneyRuns(deps: ReplayDeps, journeyId: string, opts: { limit: number; version?: number }): Promise<ReplayReport> {
  const { db } = deps;
  const rows = await db
    .select({ workflowId: journeyRuns.workflowId, runId: journeyRuns.runId, version: journeyRuns.version })
    .from(journeyRuns)
    .where(and(eq(journeyRuns.journeyId, journeyId), opts.version ? eq(journeyRuns.version, opts.version) : undefined))
    .orderBy(desc(journeyRuns.startedAt), desc(journeyRuns.workflowId))
    .limit(opts.limit);
  const results: ReplayResult[] = rows.map((r) => ({ workflowId: r.workflowId, runId: null, version: r.version, status: 'not_replayed' }));
  const byId = new Map(results.map((r) => [r.workflowId, r]));
  // The latest run of each workflow: after continue-as-new that is the one a worker would replay on wake-up.
  const histories = (
    await mapLimit(rows, 4, async (r) => {
      try {
        const handle = deps.client.workflow.getHandle(r.workflowId);
        const history = await handle.fetchHistory();
        return { workflowId: r.workflowId, history };
      } catch (err) {
        Object.assign(byId.get(r.workflowId)!, { status: 'unavailable', error: failureMessage(err as Error) ?? 'history unavailable' });
        return undefined;
      }
    })
  ).filter((h) => h !== undefined);
  for (const h of histories) {
    const started = h.history.events?.[0]?.workflowExecutionStartedEventAttributes;
    byId.get(h.workflowId)!.runId = started?.originalExecutionRunId ?? null;
  }
  let timedOut = false;
  if (histories.length > 0) {
    const codePath = await (deps.workflowBundle ?? (() => ensureWorkflowBundle()))();
    const { Worker } = await import('@temporalio/worker');
    const it = Worker.runReplayHistories({ workflowBundle: { codePath }, replayName: `api-replay-${journeyId}` }, histories)[Symbol.asyncIterator]();
    const deadline = Date.now() + (deps.replayTimeoutMs ?? 60_000);
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), Math.max(0, deadline - Date.now()))));
      const next = await Promise.race([it.next(), expired]).finally(() => clearTimeout(timer));
      if (next === 'timeout') {
        timedOut = true;
        // Stops the replay worker once the history in hand is done; the request does not wait for it.
        it.return?.().catch(() => undefined);
        break;
      }
      if (next.done) break;
      const r = byId.get(next.value.workflowId);
      if (!r) continue;
      if (!next.value.error) r.status = 'ok';
      else {
        r.status = next.value.error.name === 'DeterminismViolationError' ? 'nondeterministic' : 'failed';
        r.error = (next.value.error.message || String(next.value.error)).slice(0, 1000);
      }
    }
  }
  const count = (s: ReplayResult['status']) => results.filter((r) => r.status === s).length;
  return {
    journeyId,
    results,
    totals: { ok: count('ok'), nondeterministic: count('nondeterministic'), failed: count('failed'), unavailable: count('unavailable'), notReplayed: count('not_replayed') },
    timedOut,
  };
}
