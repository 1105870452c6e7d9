import { ApplicationFailure, heartbeat } from '@temporalio/activity';
import { sweepDateTriggers } from '../triggers/sweep';
import type { Activities } from '../contracts';
import type { ActivityDeps } from './deps';
import { activityLog } from './log';

export function dateTriggerActivities(deps: ActivityDeps): Pick<Activities, 'sweepDateTriggers'> {
  return {
    /** One sweep of a journey's date triggers (src/triggers/sweep.ts); safe to retry: starts are keyed per occurrence. */
    async sweepDateTriggers(input) {
      if (!deps.temporal) throw ApplicationFailure.nonRetryable('this worker has no Temporal client to start runs with', 'MisconfiguredWorker');
      return sweepDateTriggers({ db: deps.db, temporal: deps.temporal, onPage: () => heartbeat(), log: (m, a) => activityLog('info', m, a) }, input);
    },
  };
}
