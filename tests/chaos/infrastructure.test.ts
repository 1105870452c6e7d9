import { describe, expect, it } from 'vitest';
import { expectExactlyOnce, useChaosStack } from './harness/invariants';
import { sleep } from './harness/proc';
import { CHAOS_CONTACTS, CHAOS_FULL, writePart } from './harness/results';
import { SMTP_POOL_SIZE, type ChaosStack } from './harness/stack';

const TOTAL = CHAOS_CONTACTS;
/** The full mode takes the mail server away for 30 s; the quick mode for 10 s, to fit CI. */
const SMTP_DOWN_MS = CHAOS_FULL ? 30_000 : 10_000;
const WEBHOOK_5XX_MS = CHAOS_FULL ? 30_000 : 10_000;
const SMTP_4XX_FRACTION = 0.05;
/** Longer than the Temporal client's own retries (~20 s), so the API answers 5xx and the CRM has to post again. */
const TEMPORAL_DOWN_MS = CHAOS_FULL ? 60_000 : 40_000;
const SETTLE_MS = CHAOS_FULL ? 40 * 60_000 : 8 * 60_000;

describe(`chaos: Temporal, Postgres, SMTP and the webhook receiver fail while ${TOTAL} contacts run a journey`, () => {
  const chaosStack = useChaosStack({ restartsPostgres: true });

  it('completes every run with nothing lost and no duplicate side effect', async () => {
    const stack = chaosStack();
    const started = Date.now();
    const faults: { fault: string; atMs: number; durationMs: number; runsFinishedBefore: number | undefined }[] = [];
    const fault = async (name: string, act: () => Promise<unknown>) => {
      const p = await stack.progress().catch(() => undefined);
      const at = Date.now();
      await act();
      faults.push({ fault: name, atMs: at - started, durationMs: Date.now() - at, runsFinishedBefore: p?.projectedDone });
    };
    stack.smtp.failFraction = SMTP_4XX_FRACTION;
    // Half the contacts arrive first; the CRM posts the other half (re-posting batches that fail) from the moment
    // Temporal dies, so events also arrive while Temporal and Postgres are down.
    const half = Math.floor(TOTAL / 2);
    const first = stack.ingest(0, half);
    let second: Promise<Awaited<ReturnType<ChaosStack['ingest']>>> | undefined;
    const chaos = (async () => {
      await stack.worker.ready();
      // Let runs get going (and the first half still arriving), so every fault lands mid-run.
      await sleep(10_000);
      await fault(`temporal kill -9, ${TEMPORAL_DOWN_MS / 1000} s down, restart`, async () => {
        await stack.temporal!.crash();
        second = stack.ingest(half, TOTAL, { batch: 25, concurrency: 2 });
        await sleep(TEMPORAL_DOWN_MS);
        await stack.temporal!.up();
      });
      await sleep(5000);
      await fault('postgres immediate stop + restart (3 s down)', () => stack.pg!.crashAndRestart(3000));
      await sleep(5000);
      await fault(`smtp down ${SMTP_DOWN_MS / 1000} s`, async () => {
        await stack.smtp.down();
        await sleep(SMTP_DOWN_MS);
        await stack.smtp.up();
      });
      await sleep(3000);
      await fault(`webhook receiver 5xx for ${WEBHOOK_5XX_MS / 1000} s`, async () => {
        stack.receiver.failing = true;
        await sleep(WEBHOOK_5XX_MS);
        stack.receiver.failing = false;
      });
    })();
    await chaos;
    const ingest = { first: await first, second: await second! };
    const chaosMs = Date.now() - started;
    await stack.settle(TOTAL, SETTLE_MS);
    const o = await stack.outcome(TOTAL);
    const wallMs = Date.now() - started;
    // A send interrupted by a fault (the worker dying between the server's 250 and our record, or Postgres down for
    // longer than the send waits to record it, RECORD_SENT_PATIENCE_MS) is resent with the same Message-ID: at most
    // one SMTP pool's worth of transactions per fault or worker restart.
    const resendBound = (faults.length + o.worker.starts) * SMTP_POOL_SIZE;
    writePart('infrastructure', {
      ...o,
      faults,
      smtp4xxFraction: SMTP_4XX_FRACTION,
      timings: { chaosMs, wallMs },
      timeline: stack.timeline,
      ingest,
      database: 'private cluster (restarted)',
      residualDuplicateBound: `resentSameMessageId <= (faults + worker starts) x SMTP pool = ${resendBound}`,
    });

    expect(stack.pg, 'this scenario restarts its own Postgres cluster').toBeDefined();
    expect(ingest.second.failedRequests, 'the API refused events while Temporal was down').toBeGreaterThan(0);
    expectExactlyOnce(o, TOTAL, resendBound);
    expect(o.emails.refused4xx, 'the sink refused some SMTP commands with 4xx').toBeGreaterThan(0);
    // Every fault must have hit runs in flight, not an idle system.
    for (const f of faults) expect(f.runsFinishedBefore ?? 0, f.fault).toBeLessThan(TOTAL);
  }, (CHAOS_FULL ? 75 : 14) * 60_000);
});
