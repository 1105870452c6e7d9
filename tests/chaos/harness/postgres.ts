import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort, run } from './proc';

export type PgCluster = {
  url: string;
  port: number;
  /** A crash and recovery: `pg_ctl stop -m immediate` (no checkpoint, every backend killed), then start again. */
  crashAndRestart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
};

/** The newest server binaries installed by the distribution (/usr/lib/postgresql/<major>/bin), if any. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] ? path.join(root, majors[0], 'bin') : undefined;
}

/**
 * A private Postgres cluster in a temp dir on a free port, so crashing it never disturbs the shared server other
 * tests use. initdb refuses to run as root: as root we run the binaries as the distribution's `postgres` user.
 */
export async function startPgCluster(): Promise<PgCluster> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('no Postgres server binaries under /usr/lib/postgresql/*/bin');
  const dir = mkdtempSync(path.join(tmpdir(), 'itinera-chaos-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const pg = (tool: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', path.join(bin, tool), ...args]) : run(path.join(bin, tool), args);
  const data = path.join(dir, 'data');
  const port = await freePort();
  await pg('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--no-instructions']);
  // fsync=off loses nothing when only processes crash (the kernel keeps the page cache); commits stay synchronous so
  // an immediate stop really tests recovery of committed work.
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200`;
  const start = () => pg('pg_ctl', ['-D', data, '-o', opts, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start']);
  const stopImmediate = () => pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  try {
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let running = true;
  // If the test process ends without stop() (a crash, a timeout), pg_ctl's daemon would outlive it: stop it on the way out.
  const onExit = () => {
    try {
      const ctl = [path.join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop'];
      execFileSync(asRoot ? 'runuser' : ctl[0]!, asRoot ? ['-u', 'postgres', '--', ...ctl] : ctl.slice(1), { stdio: 'ignore' });
    } catch {
      // already stopped
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async crashAndRestart(downMs = 2000) {
      await stopImmediate();
      running = false;
      await new Promise((r) => setTimeout(r, downMs));
      await start();
      running = true;
    },
    async stop() {
      process.off('exit', onExit);
      if (running) await stopImmediate().catch(() => undefined);
      running = false;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
