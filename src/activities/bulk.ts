import { heartbeat } from '@temporalio/activity';
import type { Activities } from '../contracts';
import { bulkRunPage, countBulkCandidates } from '../runs/bulk';
import type { ActivityDeps } from './deps';

/** The bulk run action's pages (src/runs/bulk.ts), heartbeating after each run acted on. */
export function bulkActivities(deps: ActivityDeps): Pick<Activities, 'countBulkCandidates' | 'bulkRunPage'> {
  const client = () => {
    if (!deps.temporal) throw new Error('bulk run actions need a Temporal client in the activity deps');
    return deps.temporal.client;
  };
  return {
    countBulkCandidates: (input) => countBulkCandidates(deps.db, input),
    bulkRunPage: (input) => bulkRunPage({ db: deps.db, client }, input, () => heartbeat()),
  };
}
