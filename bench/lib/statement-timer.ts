import pg from 'pg';

export type StatementTimer = {
  /** Calls and milliseconds per statement shape (whitespace, parameter numbers and string literals folded). */
  bySql: Map<string, { n: number; ms: number }>;
  /** Statements are counted while this is true. */
  counting: boolean;
};

/**
 * Times every statement any node-postgres client of this process runs, by its shape: the profiles' (bench/*-profile.ts)
 * answer to "how many round trips, and which". Patches pg.Client once per call; a profile installs it at start.
 */
export function installStatementTimer(opts: { shapeLength: number; counting?: boolean }): StatementTimer {
  const timer: StatementTimer = { bySql: new Map(), counting: opts.counting ?? true };
  const shape = (text: string) => text.replace(/\s+/g, ' ').replace(/\$\d+/g, '$').replace(/'[^']*'/g, "'…'").slice(0, opts.shapeLength);
  const record = (text: string, t0: number) => {
    if (!timer.counting) return;
    const k = shape(text);
    const e = timer.bySql.get(k) ?? { n: 0, ms: 0 };
    e.n++;
    e.ms += performance.now() - t0;
    timer.bySql.set(k, e);
  };
  const original = pg.Client.prototype.query as (...a: unknown[]) => unknown;
  (pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown }).query = function (this: unknown, ...a: unknown[]) {
    const text = typeof a[0] === 'string' ? a[0] : ((a[0] as { text?: string }).text ?? '?');
    const t0 = performance.now();
    const cb = a.findIndex((x) => typeof x === 'function');
    if (cb >= 0) {
      const f = a[cb] as (...r: unknown[]) => void;
      a[cb] = (...r: unknown[]) => {
        record(text, t0);
        f(...r);
      };
      return original.apply(this, a);
    }
    const out = original.apply(this, a);
    if (out && typeof (out as Promise<unknown>).then === 'function') void (out as Promise<unknown>).then(() => record(text, t0), () => record(text, t0));
    return out;
  };
  return timer;
}
