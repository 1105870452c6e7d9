import { describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { keepAlive } from '../../src/activities/keep-alive';

describe('keepAlive', () => {
  it('heartbeats while the wrapped send runs, and stops once it has returned', async () => {
    const env = new MockActivityEnvironment();
    let beats = 0;
    env.on('heartbeat', () => beats++);
    // The send returns once it has seen two heartbeats: a fixed 200 ms send could see fewer than two 20 ms beats when
    // a busy machine paused the process for most of it. A send that never heartbeats never returns (test timeout).
    const send = keepAlive(async (wanted: number) => {
      while (beats < wanted) await new Promise((r) => setTimeout(r, 5));
      return 'sent';
    }, 20);
    await expect(env.run(send, 2)).resolves.toBe('sent');
    expect(beats).toBeGreaterThanOrEqual(2);
    const after = beats;
    await new Promise((r) => setTimeout(r, 100));
    expect(beats).toBe(after);
  });

  it('just runs the function outside a worker', async () => {
    await expect(keepAlive(async (x: number) => x * 2)(21)).resolves.toBe(42);
  });
});
