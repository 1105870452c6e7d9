// `npm run worker`: the production worker, against TEMPORAL_ADDRESS and DATABASE_URL.
import { createActivities } from './activities';
import { ConfigError, loadConfig } from './config';
import { createLogger } from './logger';
import { connectTemporal, openMigratedDatabase, resolveSigningSecrets } from './runtime';
import { activityDeps, createMailer, createRenderer, SALES_FILE, SCORING_MODEL_FILE } from './services';
import { loadScoringModel } from './scoring/model';
import { loadSalesDirectory } from './sales';
import { ensureScoreDecaySchedule } from './temporal/schedules';
import { syncJourneySchedules } from './publishing/schedules';
import { createWorker } from './worker';

async function main() {
  const config = loadConfig();
  if (!config.databaseUrl) {
    throw new ConfigError('DATABASE_URL is missing: the standalone worker needs Postgres (PGlite serves one process only; use `npm start`).');
  }
  const log = createLogger(config.logLevel, 'itinera-worker');
  const secrets = resolveSigningSecrets(config);
  const database = await openMigratedDatabase(config, log);
  const temporal = await connectTemporal(config, log, { allowDevServer: false });
  const { mailer } = createMailer(config);
  const scoring = await loadScoringModel(SCORING_MODEL_FILE);
  const sales = await loadSalesDirectory(SALES_FILE);
  await ensureScoreDecaySchedule(temporal.client, { taskQueue: config.temporal.taskQueue, timezone: scoring.timezone });
  const schedules = await syncJourneySchedules(temporal.client, database.db, { taskQueue: config.temporal.taskQueue });
  log.info(schedules, 'journey schedules in sync');
  const { worker, connection } = await createWorker({
    address: temporal.address,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    activities: createActivities({
    ...activityDeps(config, database, mailer, createRenderer(), secrets, scoring, sales),
    temporal: { client: temporal.client, taskQueue: config.temporal.taskQueue },
  }),
    maxCachedWorkflows: config.workerMaxCachedWorkflows,
    maxConcurrentActivities: config.workerMaxConcurrentActivities,
    maxConcurrentWorkflowTasks: config.workerMaxConcurrentWorkflowTasks,
    ...(config.workerMetricsAddress ? { metricsAddress: config.workerMetricsAddress } : {}),
    log: (l) => log.info(l),
  });
  // The SDK shuts the worker down gracefully on SIGINT/SIGTERM; run() resolves once in-flight tasks are done.
  log.info({ taskQueue: config.temporal.taskQueue, address: temporal.address }, 'worker running');
  await worker.run();
  await connection.close();
  await temporal.connection.close();
  await mailer.close?.();
  await database.close();
}

main().catch((err) => {
  process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `worker failed: ${(err as Error).stack}\n`);
  process.exit(err instanceof ConfigError ? 1 : 2);
});
