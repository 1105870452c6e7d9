/** The CLI as a user runs it: a child process (`node --import tsx src/cli/index.ts …`), with its exit code and output. */
import { execFile } from 'node:child_process';
import type { Server } from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Express } from 'express';

const run = promisify(execFile);
const CLI = path.resolve('src/cli/index.ts');

export type CliResult = { code: number; stdout: string; stderr: string };

export function runCli(args: string[]): Promise<CliResult> {
  return run(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, NODE_NO_WARNINGS: '1' } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: CliResult) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

/** The app on an ephemeral loopback port, for the CLI's `--api`. */
export async function listenLocally(app: Express): Promise<{ server: Server; url: string }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}
