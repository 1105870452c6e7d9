import { describe, expect, it } from 'vitest';
import { progressLine } from '../../src/cli/launch';
import { RateMeter } from '../../src/cli/progress';

describe('itinera journeys launch: progress line', () => {
  it('draws the share scanned and the counts', () => {
    expect(progressLine({ scanned: 6100, enrolled: 5490, skipped: 610 }, 10_000, 10)).toBe('[██████░░░░] 61% 6,100/10,000 contacts · 5,490 enrolled · 610 skipped');
  });
  it('is full at the end and never overflows when contacts were added meanwhile', () => {
    expect(progressLine({ scanned: 10_050, enrolled: 1, skipped: 0 }, 10_000, 4)).toBe('[████] 100% 10,050/10,000 contacts · 1 enrolled · 0 skipped');
  });
  it('falls back to counts without a total', () => {
    expect(progressLine({ scanned: 12, enrolled: 3, skipped: 9 }, 0)).toBe('12 contacts · 3 enrolled · 9 skipped');
  });
  it('adds the rate and the time left from what it watched', () => {
    let t = 0;
    const meter = new RateMeter(() => t);
    expect(meter.sample(1000, 10_000)).toBeUndefined();
    t = 500;
    expect(meter.sample(1040, 10_000)).toBeUndefined();
    t = 10_000;
    const r = meter.sample(2000, 10_000);
    expect(r).toEqual({ perSecond: 100, etaSeconds: 80 });
    expect(progressLine({ scanned: 2000, enrolled: 1900, skipped: 100 }, 10_000, 10, r)).toBe('[██░░░░░░░░] 20% 2,000/10,000 contacts · 1,900 enrolled · 100 skipped · 100 contacts/s · ETA 1m20s');
    t = 20_000;
    expect(progressLine({ scanned: 2005, enrolled: 1905, skipped: 100 }, 10_000, 10, meter.sample(2005, 10_000))).toMatch(/ · 50 contacts\/s · ETA 2m39s$/);
  });
});
