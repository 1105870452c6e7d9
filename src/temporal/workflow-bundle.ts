import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const WORKFLOWS_ENTRY = path.join(ROOT, 'src', 'workflows', 'index.ts');
/** Everything the workflow bundle can import; a change to any of these invalidates the cached bundle. */
const BUNDLED_DIRS = ['src/workflows', 'src/journey', 'src/contracts'];

function listFiles(target: string): string[] {
  if (!existsSync(target)) return [];
  if (statSync(target).isFile()) return [target];
  return readdirSync(target, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(path.join(target, e.name)) : [path.join(target, e.name)]))
    .filter((f) => f.endsWith('.ts'))
    .sort();
}

export function workflowSourceHash(): string {
  const hash = createHash('sha256');
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'node_modules/@temporalio/workflow/package.json'), 'utf8')) as {
    version: string;
  };
  hash.update(pkg.version);
  for (const rel of BUNDLED_DIRS) {
    for (const file of listFiles(path.join(ROOT, rel))) {
      hash.update(path.relative(ROOT, file));
      hash.update(readFileSync(file));
    }
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * Returns the path of a prebuilt workflow bundle for the current sources, building it only when they changed, so a
 * worker start costs a file read instead of a multi-second webpack run.
 */
export async function ensureWorkflowBundle(opts: { dir?: string; log?: (line: string) => void } = {}): Promise<string> {
  const dir = opts.dir ?? path.join(ROOT, 'dist');
  const file = path.join(dir, `workflow-bundle.${workflowSourceHash()}.js`);
  if (existsSync(file)) return file;
  const started = Date.now();
  opts.log?.('worker: bundling workflow code (sources changed since the last bundle)…');
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_ENTRY, logger: quietLogger });
  mkdirSync(dir, { recursive: true });
  // Write then rename so a concurrent reader never sees half a bundle.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, code);
  renameSync(tmp, file);
  opts.log?.(`worker: workflow bundle ready in ${((Date.now() - started) / 1000).toFixed(1)}s → ${path.relative(ROOT, file)}`);
  return file;
}

const noop = () => undefined;
const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error };
