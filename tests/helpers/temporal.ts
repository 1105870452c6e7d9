import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { Activities } from '../../src/activities';
import { batchTaskQueue } from '../../src/contracts';
import { combineWorkers, type ItineraWorker } from '../../src/wiring/worker';

export type TestTemporal = {
  client: Client;
  taskQueue: string;
  address: string;
  /** Starts a worker on this file's own task queue; stop it with the returned function. */
  startWorker(activities: Activities): Promise<{ worker: ItineraWorker; stop(): Promise<void> }>;
  close(): Promise<void>;
};

let runtimeInstalled = false;

/** A client and a private task queue on the shared dev server, so test files never steal each other's tasks. */
export async function connectTestTemporal(): Promise<TestTemporal> {
  if (!runtimeInstalled) {
    runtimeInstalled = true;
    // Worker lifecycle chatter at INFO drowns test output; failures still surface at WARN.
    Runtime.install({ logger: new DefaultLogger('WARN') });
  }
  const address = inject('temporalAddress');
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const taskQueue = `test-${randomBytes(4).toString('hex')}`;
  const natives: NativeConnection[] = [];
  return {
    client,
    taskQueue,
    address,
    async startWorker(activities) {
      const native = await NativeConnection.connect({ address });
      natives.push(native);
      const common = { connection: native, workflowBundle: { codePath: inject('workflowBundle') }, activities };
      // As in production: journey runs on the file's queue, batch workflows (launches, bulk actions) on its batch queue.
      const runs = await Worker.create({ ...common, taskQueue });
      const batch = await Worker.create({ ...common, taskQueue: batchTaskQueue(taskQueue), maxCachedWorkflows: 50 });
      const worker = combineWorkers([runs, batch]);
      const running = worker.run();
      return {
        worker,
        stop: async () => {
          worker.shutdown();
          await running;
        },
      };
    },
    async close() {
      await connection.close();
      for (const n of natives) await n.close();
    },
  };
}
