import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const ENTRY = 'scripts/chaos-worker.ts';

export type ExitRecord = { code: number | null; signal: NodeJS.Signals | null; killedByUs: boolean; stderrTail: string };

export type WorkerSupervisor = {
  /** Processes started, SIGKILLs we sent, and every exit (ours and unexpected ones). */
  stats: { starts: number; kills: number; exits: ExitRecord[] };
  /** Resolves when the current process polls Temporal. */
  ready(): Promise<void>;
  /** The current process's pid (undefined between a death and the restart). */
  pid(): number | undefined;
  /** kill -9 the current process; the supervisor starts a new one, like systemd or Kubernetes would. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
};

export type SuperviseOptions = {
  /** @default 250 */
  restartDelayMs?: number;
  /** The entry point, relative to the project root. @default scripts/chaos-worker.ts (prints `chaos-worker ready`) */
  entry?: string;
  /**
   * For an entry that prints no ready line (the production `src/worker-main.ts`): resolves once the process with this
   * pid polls; `gone()` turns true when it exited meanwhile.
   */
  readyWhen?: (pid: number, gone: () => boolean) => Promise<void>;
  /** What `env` is laid over. @default process.env */
  baseEnv?: NodeJS.ProcessEnv;
};

/** Keeps one worker process alive (`scripts/chaos-worker.ts` by default), restarting it whenever it dies (after `restartDelayMs`). */
export function superviseWorker(env: Record<string, string>, opts: SuperviseOptions = {}): WorkerSupervisor {
  const stats: WorkerSupervisor['stats'] = { starts: 0, kills: 0, exits: [] };
  let child: ChildProcess | undefined;
  let stopping = false;
  let killing = false;
  let readyWaiters: (() => void)[] = [];
  let isReady = false;
  let exited: Promise<void> = Promise.resolve();

  const start = () => {
    stats.starts++;
    isReady = false;
    let stderr = '';
    const c = spawn(process.execPath, ['--import', 'tsx', opts.entry ?? ENTRY], {
      cwd: ROOT,
      env: { ...(opts.baseEnv ?? process.env), LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    const markReady = () => {
      if (isReady || child !== c) return;
      isReady = true;
      for (const w of readyWaiters) w();
      readyWaiters = [];
    };
    if (opts.readyWhen) {
      opts.readyWhen(c.pid!, () => c.exitCode !== null || c.signalCode !== null).then(markReady, () => undefined);
      c.stdout?.resume();
    } else {
      c.stdout?.on('data', (d: Buffer) => {
        if (d.toString().includes('chaos-worker ready')) markReady();
      });
    }
    c.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    exited = new Promise<void>((resolve) => {
      c.once('exit', (code, signal) => {
        stats.exits.push({ code, signal, killedByUs: killing || stopping, stderrTail: stderr });
        killing = false;
        if (child === c) child = undefined;
        resolve();
        if (!stopping) setTimeout(() => !stopping && start(), opts.restartDelayMs ?? 250);
      });
    });
  };
  const onExit = () => child?.kill('SIGKILL');
  process.once('exit', onExit);
  start();
  return {
    stats,
    ready: () => (isReady ? Promise.resolve() : new Promise((r) => readyWaiters.push(r))),
    pid: () => (child && child.exitCode === null ? child.pid : undefined),
    async kill9() {
      const c = child;
      if (!c || c.exitCode !== null) return;
      killing = true;
      stats.kills++;
      c.kill('SIGKILL');
      await exited;
    },
    async stop() {
      stopping = true;
      process.off('exit', onExit);
      const c = child;
      if (c && c.exitCode === null) {
        c.kill('SIGKILL');
        await exited;
      }
    },
  };
}
