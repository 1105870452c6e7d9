import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_FLAGS } from '../contracts';

export type DevServerOptions = {
  binary: string;
  /** Directory for the SQLite file; the server keeps runs across restarts because of it. */
  dataDir: string;
  /** @default 7233 */
  port?: number;
  /** @default 8233 */
  uiPort?: number;
  /** Disable the Web UI. @default false */
  headless?: boolean;
  /** @default 'warn' */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  log?: (line: string) => void;
};

export type DevServer = {
  address: string;
  uiUrl: string | undefined;
  dbFile: string;
  process: ChildProcess;
  stop(): Promise<void>;
};

/**
 * WAL lets the dev server's readers (visibility, UI) proceed while history is written; `synchronous=NORMAL` is
 * still crash-safe in WAL mode and removes an fsync per transaction, the main cost of the SQLite dev server.
 */
export const SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=normal', 'busy_timeout=5000'];

export async function waitForTemporal(address: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        // Bounded: the SDK sets no deadline of its own, and an unanswered call would outlast `timeoutMs`.
        await connection.withDeadline(Date.now() + 5000, () => connection.workflowService.getSystemInfo({}));
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`Temporal at ${address} did not answer within ${timeoutMs / 1000}s: ${(lastError as Error)?.message}`);
}

/** Starts `temporal server start-dev` with a file-backed SQLite store and our search attributes registered. */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const port = opts.port ?? 7233;
  const uiPort = opts.uiPort ?? 8233;
  mkdirSync(opts.dataDir, { recursive: true });
  const dbFile = path.resolve(opts.dataDir, 'temporal.sqlite');
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    dbFile,
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--log-level',
    opts.logLevel ?? 'warn',
    ...SQLITE_PRAGMAS.flatMap((p) => ['--sqlite-pragma', p]),
    ...SEARCH_ATTRIBUTE_FLAGS.flatMap((s) => ['--search-attribute', s]),
    ...(opts.headless ? ['--headless'] : ['--ui-port', String(uiPort)]),
  ];
  const child = spawn(opts.binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  const log = opts.log ?? (() => undefined);
  child.stdout?.on('data', (d: Buffer) => log(d.toString().trimEnd()));
  child.stderr?.on('data', (d: Buffer) => log(d.toString().trimEnd()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // If this process dies without a clean stop, do not leave an orphaned server holding the port and the SQLite file.
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));
  const address = `127.0.0.1:${port}`;
  try {
    await Promise.race([
      waitForTemporal(address, 60_000),
      exited.then((code) => {
        throw new Error(`temporal server start-dev exited with code ${code} (is port ${port} already in use?)`);
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    address,
    uiUrl: opts.headless ? undefined : `http://localhost:${uiPort}`,
    dbFile,
    process: child,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timeout = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timeout);
    },
  };
}
