import type { Client } from '@temporalio/client';
import type { Db } from '../db/client';
import { dbEntryCaps } from '../db/entry-caps';
import { batched } from '../db/batch';
import { entryHistory, runningRunsOf } from '../db/queries';
import type { IngestDeps } from '../ingest/event';
import type { TriggerSource } from '../ingest/router';
import { dbTriggerSource } from '../publishing/journeys';
import type { ScoringModel } from '../scoring/model';

/**
 * The one ingest path, for the API's routes and for the worker's activities and outbox sweeper alike: the same
 * triggers, run projection (keyed runs too), entry history, entry caps and scoring model, so an event routes the same
 * way whichever process stored it.
 */
export function ingestDeps(opts: { db: Db; temporal: Client; taskQueue: string; scoring?: ScoringModel | undefined; triggers?: TriggerSource }): IngestDeps {
  const { db } = opts;
  // The contact's running runs, keyed or not, for the router's two questions: one statement for every contact whose
  // events are routed together (the router asks both at once, so they share it too).
  const runsOf = batched<string, Awaited<ReturnType<typeof runningRunsOf>>>(async (contactIds) => {
    const rows = await runningRunsOf(db, contactIds);
    return contactIds.map((c) => rows.filter((r) => r.contactId === c));
  });
  return {
    db,
    ...(opts.scoring ? { scoring: opts.scoring } : {}),
    router: {
      temporal: opts.temporal,
      taskQueue: opts.taskQueue,
      triggers: opts.triggers ?? dbTriggerSource(db),
      runningRuns: async (c) => (await runsOf(c)).map((r) => r.workflowId),
      entryHistory: (j, c, k) => entryHistory(db, j, c, k),
      keyedRuns: async (c) => (await runsOf(c)).flatMap((r) => (r.keyed ? [{ workflowId: r.workflowId, ...r.keyed }] : [])),
      entryCaps: dbEntryCaps(db),
    },
  };
}
