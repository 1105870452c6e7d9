// `npm run api`: the production REST API, against TEMPORAL_ADDRESS and DATABASE_URL.
import { loadConfig } from '../config';
import { loadScoringModel } from '../scoring/model';
import { createLogger } from '../logger';
import { createApi } from '../wiring/api';
import { startConfiguredBounceMailbox } from '../wiring/bounce-mailbox';
import { openMigratedDatabase, requirePostgres } from '../wiring/database';
import { runEntryPoint } from '../wiring/entry';
import { resolveSigningSecrets } from '../wiring/secrets';
import { connectTemporal } from '../wiring/temporal';

async function main() {
  const config = loadConfig();
  requirePostgres({ config, process: 'API' });
  const log = createLogger(config.logLevel, 'itinera-api');
  const database = await openMigratedDatabase({ config, log });
  const temporal = await connectTemporal({ config, log, allowDevServer: false });
  const scoring = await loadScoringModel(config.scoringModelFile);
  const secrets = resolveSigningSecrets({ config });
  const app = createApi({ config, log, database, temporal, scoring, secrets });
  const server = app.listen(config.port, config.host, () => log.info({ port: config.port, host: config.host, node: process.versions.node }, 'API listening'));
  const bounces = await startConfiguredBounceMailbox({ config, log, database, temporal, scoring, secrets });
  const stop = () => {
    server.close(() => {
      void (bounces?.close() ?? Promise.resolve()).then(() => temporal.close()).then(() => database.close()).then(() => process.exit(0));
    });
    server.closeIdleConnections();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

runEntryPoint({ main, failure: 'API failed' });
