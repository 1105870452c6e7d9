// `npm run api`: the production REST API, against TEMPORAL_ADDRESS and DATABASE_URL.
import { ConfigError, loadConfig } from '../config';
import { dbTriggerSource } from '../publishing/journeys';
import { loadScoringModel } from '../scoring/model';
import { SCORING_MODEL_FILE } from '../services';
import { createLogger } from '../logger';
import { connectTemporal, openMigratedDatabase, resolveSigningSecrets } from '../runtime';
import { buildApp } from './app';

async function main() {
  const config = loadConfig();
  if (!config.databaseUrl) {
    throw new ConfigError('DATABASE_URL is missing: the standalone API needs Postgres (PGlite serves one process only; use `npm start`).');
  }
  const log = createLogger(config.logLevel, 'itinera-api');
  const database = await openMigratedDatabase(config, log);
  const temporal = await connectTemporal(config, log, { allowDevServer: false });
  const app = buildApp({ database, temporal: temporal.client, taskQueue: config.temporal.taskQueue, triggers: dbTriggerSource(database.db),
    scoring: await loadScoringModel(SCORING_MODEL_FILE), logger: log, signingSecrets: resolveSigningSecrets(config) });
  const server = app.listen(config.port, config.host, () => log.info({ port: config.port, host: config.host }, 'API listening'));
  const stop = () => {
    server.close(() => {
      void temporal.connection.close().then(() => database.close()).then(() => process.exit(0));
    });
    server.closeIdleConnections();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `API failed: ${(err as Error).stack}\n`);
  process.exit(err instanceof ConfigError ? 1 : 2);
});
