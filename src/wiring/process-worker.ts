import type { Logger } from 'pino';
import { createActivities } from '../activities';
import type { Config } from '../config';
import type { DatabaseHandle } from '../db/client';
import { syncJourneySchedulesExclusive } from '../publishing/schedules';
import { SALES_FILE } from '../paths';
import { loadSalesDirectory } from '../sales';
import { loadScoringModel, type ScoringModel } from '../scoring/model';
import { ensureScoreDecaySchedule } from '../temporal/schedules';
import { activityDeps } from './activities';
import { createMailer, createRenderer } from './channels';
import type { TemporalHandle } from './temporal';
import { createWorker, type ItineraWorker } from './worker';
import { ingestDeps } from './ingest';
import { startOutboxSweeper } from '../contacts/outbox';
import { startAnalyticsRollup } from '../analytics/drain';

export type ProcessWorkerOptions = {
  config: Config;
  log: Logger;
  database: DatabaseHandle;
  temporal: TemporalHandle;
  /** See resolveSigningSecrets. */
  secrets: readonly string[];
  /** `host:port` of the SDK's Prometheus endpoint: the standalone worker serves WORKER_METRICS_ADDRESS there. */
  metricsAddress?: string;
};

export type ProcessWorker = {
  worker: ItineraWorker;
  /** The scoring model the activities were given; `npm start` hands the same one to its API. */
  scoring: ScoringModel;
  /** Where email goes (SMTP host or the .eml directory), for the start-up banner. */
  mailDescription: string;
  /** Once `worker.run()` has resolved: closes the worker's own connection, then the mailer. */
  close(): Promise<void>;
};

/**
 * The worker side of `npm start` and `npm run worker`, which used to repeat it: loads the scoring model and the
 * sales teams, makes sure the score-decay Schedule exists and the journeys' Schedules match the published versions,
 * then creates the workers with the production activities. Running them is the caller's.
 */
export async function createProcessWorker(opts: ProcessWorkerOptions): Promise<ProcessWorker> {
  const { config, log, database, temporal, secrets } = opts;
  const taskQueue = config.temporal.taskQueue;
  const scoring = await loadScoringModel(config.scoringModelFile);
  const sales = await loadSalesDirectory(SALES_FILE);
  await ensureScoreDecaySchedule(temporal.client, { taskQueue, timezone: scoring.timezone });
  const schedules = await syncJourneySchedulesExclusive(temporal.client, database, { taskQueue });
  log.info(schedules, 'journey schedules in sync');
  const { mailer, description } = createMailer({ config });
  const ingest = ingestDeps({ db: database.db, temporal: temporal.client, taskQueue, scoring });
  const activities = createActivities({
    ...activityDeps({ config, database, mailer, renderer: await createRenderer(), secrets, scoring, sales }),
    temporal: { client: temporal.client, taskQueue },
    ingest,
  });
  // Routes contact.updated / contact.unsubscribed rows whose writer died (or failed to route) after committing them.
  const sweeper = startOutboxSweeper(ingest, { log });
  // Keeps the analytics rollups (deals, funnel, touches, then attribution credits) current from the stored events, off
  // the ingest path; reports catch up on what is left when they are asked.
  const rollup = startAnalyticsRollup(database.db, { currency: config.analytics.currency, log });
  const { worker, connection } = await createWorker({
    address: temporal.address,
    namespace: config.temporal.namespace,
    taskQueue,
    activities,
    maxCachedWorkflows: config.workerMaxCachedWorkflows,
    maxConcurrentActivities: config.workerMaxConcurrentActivities,
    maxConcurrentWorkflowTasks: config.workerMaxConcurrentWorkflowTasks,
    ...(opts.metricsAddress ? { metricsAddress: opts.metricsAddress } : {}),
    log: (l) => log.info(l),
    logger: log,
  });
  return {
    worker,
    scoring,
    mailDescription: description,
    close: async () => {
      await sweeper.stop();
      await rollup.stop();
      await connection.close();
      await mailer.close?.();
    },
  };
}
