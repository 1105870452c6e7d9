import { continueAsNew, isCancellation, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import { type Activities, type BulkProgress, bulkProgressQuery, type BulkRunActionInput } from '../contracts';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 10 },
});

/** Pages per run before continue-as-new: each page costs a handful of history events. */
const PAGES_PER_RUN = 200;

/**
 * Cancels, terminates or repairs (skip-wait, retry-now, migrate) every running run a filter selects, page by page through the projection, queryable for
 * progress. Cancelling the bulk action stops it after the page in flight.
 */
export async function bulkRunActionWorkflow(input: BulkRunActionInput): Promise<BulkProgress> {
  const bulkId = workflowInfo().workflowId;
  const progress: BulkProgress = input.carried?.progress ?? {
    bulkId,
    action: input.action,
    dryRun: input.dryRun ?? false,
    status: 'running',
    total: 0,
    scanned: 0,
    matched: 0,
    succeeded: 0,
    skipped: 0,
    failed: 0,
    errors: [],
    pages: 0,
  };
  setHandler(bulkProgressQuery, () => progress);
  let cursor = input.carried?.cursor ?? null;
  try {
    if (!input.carried) progress.total = await acts.countBulkCandidates({ filter: input.filter, before: input.before });
    for (let n = 0; ; n++) {
      if (n >= PAGES_PER_RUN) await continueAsNew<typeof bulkRunActionWorkflow>({ ...input, carried: { cursor, progress } });
      const page = await acts.bulkRunPage({
        action: input.action,
        filter: input.filter,
        ...(input.reason !== undefined ? { reason: input.reason } : {}),
        ...(input.version !== undefined ? { version: input.version } : {}),
        ...(input.requestedBy !== undefined ? { requestedBy: input.requestedBy } : {}),
        dryRun: input.dryRun ?? false,
        before: input.before,
        after: cursor,
        pageSize: input.pageSize ?? 100,
      });
      progress.pages++;
      progress.scanned += page.scanned;
      progress.matched += page.matched;
      progress.succeeded += page.succeeded;
      progress.skipped += page.skipped;
      progress.failed += page.failed;
      for (const e of page.errors) if (progress.errors.length < 20) progress.errors.push(e);
      const notes = (progress.notes ??= []);
      for (const e of page.notes ?? []) if (notes.length < 20) notes.push(e);
      // Runs can start or end while the action pages: the total never reads below what was scanned.
      progress.total = Math.max(progress.total, progress.scanned);
      cursor = page.nextCursor;
      if (cursor === null) break;
    }
  } catch (err) {
    if (isCancellation(err)) {
      // Stopped on request: the counts so far are the answer (the runs already acted on stay so).
      progress.status = 'cancelled';
      return progress;
    }
    progress.status = 'failed';
    // An activity's failure reads "Activity task failed"; the reason (e.g. input that cannot work) is its cause.
    const cause = (err as { cause?: unknown }).cause;
    progress.error = cause instanceof Error ? cause.message : (err as Error).message;
    throw err;
  }
  progress.status = 'completed';
  return progress;
}
