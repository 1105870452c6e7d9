// `npm run worker`: the production worker, against TEMPORAL_ADDRESS and DATABASE_URL.
import { loadConfig } from './config';
import { createLogger } from './logger';
import { openMigratedDatabase, requirePostgres } from './wiring/database';
import { runEntryPoint } from './wiring/entry';
import { heapLimitMiB } from './wiring/heap';
import { createProcessWorker } from './wiring/process-worker';
import { resolveSigningSecrets } from './wiring/secrets';
import { connectTemporal } from './wiring/temporal';

async function main() {
  const config = loadConfig();
  requirePostgres({ config, process: 'worker' });
  const log = createLogger(config.logLevel, 'itinera-worker');
  const secrets = resolveSigningSecrets({ config });
  const database = await openMigratedDatabase({ config, log });
  const temporal = await connectTemporal({ config, log, allowDevServer: false });
  const processWorker = await createProcessWorker({
    config, log, database, temporal, secrets,
    ...(config.workerMetricsAddress ? { metricsAddress: config.workerMetricsAddress } : {}),
  });
  // The SDK shuts the worker down gracefully on SIGINT/SIGTERM; run() resolves once in-flight tasks are done.
  log.info({ taskQueue: config.temporal.taskQueue, address: temporal.address, mail: processWorker.mailDescription, node: process.versions.node, heapLimitMiB: Math.round(heapLimitMiB()) }, 'worker running');
  await processWorker.worker.run();
  await processWorker.close();
  await temporal.close();
  await database.close();
}

runEntryPoint({ main, failure: 'worker failed' });
