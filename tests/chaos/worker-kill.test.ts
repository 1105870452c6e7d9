import { describe, expect, it } from 'vitest';
import { expectExactlyOnce, useChaosStack } from './harness/invariants';
import { between, sleep } from './harness/proc';
import { CHAOS_CONTACTS, CHAOS_FULL, writePart } from './harness/results';
import { SMTP_POOL_SIZE } from './harness/stack';

const TOTAL = CHAOS_CONTACTS;
/** Kills go on until every run finished or this long after the first one, whichever is first. */
const CHAOS_WINDOW_MS = CHAOS_FULL ? 5 * 60_000 : 60_000;
const SETTLE_MS = CHAOS_FULL ? 40 * 60_000 : 8 * 60_000;

describe(`chaos: kill -9 the worker every 2–6 s while ${TOTAL} contacts run a journey`, () => {
  const chaosStack = useChaosStack({ restartsPostgres: false });

  it('sends each email once, applies each webhook once, scores exactly and completes every run', async () => {
    const stack = chaosStack();
    const started = Date.now();
    let ingested = false;
    const lives: number[] = [];
    // The killer: wait for the worker to poll, let it work 2–6 s, SIGKILL it; the supervisor starts a new one.
    const killer = (async () => {
      while (Date.now() - started < CHAOS_WINDOW_MS) {
        const up = await Promise.race([stack.worker.ready().then(() => true), sleep(120_000).then(() => false)]);
        if (!up) throw new Error(`the worker did not come back within 2 minutes: ${JSON.stringify(stack.worker.stats.exits.slice(-2))}`);
        const life = between(2000, 6000);
        await sleep(life);
        const p = await stack.progress().catch(() => undefined);
        if (ingested && p && p.temporalRunning === 0 && p.projectedDone >= TOTAL) break;
        lives.push(life);
        await stack.worker.kill9();
      }
    })();
    const ingest = await stack.ingest(0, TOTAL);
    ingested = true;
    const ingestMs = Date.now() - started;
    await killer;
    const chaosMs = Date.now() - started;
    await stack.settle(TOTAL, SETTLE_MS);
    const o = await stack.outcome(TOTAL);
    const wallMs = Date.now() - started;
    writePart('worker-kill', {
      ...o,
      faults: { workerKills: stack.worker.stats.kills, lifeMs: { min: Math.min(...lives), max: Math.max(...lives) } },
      timings: { ingestMs, chaosMs, wallMs },
      timeline: stack.timeline,
      ingest,
      database: stack.pg ? 'private cluster' : 'scratch database on the shared DATABASE_URL',
      residualDuplicateBound: `resentSameMessageId <= workerKills x SMTP pool (${SMTP_POOL_SIZE})`,
    });

    expect(o.worker.kills, 'the worker was killed repeatedly mid-run').toBeGreaterThanOrEqual(3);
    // The one duplicate SMTP allows: accepted, then the process died before recording it; resent with the same Message-ID.
    expectExactlyOnce(o, TOTAL, o.worker.kills * SMTP_POOL_SIZE);
  }, (CHAOS_FULL ? 75 : 14) * 60_000);
});
