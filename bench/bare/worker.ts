/**
 * Child-process entry for the bare baseline worker: its own bundle (bench/bare/workflows.ts, cached in dist/ by
 * content hash), the trivial activities, and — when DATABASE_URL, SMTP_URL and BENCH_WEBHOOK_URL are given — the
 * effect activities against the same database, SMTP sink and receiver as itinera's worker; same SDK defaults.
 *   TEMPORAL_ADDRESS=… BARE_TASK_QUEUE=… [DATABASE_URL=… SMTP_URL=… BENCH_WEBHOOK_URL=…] node --import tsx bench/bare/worker.ts
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, makeTelemetryFilterString, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createEffectActivities, trivialActivities } from './activities';

const here = fileURLToPath(new URL('.', import.meta.url));
const workflowsPath = path.join(here, 'workflows.ts');

async function bundle(): Promise<string> {
  const hash = createHash('sha256').update(readFileSync(workflowsPath)).update(readFileSync(path.join(here, 'activities.ts'))).digest('hex').slice(0, 16);
  const dir = path.join(here, '..', '..', 'dist');
  const file = path.join(dir, `bench-bare-bundle.${hash}.js`);
  if (existsSync(file)) return file;
  const noop = () => undefined;
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error } });
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, code);
  renameSync(tmp, file);
  return file;
}

const address = process.env.TEMPORAL_ADDRESS;
const taskQueue = process.env.BARE_TASK_QUEUE;
if (!address || !taskQueue) throw new Error('TEMPORAL_ADDRESS and BARE_TASK_QUEUE are required');
Runtime.install({ logger: new DefaultLogger('WARN'), telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } } });
const { DATABASE_URL: databaseUrl, SMTP_URL: smtpUrl, BENCH_WEBHOOK_URL: webhookUrl } = process.env;
const effects =
  databaseUrl && smtpUrl && webhookUrl
    ? createEffectActivities({ databaseUrl, smtpUrl, webhookUrl, smtpPool: Number(process.env.SMTP_POOL_SIZE ?? 5), dbPool: Number(process.env.DATABASE_POOL_SIZE ?? 20) })
    : undefined;
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  taskQueue,
  workflowBundle: { codePath: await bundle() },
  activities: { ...trivialActivities, ...effects?.activities },
  maxCachedWorkflows: Number(process.env.WORKER_MAX_CACHED_WORKFLOWS ?? 2000),
});
process.stdout.write('bare worker running\n');
await worker.run();
await effects?.close();
await connection.close();
