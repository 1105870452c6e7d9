// The worker the chaos suite (tests/chaos/) starts as a child process and kills with SIGKILL: the production activities
// and workflow bundle against the stack named by the environment (TEMPORAL_ADDRESS, DATABASE_URL, SMTP_URL,
// WEBHOOK_SECRETS, TEMPORAL_TASK_QUEUE). Unlike `npm run worker` it neither migrates nor syncs schedules (the suite
// owns its database and has none), so a restart is as quick as the SDK allows; it prints `chaos-worker ready` once polling.
import { Client, Connection } from '@temporalio/client';
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
      ...activityDeps({ config, database, mailer, renderer: createRenderer(), secrets: [config.signingSecret ?? 'chaos-signing-secret-0123456789abcdef'] }),
      temporal: { client, taskQueue: config.temporal.taskQueue },
    }),
    maxCachedWorkflows: config.workerMaxCachedWorkflows,
  });
  const running = worker.run();
  process.stdout.write('chaos-worker ready\n');
  await running;
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`chaos-worker failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(2);
});
