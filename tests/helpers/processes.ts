/** Production entry points (`npm run worker`, `npm run api`) as child processes, the way a deploy runs them. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const ROOT = path.join(import.meta.dirname, '../..');

export type Proc = { child: ChildProcess; out: string[]; exit: Promise<number | null> };

/** `npm run <script>` as a deploy runs it (the Dockerfile's CMD is `npm run api`), in a process group of its own. */
export function npmRun(script: string, env: Record<string, string>): Proc {
  const child = spawn('npm', ['run', '--silent', script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const out: string[] = [];
  child.stdout!.on('data', (c: Buffer) => out.push(String(c)));
  child.stderr!.on('data', (c: Buffer) => out.push(String(c)));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out, exit };
}

export function killGroup(p: Proc | undefined): void {
  if (!p?.child.pid) return;
  try {
    process.kill(-p.child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** The JSON log line with this `msg`, once the process has written it. */
export function logLine(p: Proc, msg: string): Record<string, unknown> | undefined {
  for (const line of p.out.join('').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.msg === msg) return parsed;
    } catch {
      // A line still being written.
    }
  }
  return undefined;
}

