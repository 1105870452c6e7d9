import { ApplicationFailure, heartbeat } from '@temporalio/activity';
import type { Activities } from '../contracts';
import { inputDataError } from '../db/errors';
import { bulkInputProblem, bulkRunPage, countBulkCandidates } from '../runs/bulk';
import type { ActivityDeps } from './deps';

/**
 * Input that can never work fails the bulk action at once (non-retryable, with the reason in its progress), rather
 * than being retried: a bound it breaks, or a value Postgres refuses.
 */
async function permanentOnBadInput<T>(input: Parameters<typeof bulkInputProblem>[0], run: () => Promise<T>): Promise<T> {
  const problem = bulkInputProblem(input);
  if (problem) throw ApplicationFailure.nonRetryable(`the bulk action cannot work: ${problem}`, 'BulkInputInvalid');
  try {
    return await run();
  } catch (err) {
    const refused = inputDataError(err);
    if (refused) throw ApplicationFailure.nonRetryable(`the bulk action cannot work: the database refused its input (${refused.message})`, 'BulkInputInvalid');
    throw err;
  }
}

/** The bulk run action's pages (src/runs/bulk.ts), heartbeating after each run acted on. */
export function bulkActivities(deps: ActivityDeps): Pick<Activities, 'countBulkCandidates' | 'bulkRunPage'> {
  const client = () => {
    if (!deps.temporal) throw new Error('bulk run actions need a Temporal client in the activity deps');
    return deps.temporal.client;
  };
  return {
    countBulkCandidates: (input) => permanentOnBadInput(input, () => countBulkCandidates(deps.db, input)),
    bulkRunPage: (input) => permanentOnBadInput(input, () => bulkRunPage({ db: deps.db, client }, input, () => heartbeat())),
  };
}
