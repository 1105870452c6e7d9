import { DefaultLogger, NativeConnection, Worker, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import type { Activities } from './activities';
import { ensureWorkflowBundle } from './temporal/workflow-bundle';

export type WorkerOptions = {
  address: string;
  namespace: string;
  taskQueue: string;
  activities: Activities;
  /** @default 2000 */
  maxCachedWorkflows?: number;
  /** `host:port` for the SDK's Prometheus endpoint (task slots, poll latency, workflow/activity counts); off when undefined. */
  metricsAddress?: string;
  log?: (line: string) => void;
};

let runtimeInstalled = false;
/** The Rust core logs every poll error at WARN; keep our console for what matters. */
function installRuntime(metricsAddress?: string) {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({
      logger: new DefaultLogger('WARN'),
      telemetryOptions: {
        logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} },
        ...(metricsAddress ? { metrics: { prometheus: { bindAddress: metricsAddress } } } : {}),
      },
    });
  } catch {
    // Already installed by another component in this process (e.g. the test environment).
  }
}

/** Builds a worker that uses the prebuilt workflow bundle (rebuilt only when workflow sources change). */
export async function createWorker(opts: WorkerOptions): Promise<{ worker: Worker; connection: NativeConnection }> {
  installRuntime(opts.metricsAddress);
  const connection = await NativeConnection.connect({ address: opts.address });
  const codePath = await ensureWorkflowBundle({ log: opts.log });
  const worker = await Worker.create({
    connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowBundle: { codePath },
    activities: opts.activities,
    maxCachedWorkflows: opts.maxCachedWorkflows ?? 2000,
  });
  return { worker, connection };
}
