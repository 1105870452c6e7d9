import type { Client } from '@temporalio/client';
import type { Db } from '../db/client';
import { entryHistory, runningRunIds } from '../db/queries';
import type { IngestDeps } from '../ingest/event';
import type { TriggerSource } from '../ingest/router';
import { dbTriggerSource } from '../publishing/journeys';
import type { ScoringModel } from '../scoring/model';

/**
 * The ingest path outside the API (the worker's activities and the outbox sweeper): the same triggers, run projection
 * and scoring model the API's routes use.
 */
export function ingestDeps(opts: { db: Db; temporal: Client; taskQueue: string; scoring?: ScoringModel | undefined; triggers?: TriggerSource }): IngestDeps {
  const { db } = opts;
  return {
    db,
    ...(opts.scoring ? { scoring: opts.scoring } : {}),
    router: {
      temporal: opts.temporal,
      taskQueue: opts.taskQueue,
      triggers: opts.triggers ?? dbTriggerSource(db),
      runningRuns: (c) => runningRunIds(db, c),
      entryHistory: (j, c) => entryHistory(db, j, c),
    },
  };
}
