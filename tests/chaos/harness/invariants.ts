import { afterAll, beforeAll, expect } from 'vitest';
import { startChaosStack, type ChaosStack, type Outcome } from './stack';

/** Starts a chaos stack for the enclosing describe block and tears it down after it, even when a test failed. */
export function useChaosStack(opts: Parameters<typeof startChaosStack>[0]): () => ChaosStack {
  let stack: ChaosStack | undefined;
  beforeAll(async () => {
    stack = await startChaosStack(opts);
  }, 300_000);
  afterAll(async () => {
    await stack?.stop();
    // Eight teardown steps of at most 15 s each (stack.ts), with room to spare.
  }, 180_000);
  return () => stack!;
}

/**
 * What every scenario promises whatever failed underneath: each contact's run completed (projection and Temporal),
 * its email accepted once (bar `resendBound` same-Message-ID resends of an unknown outcome), its webhook applied once,
 * its score exact — and no process crashed on its own.
 */
export function expectExactlyOnce(o: Outcome, total: number, resendBound: number): void {
  expect(o.worker.unexpectedExits, o.worker.unexpectedExitSamples.join('\n')).toBe(0);
  expect(o.contactsCreated).toBe(total);
  expect(o.lost, JSON.stringify(o.lostSamples, null, 1)).toBe(0);
  expect(o.completed).toBe(total);
  expect(o.runs.temporalOther).toBe(0);
  expect(o.emails.missing).toBe(0);
  expect(o.emails.duplicates).toBe(0);
  expect(o.emails.resentSameMessageId).toBeLessThanOrEqual(resendBound);
  expect(o.webhooks.missing).toBe(0);
  expect(o.webhooks.duplicatesApplied).toBe(0);
  expect(o.webhooks.badSignature).toBe(0);
  expect(o.scores.wrong).toBe(0);
  expect(o.scores.scoreEvents).toBe(total);
}
