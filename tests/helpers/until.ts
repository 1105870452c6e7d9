import { scaled } from './timing';

type Probe<T> = () => Promise<T | undefined>;

/**
 * Polls `probe` until it returns something other than undefined, and returns that. Tests wait on real servers with
 * this instead of sleeping a guessed time; the failure names what was awaited when a label is given.
 *
 * `timeoutMs` (30 s by default) is what an idle machine needs: the deadline is stretched by TIME_SCALE
 * (tests/helpers/timing.ts), so a loaded machine only makes the wait longer, never the test fail.
 */
export function until<T>(probe: Probe<T>, timeoutMs?: number, pollMs?: number): Promise<T>;
export function until<T>(what: string, probe: Probe<T>, timeoutMs?: number): Promise<T>;
export async function until<T>(a: string | Probe<T>, b?: Probe<T> | number, c?: number): Promise<T> {
  const [what, probe, timeoutMs, pollMs] = typeof a === 'string' ? [a, b as Probe<T>, c ?? 30_000, 200] : [undefined, a, (b as number | undefined) ?? 30_000, c ?? 200];
  const limit = scaled(timeoutMs);
  const deadline = Date.now() + limit;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(what ? `timed out after ${limit} ms waiting for ${what}` : `condition not met within ${limit} ms`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
