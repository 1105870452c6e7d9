/**
 * Entry rules (`entry.re_entry`, `entry.max_concurrent`) as a pure decision, so the API/router and
 * tests agree on when a trigger starts a new run. Workflow-safe.
 */
import type { PlanEntry } from './plan';

export interface EntryHistory {
  /** Runs of this journey for this contact that have not ended. */
  activeRuns: number;
  /** Epoch ms of the latest entry, if the contact ever entered. */
  lastEnteredAt?: number | undefined;
}

export type EntryDecision = { enter: true } | { enter: false; reason: string };

export function canEnter(entry: PlanEntry, history: EntryHistory, now: number): EntryDecision {
  const entered = history.lastEnteredAt !== undefined;
  switch (entry.reEntry) {
    case 'once':
      return entered || history.activeRuns > 0 ? { enter: false, reason: 'already entered (re_entry: once)' } : { enter: true };
    case 'after_exit':
      return history.activeRuns > 0 ? { enter: false, reason: 'a run is still active (re_entry: after_exit)' } : { enter: true };
    case 'after': {
      if (history.activeRuns > 0) return { enter: false, reason: 'a run is still active' };
      const wait = entry.reEntryAfterMs ?? 0;
      return entered && now - history.lastEnteredAt! < wait ? { enter: false, reason: 're-entry period has not passed' } : { enter: true };
    }
    case 'always':
      return history.activeRuns >= entry.maxConcurrent
        ? { enter: false, reason: `max_concurrent (${entry.maxConcurrent}) runs already active` }
        : { enter: true };
  }
}

/** Longest key a run is keyed by (it is part of the workflow id). */
export const MAX_ENTRY_KEY_LENGTH = 200;

/**
 * The value of a keyed journey's key in an event (`entry.key: event.properties.opportunity_id` → `path` is
 * `['properties', 'opportunity_id']`): a non-empty string or a finite number, as text; undefined when the event does
 * not carry one (absent, null, empty, an object, or longer than {@link MAX_ENTRY_KEY_LENGTH}).
 */
export function entryKeyOf(path: readonly string[], event: { properties: Record<string, unknown> }): string | undefined {
  let v: unknown = event;
  for (const p of path) {
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, p)) return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  const s = typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;
  return s !== undefined && s !== '' && s.length <= MAX_ENTRY_KEY_LENGTH ? s : undefined;
}

/**
 * Whether an event reaches a keyed run (one with `entry.key`): an event carrying a key reaches the run of that key; one
 * without a key reaches no run when its type is one the journey triggers on (`keyedTypes`: a deal's event without its
 * deal), and every run otherwise (an unsubscribe, a contact change: the contact's). The router and the simulator both
 * ask this, so a preview and production agree.
 */
export function reachesKeyedRun(keyPath: readonly string[], keyedTypes: readonly string[], runKey: string, event: { type: string; properties: Record<string, unknown> }): boolean {
  const v = entryKeyOf(keyPath, event);
  return v === undefined ? !keyedTypes.includes(event.type) : v === runKey;
}
