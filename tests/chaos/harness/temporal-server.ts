import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveTemporalBinary } from '../../../src/temporal/cli-binary';
import { startDevServer, type DevServer } from '../../../src/temporal/dev-server';
import { freePort } from './proc';

export type ChaosTemporal = {
  address: string;
  /** kill -9 the dev server, wait, and start it again on the same port and SQLite file: runs must survive it. */
  crashAndRestart(downMs?: number): Promise<void>;
  /** kill -9 without a restart; `up()` brings it back. */
  crash(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
};

/** The project's file-backed dev server (src/temporal/dev-server.ts) in a temp dir, headless, on a free port. */
export async function startChaosTemporal(): Promise<ChaosTemporal> {
  const bin = await resolveTemporalBinary();
  if (bin.kind !== 'path') throw new Error('the chaos suite needs the temporal CLI binary (TEMPORAL_CLI_PATH, PATH or the tools cache)');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'itinera-chaos-temporal-'));
  const port = await freePort();
  const start = () => startDevServer({ binary: bin.path, dataDir, port, headless: true, logLevel: 'error' });
  let server: DevServer | undefined = await start();
  const kill = async () => {
    const s = server;
    server = undefined;
    if (!s || s.process.exitCode !== null) return;
    const exited = new Promise((r) => s.process.once('exit', r));
    s.process.kill('SIGKILL');
    await exited;
  };
  return {
    address: `127.0.0.1:${port}`,
    async crashAndRestart(downMs = 2000) {
      await kill();
      await new Promise((r) => setTimeout(r, downMs));
      server = await start();
    },
    crash: kill,
    async up() {
      server = await start();
    },
    async stop() {
      await server?.stop();
      server = undefined;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
