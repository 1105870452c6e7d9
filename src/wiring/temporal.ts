import { Client, Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { ConfigError, type Config } from '../config';
import { resolveTemporalBinary } from '../temporal/cli-binary';
import { startDevServer, waitForTemporal, type DevServer } from '../temporal/dev-server';

export type TemporalHandle = {
  address: string;
  client: Client;
  connection: Connection;
  devServer?: DevServer;
  /** Closes the client connection, then stops the embedded dev server if this process started one. */
  close(): Promise<void>;
};

export type ConnectTemporalOptions = {
  config: Config;
  log: Logger;
  /** Start the embedded dev server when TEMPORAL_ADDRESS is not set (`npm start`); otherwise that is a ConfigError. */
  allowDevServer: boolean;
};

/** Connects to TEMPORAL_ADDRESS, or starts the embedded dev server (SQLite under DATA_DIR) when none is set. */
export async function connectTemporal(opts: ConnectTemporalOptions): Promise<TemporalHandle> {
  const { config, log } = opts;
  let address = config.temporal.address;
  let devServer: DevServer | undefined;
  if (!address) {
    if (!opts.allowDevServer) {
      throw new ConfigError('TEMPORAL_ADDRESS is missing: the standalone worker and API need a Temporal server (host:port).');
    }
    const bin = await resolveTemporalBinary({ log: (l) => log.info(l) });
    if (bin.kind === 'download') {
      throw new Error(
        'No Temporal CLI binary is available: install Go 1.25+ (itinera builds the CLI with it), put `temporal` on PATH, ' +
          'or set TEMPORAL_CLI_PATH.',
      );
    }
    devServer = await startDevServer({
      binary: bin.path,
      dataDir: config.dataDir,
      port: config.temporal.devPort,
      uiPort: config.temporal.uiPort,
      log: (l) => log.debug({ component: 'temporal' }, l),
    });
    address = devServer.address;
    log.info({ address, db: devServer.dbFile }, 'embedded Temporal dev server started');
  } else {
    await waitForTemporal(address, 30_000);
  }
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  return {
    address,
    client,
    connection,
    devServer,
    close: async () => {
      await connection.close();
      await devServer?.stop();
    },
  };
}
