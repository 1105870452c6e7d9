import { CancellationScope, continueAsNew, isCancellation, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import { type Activities, type AudienceLaunchInput, type LaunchCounts, type LaunchProgress, launchProgressQuery } from '../contracts';

const pages = proxyActivities<Activities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});
const writes = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s' },
});

/** Pages per run before continue-as-new: each page costs a handful of history events. */
const PAGES_PER_RUN = 200;

/**
 * Enrols every contact matching a filter into one journey version: pages through contacts by id, rate-limited,
 * resumable (the cursor lives in workflow state, each page's outcome in the database), and queryable for progress.
 * Cancelling stops after the page in flight and records the counts so far.
 */
export async function audienceLaunchWorkflow(input: AudienceLaunchInput): Promise<LaunchProgress> {
  const launchId = input.launchId ?? workflowInfo().workflowId;
  const rate = Math.max(1, input.ratePerSecond ?? 100);
  const pageSize = Math.max(1, Math.min(input.pageSize ?? 500, 1000));
  const version =
    input.carried?.version ??
    (
      await writes.prepareLaunch({
        launchId,
        journeyId: input.journeyId,
        ratePerSecond: rate,
        ...(input.version !== undefined ? { version: input.version } : {}),
        ...(input.filter ? { filter: input.filter } : {}),
        ...(input.createdBy ? { createdBy: input.createdBy } : {}),
      })
    ).version;

  const progress: LaunchProgress = {
    launchId,
    journeyId: input.journeyId,
    version,
    status: 'running',
    ...(input.carried?.counts ?? { scanned: 0, matched: 0, enrolled: 0, skipped: 0, skipReasons: {} }),
    pages: input.carried?.pages ?? 0,
  };
  setHandler(launchProgressQuery, () => progress);
  let cursor = input.carried?.cursor ?? null;
  const counts = (): LaunchCounts => ({ scanned: progress.scanned, matched: progress.matched, enrolled: progress.enrolled, skipped: progress.skipped, skipReasons: progress.skipReasons });

  try {
    for (let n = 0; ; n++) {
      if (n >= PAGES_PER_RUN) {
        await continueAsNew<typeof audienceLaunchWorkflow>({ ...input, launchId, carried: { cursor, counts: counts(), pages: progress.pages, version } });
      }
      const began = Date.now();
      const page = await pages.launchPage({ launchId, journeyId: input.journeyId, version, after: cursor, pageSize });
      progress.pages++;
      progress.scanned += page.scanned;
      progress.matched += page.matched;
      progress.enrolled += page.enrolled;
      progress.skipped += page.skipped;
      for (const [reason, k] of Object.entries(page.skipReasons)) progress.skipReasons[reason] = (progress.skipReasons[reason] ?? 0) + k;
      cursor = page.nextCursor;
      await writes.recordLaunchProgress({ launchId, status: 'running', ...counts() });
      if (cursor === null) break;
      // The rate limit: a page of starts may take no less than its share of a second per contact started.
      const budget = Math.ceil(((page.enrolled + page.skipped) / rate) * 1000) - (Date.now() - began);
      if (budget > 0) await sleep(budget);
    }
  } catch (err) {
    if (!isCancellation(err)) {
      progress.status = 'failed';
      await writes.recordLaunchProgress({ launchId, status: 'failed', ...counts(), error: (err as Error).message });
      throw err;
    }
    progress.status = 'cancelled';
    await CancellationScope.nonCancellable(() => writes.recordLaunchProgress({ launchId, status: 'cancelled', ...counts() }));
    return progress;
  }
  await writes.recordLaunchProgress({ launchId, status: 'completed', ...counts() });
  // Only now: a reader who sees "completed" finds the final row too.
  progress.status = 'completed';
  return progress;
}
