import { spawn, type SpawnOptions } from 'node:child_process';

export { freePort } from '../../helpers/ports';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs a command to completion; rejects with its output when it fails. */
export function run(cmd: string, args: string[], opts: SpawnOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${out.slice(-2000)}`))));
  });
}

/** Random integer milliseconds in [minMs, maxMs]. */
export const between = (minMs: number, maxMs: number) => minMs + Math.floor(Math.random() * (maxMs - minMs + 1));
