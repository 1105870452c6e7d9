import { describe, expect, it } from 'vitest';
import { progressLine } from '../../src/cli/launch';

describe('itinera journeys launch: progress line', () => {
  it('draws the share scanned and the counts', () => {
    expect(progressLine({ scanned: 6100, enrolled: 5490, skipped: 610 }, 10_000, 10)).toBe('[██████░░░░] 61% 6,100/10,000 scanned · 5,490 enrolled · 610 skipped');
  });
  it('is full at the end and never overflows when contacts were added meanwhile', () => {
    expect(progressLine({ scanned: 10_050, enrolled: 1, skipped: 0 }, 10_000, 4)).toBe('[████] 100% 10,050/10,000 scanned · 1 enrolled · 0 skipped');
  });
  it('falls back to counts without a total', () => {
    expect(progressLine({ scanned: 12, enrolled: 3, skipped: 9 }, 0)).toBe('12 scanned · 3 enrolled · 9 skipped');
  });
});
