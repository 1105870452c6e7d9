/** Progress lines of long CLI work (launches, bulk run actions): a bar, counts, rate and time left. */

export const count = (x: number): string => x.toLocaleString('en-US');

/** `1h5m`, `3m20s`, `42s`. */
export function eta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s >= 3600 ? `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m` : s >= 60 ? `${Math.floor(s / 60)}m${s % 60}s` : `${s}s`;
}

/** `[██████░░░░] 61% ` for done of total. */
export function bar(done: number, total: number, width = 24): string {
  const f = Math.min(1, done / total);
  const filled = Math.round(f * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${Math.floor(f * 100)}%`;
}

/**
 * Rate and time left from what this process has watched: the first sample and the latest. `undefined` until two
 * samples at least a second apart exist (a rate from one poll would be noise).
 */
export class RateMeter {
  private first: { at: number; done: number } | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  sample(done: number, total: number | undefined): { perSecond: number; etaSeconds: number | null } | undefined {
    const at = this.now();
    if (!this.first || done < this.first.done) {
      this.first = { at, done };
      return undefined;
    }
    const seconds = (at - this.first.at) / 1000;
    if (seconds < 1) return undefined;
    const perSecond = (done - this.first.done) / seconds;
    const etaSeconds = total && perSecond > 0 ? Math.max(0, total - done) / perSecond : null;
    return { perSecond, etaSeconds };
  }
}

/** ` · 120 contacts/s · ETA 3m20s` (empty without a rate). */
export function rateText(r: { perSecond: number; etaSeconds: number | null } | undefined, unit: string): string {
  if (!r) return '';
  const rate = r.perSecond >= 10 ? count(Math.round(r.perSecond)) : r.perSecond.toFixed(1);
  return ` · ${rate} ${unit}/s${r.etaSeconds !== null ? ` · ETA ${eta(r.etaSeconds)}` : ''}`;
}
