type Probe<T> = () => Promise<T | undefined>;

/**
 * Polls `probe` until it returns something other than undefined, and returns that. Tests wait on real servers with
 * this instead of sleeping a guessed time; the failure names what was awaited when a label is given.
 */
export function until<T>(probe: Probe<T>, timeoutMs?: number, pollMs?: number): Promise<T>;
export function until<T>(what: string, probe: Probe<T>, timeoutMs?: number): Promise<T>;
export async function until<T>(a: string | Probe<T>, b?: Probe<T> | number, c?: number): Promise<T> {
  const [what, probe, timeoutMs, pollMs] = typeof a === 'string' ? [a, b as Probe<T>, c ?? 30_000, 200] : [undefined, a, (b as number | undefined) ?? 30_000, c ?? 200];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(what ? `timed out waiting for ${what}` : 'condition not met in time');
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
