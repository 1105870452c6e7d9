import type { TestProject } from 'vitest/node';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { resolveTemporalBinary } from '../../src/temporal/cli-binary';
import { SEARCH_ATTRIBUTES } from '../../src/contracts';
import { SQLITE_PRAGMAS } from '../../src/temporal/dev-server';
import { ensureWorkflowBundle } from '../../src/temporal/workflow-bundle';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundle: string;
  }
}

let env: TestWorkflowEnvironment | undefined;

/** One Temporal dev server for the whole run (or TEMPORAL_ADDRESS), and the workflow bundle built once. */
export async function setup(project: TestProject) {
  const [address, bundle] = await Promise.all([
    (async () => {
      if (process.env.TEMPORAL_ADDRESS) return process.env.TEMPORAL_ADDRESS;
      const bin = await resolveTemporalBinary();
      env = await TestWorkflowEnvironment.createLocal({
        server: {
          ...(bin.kind === 'path' ? { executable: { type: 'existing-path', path: bin.path } } : {}),
          ip: '127.0.0.1',
          searchAttributes: [...SEARCH_ATTRIBUTES],
          extraArgs: [...SQLITE_PRAGMAS.flatMap((p) => ['--sqlite-pragma', p]), '--log-level', 'error'],
        },
      });
      return env.address;
    })(),
    ensureWorkflowBundle(),
  ]);
  project.provide('temporalAddress', address);
  project.provide('workflowBundle', bundle);
}

export async function teardown() {
  await env?.teardown();
}
