import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The last tag of the Temporal CLI that `go install` accepts: later ones carry a `replace` directive. */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export type TemporalBinary =
  | { kind: 'path'; path: string; source: 'TEMPORAL_CLI_PATH' | 'PATH' | 'cache' | 'built' }
  /** No binary and no Go: let @temporalio/testing download one (works only with internet access). */
  | { kind: 'download' };

export type ResolveOptions = {
  env?: Record<string, string | undefined>;
  /** Where a built binary is cached. @default $ITINERA_TOOLS_DIR or <project>/.tools/bin */
  toolsDir?: string;
  log?: (line: string) => void;
};

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, envPath: string | undefined): string | undefined {
  for (const dir of (envPath ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function defaultToolsDir(env: Record<string, string | undefined> = process.env): string {
  return env.ITINERA_TOOLS_DIR ? path.resolve(env.ITINERA_TOOLS_DIR) : path.join(PROJECT_ROOT, '.tools', 'bin');
}

/**
 * Finds the `temporal` CLI: $TEMPORAL_CLI_PATH → `temporal` on PATH → the project cache → a `go install` build into
 * the cache → SDK download. Every step but the build is a file check, so a second call is instant.
 */
export async function resolveTemporalBinary(opts: ResolveOptions = {}): Promise<TemporalBinary> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const explicit = env.TEMPORAL_CLI_PATH?.trim();
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`TEMPORAL_CLI_PATH is "${explicit}", which is not an executable file`);
    return { kind: 'path', path: explicit, source: 'TEMPORAL_CLI_PATH' };
  }
  const fromPath = onPath('temporal', env.PATH);
  if (fromPath) return { kind: 'path', path: fromPath, source: 'PATH' };

  const toolsDir = opts.toolsDir ?? defaultToolsDir(env);
  const cached = path.join(toolsDir, 'temporal');
  if (isExecutable(cached)) return { kind: 'path', path: cached, source: 'cache' };

  const go = onPath('go', env.PATH) ?? (env.GOROOT ? onPath('go', path.join(env.GOROOT, 'bin')) : undefined);
  if (!go) {
    log('temporal: no binary found and Go is not installed; the Temporal SDK will try to download the dev server.');
    return { kind: 'download' };
  }
  mkdirSync(toolsDir, { recursive: true });
  log(
    `temporal: building the Temporal CLI (${TEMPORAL_CLI_MODULE}) into ${toolsDir} with Go, because no prebuilt ` +
      'binary can be downloaded here. The first build takes a few minutes; later starts reuse it.',
  );
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(go, ['install', TEMPORAL_CLI_MODULE], {
      env: { ...env, GOBIN: toolsDir, USER: env.USER ?? 'itinera' } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    // A heartbeat so a long silent build does not look like a hang.
    const timer = setInterval(() => log(`temporal: still building… ${Math.round((Date.now() - started) / 1000)}s`), 15000);
    child.on('error', (err) => {
      clearInterval(timer);
      reject(err);
    });
    child.on('exit', (code) => {
      clearInterval(timer);
      if (code === 0) resolve();
      else reject(new Error(`go install ${TEMPORAL_CLI_MODULE} failed with exit code ${code}`));
    });
  });
  log(`temporal: built in ${Math.round((Date.now() - started) / 1000)}s → ${cached}`);
  return { kind: 'path', path: cached, source: 'built' };
}

export function temporalVersion(binary: string): string {
  const out = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return (out.stdout || out.stderr).trim();
}
