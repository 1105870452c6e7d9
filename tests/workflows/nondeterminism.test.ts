/**
 * Replay must catch a nondeterministic workflow change, not only pass histories that are fine. A second workflow
 * bundle is built from a temporary entry file whose journeyWorkflow starts with a timer the current code does not
 * have; a run recorded by a worker on that bundle is then replayed against the current code by
 * POST /v1/journeys/:id/replay and by `itinera runs replay`, which must name it nondeterministic (the CLI exiting 1),
 * while a run recorded by the current code replays as ok.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { upsertContactByExternalId } from '../../src/db/queries';
import { startJourneyRun } from '../../src/ingest/router';
import { publishJourney } from '../../src/publishing/journeys';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

const ROOT = path.join(import.meta.dirname, '../..');

const JOURNEY = `
id: nd-journey
name: Nondeterminism check
triggers: [{ type: event, event: nd.started }]
start: mark
steps:
  mark: { type: tag, tags: [nd], next: pause }
  pause: { type: wait, duration: 1s, next: done }
  done: { type: exit, reason: done }
`;

/** The changed workflow: the current one behind a 1 ms timer, so its first command differs from the recorded one. */
const ALTERED = (root: string) => `
import { sleep } from '@temporalio/workflow';
import { journeyWorkflow as current } from '${path.join(root, 'src/workflows/journey')}';
export * from '${path.join(root, 'src/workflows/index')}';
export async function journeyWorkflow(...args: Parameters<typeof current>): ReturnType<typeof current> {
  await sleep(1);
  return current(...args);
}
`;

describe('replay reports a deliberately nondeterministic workflow change (API and CLI)', () => {
  let stack: TestStack;
  let dir: string;
  let altered: { stop(): Promise<void>; taskQueue: string };

  beforeAll(async () => {
    stack = await startTestStack();
    await publishJourney(stack.db.db, JOURNEY, {});
    dir = path.join(ROOT, 'dist', `nondeterministic-${process.pid}-${randomBytes(3).toString('hex')}`);
    mkdirSync(dir, { recursive: true });
    const entry = path.join(dir, 'workflows.ts');
    writeFileSync(entry, ALTERED(ROOT));
    const { code } = await bundleWorkflowCode({ workflowsPath: entry, logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: console.error } });
    const codePath = path.join(dir, 'bundle.js');
    writeFileSync(codePath, code);
    const connection = await NativeConnection.connect({ address: stack.temporal.address });
    const taskQueue = `${stack.temporal.taskQueue}-altered`;
    const worker = await Worker.create({ connection, taskQueue, workflowBundle: { codePath }, activities: stack.activities });
    const running = worker.run();
    altered = {
      taskQueue,
      stop: async () => {
        worker.shutdown();
        await running;
        await connection.close();
      },
    };
  });
  afterAll(async () => {
    await altered?.stop();
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const start = async (externalId: string, taskQueue: string) => {
    const contact = await upsertContactByExternalId(stack.db.db, { externalId, email: `${externalId}@example.com` });
    const event = { id: `${externalId}-start`, type: 'nd.started', properties: {}, occurredAt: Date.now() };
    const r = await startJourneyRun(
      { temporal: stack.temporal.client, taskQueue },
      { journeyId: 'nd-journey', version: 1, entry: { reEntry: 'once', maxConcurrent: 1 }, contactId: contact.id, event },
    );
    expect(r.started).toBe(true);
    // Both runs do the journey's work: the difference is only in the commands recorded.
    expect(await stack.temporal.client.workflow.getHandle(r.workflowId).result()).toEqual({ status: 'completed', reason: 'done' });
    return r.workflowId;
  };

  it('names the run recorded by the changed code nondeterministic and passes the other', async () => {
    const changed = await start('nd-changed', altered.taskQueue);
    const current = await start('nd-current', stack.temporal.taskQueue);
    // The changed run's history starts with the timer the current code never issues.
    const history = await stack.temporal.client.workflow.getHandle(changed).fetchHistory();
    expect(history.events!.some((e) => e.timerStartedEventAttributes)).toBe(true);
    // The projection of both runs is what the replay route lists.
    await until('both runs projected as ended', async () => {
      const res = await request(stack.app).get('/v1/runs').query({ journeyId: 'nd-journey' }).set('Authorization', `Bearer ${stack.keys.ops}`);
      return res.body.items?.filter((r: { status: string }) => r.status === 'completed').length === 2 ? true : undefined;
    });

    const res = await request(stack.app).post('/v1/journeys/nd-journey/replay').set('Authorization', `Bearer ${stack.keys.ops}`).send({ limit: 10 }).expect(200);
    expect(res.body.totals).toEqual({ ok: 1, nondeterministic: 1, failed: 0, unavailable: 0, notReplayed: 0 });
    const by = Object.fromEntries((res.body.results as { workflowId: string; status: string; error?: string }[]).map((r) => [r.workflowId, r]));
    expect(by[changed]).toMatchObject({ status: 'nondeterministic', error: expect.stringMatching(/nondetermin/i) });
    expect(by[current]).toMatchObject({ status: 'ok' });
  });

  it('`itinera runs replay` prints it and exits 1', async () => {
    const server = stack.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const { port } = server.address() as AddressInfo;
      const child = spawn(path.join(ROOT, 'node_modules/.bin/tsx'), ['src/cli/index.ts', 'runs', 'replay', 'nd-journey', '--api', `http://127.0.0.1:${port}`, '--key', stack.keys.ops], {
        cwd: ROOT,
        env: process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((r) => child.once('exit', r));
      expect({ code, stderr }).toMatchObject({ code: 1, stderr: expect.stringContaining('1 run(s) would not replay on the current workflow code') });
      expect(stdout).toMatch(/nondeterministic/);
      expect(stdout).toContain('journey:nd-journey:');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
