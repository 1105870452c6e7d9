import { describe, expect, it } from 'vitest';
import { canEnter } from '../../src/journey/entry';
import { compile, DAY, readJourney, T0 } from './helpers';

describe('canEnter', () => {
  it('once: only the first time', () => {
    const e = { reEntry: 'once' as const, maxConcurrent: 1 };
    expect(canEnter(e, { activeRuns: 0 }, T0)).toEqual({ enter: true });
    expect(canEnter(e, { activeRuns: 0, lastEnteredAt: T0 - 100 * DAY }, T0).enter).toBe(false);
  });
  it('after_exit: when no run is active', () => {
    const e = { reEntry: 'after_exit' as const, maxConcurrent: 1 };
    expect(canEnter(e, { activeRuns: 1, lastEnteredAt: T0 }, T0).enter).toBe(false);
    expect(canEnter(e, { activeRuns: 0, lastEnteredAt: T0 }, T0).enter).toBe(true);
  });
  it('after 30d: counted from the previous entry', () => {
    const e = compile(readJourney('mql-handoff')).entry;
    expect(e).toEqual({ reEntry: 'after', reEntryAfterMs: 30 * DAY, maxConcurrent: 1 });
    expect(canEnter(e, { activeRuns: 0, lastEnteredAt: T0 - 29 * DAY }, T0).enter).toBe(false);
    expect(canEnter(e, { activeRuns: 0, lastEnteredAt: T0 - 30 * DAY }, T0).enter).toBe(true);
  });
  it('always: up to max_concurrent', () => {
    const e = compile(readJourney('webinar-follow-up')).entry;
    expect(canEnter(e, { activeRuns: 1 }, T0).enter).toBe(true);
    expect(canEnter(e, { activeRuns: 2 }, T0)).toEqual({ enter: false, reason: 'max_concurrent (2) runs already active' });
  });
});
