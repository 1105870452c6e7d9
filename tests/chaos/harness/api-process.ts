import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, sleep } from './proc';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export type ApiProcess = {
  /** http://127.0.0.1:<port> */
  url: string;
  pid: number;
  stop(): Promise<void>;
};

/**
 * The production API entry point (`npm run api` = src/api/server.ts) as a child process on a free port, with `env`
 * on top of this process's environment; resolves once GET /healthz answers 200.
 */
export async function startApiProcess(env: Record<string, string>, opts: { timeoutMs?: number; baseEnv?: NodeJS.ProcessEnv } = {}): Promise<ApiProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/api/server.ts'], {
    cwd: ROOT,
    env: { ...(opts.baseEnv ?? process.env), LOG_LEVEL: 'warn', ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the API process exited with ${child.exitCode}: ${stderr}`);
    const ok = await fetch(`${url}/healthz`).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the API process did not answer /healthz within ${(opts.timeoutMs ?? 120_000) / 1000}s: ${stderr}`);
    }
    await sleep(250);
  }
  return {
    url,
    pid: child.pid!,
    async stop() {
      process.off('exit', onExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
