// The worker the chaos suite (tests/chaos/) starts as a child process and kills with SIGKILL: the production activities
// and workflow bundle against the stack named by the environment (TEMPORAL_ADDRESS, DATABASE_URL, SMTP_URL,
// WEBHOOK_SECRETS, TEMPORAL_TASK_QUEUE). Unlike `npm run worker` it neither migrates nor syncs schedules (the suite
// owns its database and has none), so a restart is as quick as the SDK allows. It prints `chaos-worker ready` once
// Temporal lists this process among the task queue's workflow and activity pollers: the suite's kills then land on a
// worker that has taken work, not on one still starting.
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { createActivities } from '../src/activities';
import { loadConfig } from '../src/config';
import { openDatabase } from '../src/db/client';
import { activityDeps } from '../src/wiring/activities';
import { createMailer, createRenderer } from '../src/wiring/channels';
import { createWorker } from '../src/wiring/worker';

async function main() {
  const config = loadConfig();
  if (!config.databaseUrl || !config.temporal.address) throw new Error('chaos-worker needs DATABASE_URL and TEMPORAL_ADDRESS');
  const database = await openDatabase({ url: config.databaseUrl, poolSize: config.databasePoolSize });
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const { mailer } = createMailer({ config });
  const { worker } = await createWorker({
    address: config.temporal.address,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    activities: createActivities({
      ...activityDeps({ config, database, mailer, renderer: await createRenderer(), secrets: [config.signingSecret ?? 'chaos-signing-secret-0123456789abcdef'] }),
      temporal: { client, taskQueue: config.temporal.taskQueue },
    }),
    maxCachedWorkflows: config.workerMaxCachedWorkflows,
  });
  let stopped = false;
  const running = worker.run().finally(() => (stopped = true));
  await untilPolling(client, config.temporal.namespace, config.temporal.taskQueue, () => stopped);
  if (!stopped) process.stdout.write('chaos-worker ready\n');
  await running;
  process.exit(0);
}

/** Resolves once Temporal reports a workflow and an activity poller with this process's identity (the SDK default). */
async function untilPolling(client: Client, namespace: string, taskQueue: string, stopped: () => boolean): Promise<void> {
  const identity = `${process.pid}@${hostname()}`;
  const { TaskQueueType } = proto.temporal.api.enums.v1;
  for (;;) {
    if (stopped()) return;
    const polling = await Promise.all(
      [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY].map((taskQueueType) =>
        client.workflowService
          .describeTaskQueue({ namespace, taskQueue: { name: taskQueue }, taskQueueType })
          .then((r) => (r.pollers ?? []).some((p) => p.identity === identity), () => false),
      ),
    );
    if (polling.every(Boolean)) return;
    await sleep(100);
  }
}

main().catch((err) => {
  process.stderr.write(`chaos-worker failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(2);
});
