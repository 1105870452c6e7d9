import { DefaultLogger, NativeConnection, Worker, Runtime, makeTelemetryFilterString, type LogEntry } from '@temporalio/worker';
import type { Logger } from 'pino';
import { maskDeep, maskPersonalData } from '../log-safety';
import type { Activities } from '../activities';
import { ensureWorkflowBundle } from '../temporal/workflow-bundle';
import { batchTaskQueue } from '../contracts';
import { WORKER_DEFAULTS } from '../config';
import { cacheForHeap, HEAP_PER_CACHED_RUN_MIB } from './heap';

export type WorkerOptions = {
  address: string;
  namespace: string;
  taskQueue: string;
  activities: Activities;
  /**
   * Sticky cache of the journey-runs worker: what bounds its memory; fewer when the heap limit cannot hold that many
   * (src/wiring/heap.ts). @default WORKER_DEFAULTS.maxCachedWorkflows
   */
  maxCachedWorkflows?: number;
  /** @default WORKER_DEFAULTS.maxConcurrentActivities */
  maxConcurrentActivities?: number;
  /** @default WORKER_DEFAULTS.maxConcurrentWorkflowTasks */
  maxConcurrentWorkflowTasks?: number;
  /** `host:port` for the SDK's Prometheus endpoint (task slots, poll latency, workflow/activity counts); off when undefined. */
  metricsAddress?: string;
  log?: (line: string) => void;
  /** Where the SDK's own warnings and errors go (masked like every line). @default JSON lines on stderr, masked */
  logger?: Logger;
};

let runtimeInstalled = false;

/**
 * The SDK's own log lines (activity and workflow failures, worker lifecycle) into our logger, at WARN and above: they
 * carry failure messages, which can quote a recipient (an SMTP server's "550 <…>: Recipient address rejected"), so
 * they go through the same masking and error reduction as every other line (see log-safety.ts).
 */
export function sdkLogger(log?: Logger): DefaultLogger {
  return new DefaultLogger('WARN', (entry: LogEntry) => {
    const meta = { sdk: true, ...entry.meta };
    const level = entry.level.toLowerCase() as 'trace' | 'debug' | 'info' | 'warn' | 'error';
    if (log) log[level](meta, entry.message);
    else process.stderr.write(`${JSON.stringify({ level, msg: maskPersonalData(entry.message), ...(maskDeep(meta) as object) })}\n`);
  });
}

/** The Rust core logs every poll error at WARN; keep our console for what matters. */
function installRuntime(metricsAddress?: string, log?: Logger) {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({
      logger: sdkLogger(log),
      telemetryOptions: {
        logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} },
        ...(metricsAddress ? { metrics: { prometheus: { bindAddress: metricsAddress } } } : {}),
      },
    });
  } catch {
    // Already installed by another component in this process (e.g. the test environment).
  }
}

/** The journey-runs worker and the batch worker of one process, run and stopped together. */
export type ItineraWorker = {
  run(): Promise<void>;
  /** Graceful: in-flight tasks finish, then `run()` resolves. */
  shutdown(): void;
  getState(): ReturnType<Worker['getState']>;
};

/** Runs several SDK workers as one: if one fails, the others are shut down and the failure is reported. */
export function combineWorkers(workers: Worker[]): ItineraWorker {
  const shutdown = () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  };
  return {
    async run() {
      const runs = workers.map((w) => w.run());
      try {
        await Promise.all(runs);
      } catch (err) {
        shutdown();
        await Promise.allSettled(runs);
        throw err;
      }
    },
    shutdown,
    getState: () => workers[0]!.getState(),
  };
}

/**
 * Builds the process's workers on the prebuilt workflow bundle (rebuilt only when workflow sources change): one for
 * journey runs on `taskQueue`, one for batch workflows on its batch queue (see task-queues.ts), sharing a connection.
 */
export async function createWorker(opts: WorkerOptions): Promise<{ worker: ItineraWorker; connection: NativeConnection }> {
  installRuntime(opts.metricsAddress, opts.logger);
  const connection = await NativeConnection.connect({ address: opts.address });
  const codePath = await ensureWorkflowBundle({ log: opts.log });
  const common = { connection, namespace: opts.namespace, workflowBundle: { codePath }, activities: opts.activities };
  const cache = cacheForHeap(opts.maxCachedWorkflows ?? WORKER_DEFAULTS.maxCachedWorkflows);
  if (cache.limitedByHeap) {
    const warning = {
      ...cache,
      hint: `the heap limit holds about ${cache.size} cached runs (${HEAP_PER_CACHED_RUN_MIB} MiB each); raise it with NODE_OPTIONS=--max-old-space-size=<MiB> to cache ${cache.configured}`,
    };
    if (opts.logger) opts.logger.warn(warning, 'sticky cache reduced to fit the heap limit');
    else opts.log?.(`sticky cache reduced to ${cache.size} (configured ${cache.configured}) to fit the heap limit of ${cache.heapLimitMiB} MiB`);
  }
  const runs = await Worker.create({
    ...common,
    taskQueue: opts.taskQueue,
    maxCachedWorkflows: cache.size,
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? WORKER_DEFAULTS.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: opts.maxConcurrentWorkflowTasks ?? WORKER_DEFAULTS.maxConcurrentWorkflowTasks,
    // One V8 context shared by every cached run (the SDK default; set so a default change cannot triple our memory).
    reuseV8Context: true,
  });
  // Few batch workflows run at once; a small cache keeps this worker's memory small.
  const batch = await Worker.create({ ...common, taskQueue: batchTaskQueue(opts.taskQueue), maxCachedWorkflows: 50 });
  return { worker: combineWorkers([runs, batch]), connection };
}
