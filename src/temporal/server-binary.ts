import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { defaultToolsDir } from './cli-binary';

/**
 * The Temporal server the CLI (cli-binary.ts, v1.5.1) embeds: v1.29.1. Later servers (1.30+) need a Go newer than
 * this machine's 1.26.8, and the compose file pins the same version, so what runs in Docker is what is tested here.
 */
export const TEMPORAL_SERVER_VERSION = '1.29.1';
const SERVER_MODULE = 'go.temporal.io/server';

export type TemporalServerBinaries = {
  version: string;
  /** `temporal-server` (go.temporal.io/server/cmd/server). */
  server: string;
  /** `temporal-sql-tool` (go.temporal.io/server/cmd/tools/sql): creates and upgrades the schemas. */
  sqlTool: string;
  source: 'cache' | 'built';
};

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findGo(env: Record<string, string | undefined>): string | undefined {
  const dirs = [...(env.PATH ?? '').split(path.delimiter), ...(env.GOROOT ? [path.join(env.GOROOT, 'bin')] : [])];
  for (const dir of dirs) {
    if (dir && isExecutable(path.join(dir, 'go'))) return path.join(dir, 'go');
  }
  return undefined;
}

/**
 * The server and its SQL tool, cached under `<tools dir>/temporal-server-<version>/` and built with `go install` from
 * the Go module proxy only when that folder is missing. The build goes to a scratch folder first and is renamed into
 * place, so an interrupted build never leaves a half-written cache behind.
 */
export async function resolveTemporalServer(
  opts: { env?: Record<string, string | undefined>; toolsDir?: string; version?: string; log?: (line: string) => void } = {},
): Promise<TemporalServerBinaries> {
  const env = opts.env ?? process.env;
  const version = opts.version ?? TEMPORAL_SERVER_VERSION;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const dir = path.join(opts.toolsDir ?? defaultToolsDir(env), `temporal-server-${version}`);
  const server = path.join(dir, 'temporal-server');
  const sqlTool = path.join(dir, 'temporal-sql-tool');
  if (isExecutable(server) && isExecutable(sqlTool)) return { version, server, sqlTool, source: 'cache' };

  const go = findGo(env);
  if (!go) throw new Error(`the Temporal server ${version} is not in ${dir} and Go is not installed to build it (Go 1.25 or newer)`);
  const scratch = `${dir}.partial-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const packages = [`${SERVER_MODULE}/cmd/server@v${version}`, `${SERVER_MODULE}/cmd/tools/sql@v${version}`];
  log(`temporal-server: building ${packages.join(' and ')} into ${dir} (a few minutes the first time; later runs reuse it)`);
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    // nice: the build shares the machine with whatever else runs (tests, other builds).
    const child = spawn('nice', ['-n', '10', go, 'install', ...packages], {
      env: { ...env, GOBIN: scratch, GOFLAGS: [env.GOFLAGS, '-buildvcs=false'].filter(Boolean).join(' ') } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const timer = setInterval(() => log(`temporal-server: still building… ${Math.round((Date.now() - started) / 1000)}s`), 30_000);
    child.on('error', (err) => {
      clearInterval(timer);
      reject(err);
    });
    child.on('exit', (code) => {
      clearInterval(timer);
      if (code === 0) resolve();
      else reject(new Error(`go install ${packages.join(' ')} failed with exit code ${code}`));
    });
  });
  renameSync(path.join(scratch, 'server'), path.join(scratch, 'temporal-server'));
  renameSync(path.join(scratch, 'sql'), path.join(scratch, 'temporal-sql-tool'));
  rmSync(dir, { recursive: true, force: true });
  renameSync(scratch, dir);
  log(`temporal-server: built in ${Math.round((Date.now() - started) / 1000)}s → ${dir}`);
  return { version, server, sqlTool, source: 'built' };
}
