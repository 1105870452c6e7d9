/**
 * A worker whose configured sticky cache does not fit its heap limit keeps fewer runs cached instead of running out of
 * memory: `npm run worker` under NODE_OPTIONS=--max-old-space-size=256 with WORKER_MAX_CACHED_WORKFLOWS=5000 parks
 * more runs than the reduced cache holds and stays up.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { contacts, journeyRuns } from '../../src/db/schema';
import { startJourneyRun } from '../../src/ingest/router';
import { publishJourney } from '../../src/publishing/journeys';
import { cacheForHeap, HEAP_BASE_MIB, HEAP_PER_CACHED_RUN_MIB, heapLimitMiB } from '../../src/wiring/heap';
import { createTestDatabase } from '../helpers/db';
import { killGroup, logLine, npmRun, type Proc } from '../helpers/processes';
import { scaled } from '../helpers/timing';
import { until } from '../helpers/until';

const PARKED = `
id: heap-parked
name: Heap parked
triggers: [{ type: event, event: heap.parked }]
start: hold
steps:
  hold: { type: wait, duration: 1h, next: done }
  done: { type: exit }
`;

describe('cacheForHeap', () => {
  it('keeps the configured cache when the heap holds it, and fits it to the heap when not', () => {
    expect(cacheForHeap(1500, 4144)).toEqual({ size: 1500, configured: 1500, heapLimitMiB: 4144, limitedByHeap: false });
    const small = cacheForHeap(5000, 256);
    expect(small).toEqual({ size: Math.floor((256 - HEAP_BASE_MIB) / HEAP_PER_CACHED_RUN_MIB), configured: 5000, heapLimitMiB: 256, limitedByHeap: true });
    expect(cacheForHeap(5000, 100).size).toBe(10);
    expect(cacheForHeap(0, 100)).toMatchObject({ size: 0, limitedByHeap: false });
  });
  it('reads the old-generation limit from --max-old-space-size (flag or NODE_OPTIONS, the last one wins), else V8', () => {
    expect(heapLimitMiB(['--max-old-space-size=512'], '')).toBe(512);
    expect(heapLimitMiB([], '--enable-source-maps --max-old-space-size=256')).toBe(256);
    expect(heapLimitMiB(['--max_old_space_size=300'], '--max-old-space-size=256')).toBe(300);
    expect(heapLimitMiB([], '')).toBeGreaterThan(256);
  });
});

describe('a worker whose cache would not fit its heap', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let worker: Proc | undefined;
  let dataDir: string;
  let connection: Connection | undefined;
  const taskQueue = `test-heap-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    db = await createTestDatabase({ prefix: 'heap' });
    dataDir = mkdtempSync(path.join(tmpdir(), 'itinera-heap-'));
  });
  afterAll(async () => {
    killGroup(worker);
    await connection?.close();
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('reduces the cache to what the heap holds and parks more runs than that without running out of memory', async () => {
    expect(db.url, 'the worker child needs Postgres: set DATABASE_URL').toBeTruthy();
    const address = inject('temporalAddress');
    worker = npmRun('worker', {
      NODE_ENV: 'production',
      NODE_OPTIONS: '--max-old-space-size=256',
      LOG_LEVEL: 'info',
      DATABASE_URL: db.url!,
      TEMPORAL_ADDRESS: address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      WORKER_MAX_CACHED_WORKFLOWS: '5000',
      SIGNING_SECRET: 'worker-heap-test-signing-secret-0123456789',
      MAIL_PHYSICAL_ADDRESS: 'ACME Ltd · 100 Century Ave · Shanghai',
      PUBLIC_BASE_URL: 'http://127.0.0.1:1',
      DATA_DIR: dataDir,
    });
    const exited = () => (worker!.child.exitCode !== null ? `worker exited ${worker!.child.exitCode}: ${worker!.out.join('').slice(-3000)}` : undefined);
    const reduced = await until('the reduced-cache warning', async () => {
      if (exited()) throw new Error(exited());
      return logLine(worker!, 'sticky cache reduced to fit the heap limit');
    }, 180_000);
    // The old-generation limit the flag gave (V8's heap_size_limit adds a young generation that varies by Node version).
    const heap = reduced.heapLimitMiB as number;
    expect(heap).toBe(256);
    expect(reduced).toMatchObject({ configured: 5000, limitedByHeap: true, size: cacheForHeap(5000, heap).size });
    const cache = reduced.size as number;
    await until('the worker to run', async () => (exited() ? Promise.reject(new Error(exited())) : logLine(worker!, 'worker running')), 120_000);

    // More runs than the cache holds, all parked on their timer: the oldest leave the cache (replayed if they wake).
    const count = cache + 150;
    const published = await publishJourney(db.db, PARKED, {});
    const rows = await db.db
      .insert(contacts)
      .values(Array.from({ length: count }, (_, i) => ({ externalId: `heap-${i}`, email: `heap${i}@example.com` })))
      .returning({ id: contacts.id });
    connection = await Connection.connect({ address });
    const client = new Client({ connection });
    const entry = { reEntry: 'once' as const, maxConcurrent: 1 };
    for (let i = 0; i < rows.length; i += 25) {
      await Promise.all(
        rows.slice(i, i + 25).map(async (c, k) => {
          const r = await startJourneyRun({ temporal: client, taskQueue }, { journeyId: published.journeyId, version: published.version, entry, contactId: c.id, event: { id: `heap-${i + k}`, type: 'heap.parked', properties: {}, occurredAt: Date.now() } });
          expect(r.started).toBe(true);
        }),
      );
    }
    const parked = await until(`${count} runs parked`, async () => {
      if (exited()) throw new Error(exited());
      const [row] = await db.db
        .select({ n: sql<number>`count(*)::int` })
        .from(journeyRuns)
        .where(and(eq(journeyRuns.journeyId, 'heap-parked'), eq(journeyRuns.status, 'running'), eq(journeyRuns.currentStep, 'hold')));
      return row!.n === count ? row!.n : undefined;
    }, 600_000);
    expect(parked).toBe(count);
    expect(worker.child.exitCode).toBeNull();
    expect(worker.out.join('')).not.toMatch(/heap out of memory|Allocation failed/i);
  }, scaled(900_000));
});
