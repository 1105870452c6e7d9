import { spawn } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { resolveTemporalBinary } from '../../src/temporal/cli-binary';
import { SEARCH_ATTRIBUTE_FLAGS, SEARCH_ATTRIBUTES } from '../../src/contracts';
import { SQLITE_PRAGMAS, waitForTemporal } from '../../src/temporal/dev-server';
import { ensureWorkflowBundle } from '../../src/temporal/workflow-bundle';
import { compileLayouts, type CompiledLayouts } from '../../src/templates/layouts';
import { TEMPLATES_DIR } from '../../src/paths';
import { freePort } from './ports';
import { scaled } from './timing';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundle: string;
    /** journeys/templates/_layouts compiled once (tests/helpers/renderer.ts). */
    sampleLayouts: CompiledLayouts;
  }
}

/**
 * `temporal server start-dev` in memory, with the arguments TestWorkflowEnvironment.createLocal would pass. Started
 * here rather than through createLocal because the SDK gives the server a fixed 5 s to answer, and a loaded machine
 * needs longer just to start the binary (7.7 s measured with two CPU hogs): we wait 60 s stretched by TIME_SCALE.
 */
async function startDevServer(binary: string): Promise<{ address: string; stop(): Promise<void> }> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const args = [
    'server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port), '--namespace', 'default', '--log-level', 'error',
    '--dynamic-config-value', 'frontend.enableServerVersionCheck=false',
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
    ...SEARCH_ATTRIBUTE_FLAGS.flatMap((s) => ['--search-attribute', s]),
    ...SQLITE_PRAGMAS.flatMap((p) => ['--sqlite-pragma', p]),
  ];
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  try {
    await Promise.race([
      waitForTemporal(address, scaled(60_000)),
      exited.then((code) => {
        throw new Error(`temporal server start-dev exited with code ${code}: ${stderr}`);
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    address,
    stop: async () => {
      process.off('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(kill);
    },
  };
}

type Ready = { address: string; bundle: string; layouts: CompiledLayouts };
type Shared = { users: number; ready: Promise<Ready>; stop?: () => Promise<void> };
/**
 * Vitest runs this setup for the root config and again for each project that extends it, in one process (root and
 * main for `--project main`): they share one server instead of each starting a Go process that idles on the same
 * two cores for the whole run.
 */
const SHARED = Symbol.for('itinera.tests.temporal');
const registry = globalThis as { [SHARED]?: Shared };

async function start(shared: Shared): Promise<Ready> {
  const [address, bundle, layouts] = await Promise.all([
    (async () => {
      if (process.env.TEMPORAL_ADDRESS) return process.env.TEMPORAL_ADDRESS;
      const bin = await resolveTemporalBinary();
      if (bin.kind === 'path') {
        const server = await startDevServer(bin.path);
        shared.stop = server.stop;
        return server.address;
      }
      // No binary and no Go: the SDK downloads the CLI and starts it (with its own 5 s start-up limit).
      const env = await TestWorkflowEnvironment.createLocal({
        server: {
          ip: '127.0.0.1',
          searchAttributes: [...SEARCH_ATTRIBUTES],
          extraArgs: [...SQLITE_PRAGMAS.flatMap((p) => ['--sqlite-pragma', p]), '--log-level', 'error'],
        },
      });
      shared.stop = () => env.teardown();
      return env.address;
    })(),
    ensureWorkflowBundle(),
    // The sample email layouts, compiled once for every test file's renderer (tests/helpers/renderer.ts).
    compileLayouts(TEMPLATES_DIR),
  ]);
  return { address, bundle, layouts };
}

/** One Temporal dev server for the whole run (or TEMPORAL_ADDRESS), the workflow bundle and the sample layouts built once. */
export async function setup(project: TestProject) {
  let shared = registry[SHARED];
  if (!shared) {
    const fresh: Shared = { users: 0, ready: Promise.resolve({ address: '', bundle: '', layouts: { layouts: {}, problems: [] } }) };
    fresh.ready = start(fresh);
    registry[SHARED] = shared = fresh;
  }
  shared.users++;
  const { address, bundle, layouts } = await shared.ready;
  project.provide('temporalAddress', address);
  project.provide('workflowBundle', bundle);
  project.provide('sampleLayouts', layouts);
}

export async function teardown() {
  const shared = registry[SHARED];
  if (!shared || --shared.users > 0) return;
  delete registry[SHARED];
  await shared.stop?.();
}
