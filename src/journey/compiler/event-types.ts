/**
 * Warnings for event types nothing sends: a journey that triggers on, waits on, exits on or has a goal on an event
 * type that is neither in the system's vocabulary (../events.ts) nor among the types the caller knows (seen in the
 * events table, or used by sibling journeys) is probably misspelt. A warning, not an error: a CRM may start sending a
 * new type after the journey is published.
 */
import type { Condition, JourneyDefinition } from '../schema';
import type { JourneyPlan } from '../plan';
import { SYSTEM_EVENT_TYPES } from '../events';
import { show, type Path } from './diagnostics';
import type { Checker } from './semantics';
import { didYouMean, editDistance } from './suggestions';

/**
 * A likely misspelling of a known type: the same namespace (`email.click` → `email.clicked`) within two edits, or any
 * type one edit away. What the CLI reports, since it cannot know which types the CRM sends.
 */
export function likelyTypo(type: string, known: Iterable<string>): string | undefined {
  const ns = type.split('.')[0];
  let best: [string, number] | undefined;
  for (const k of known) {
    const d = editDistance(type, k);
    if ((d <= 2 && k.split('.')[0] === ns) || d <= 1) if (!best || d < best[1]) best = [k, d];
  }
  return best?.[0];
}

export function checkEventTypes(def: JourneyDefinition, knownEventTypes: readonly string[], checker: Checker, mode: 'all' | 'typos' = 'all'): void {
  const known = new Set([...SYSTEM_EVENT_TYPES, ...knownEventTypes]);
  const warned = new Set<string>();
  // Once per type, at its first use: one misspelling is one warning.
  const check = (type: string, path: Path, consequence: string) => {
    if (known.has(type) || warned.has(type)) return;
    if (mode === 'typos') {
      const near = likelyTypo(type, known);
      if (near === undefined) return;
      warned.add(type);
      checker.warn(path, `${show(type)} is not an event type the system emits nor one known to arrive (did you mean "${near}"?): ${consequence}`);
      return;
    }
    warned.add(type);
    checker.warn(path, `${show(type)} is not an event type the system emits nor one known to arrive${didYouMean(type, known)}: ${consequence}`);
  };
  const condition = (c: Condition, path: Path): void => {
    if ('all' in c) c.all.forEach((x, i) => condition(x, [...path, 'all', i]));
    else if ('any' in c) c.any.forEach((x, i) => condition(x, [...path, 'any', i]));
    else if ('not' in c) condition(c.not, [...path, 'not']);
    else if ('event' in c) check(c.event, [...path, 'event'], 'this condition never sees one');
  };
  def.triggers.forEach((t, i) => {
    if (t.type === 'event') check(t.event, ['triggers', i, 'event'], 'no contact would enter through this trigger');
  });
  (def.exit ?? []).forEach((r, i) => {
    if ('event' in r) check(r.event, ['exit', i, 'event'], 'this exit rule never fires');
    else condition(r.when, ['exit', i, 'when']);
  });
  (def.goals ?? []).forEach((g, i) => {
    if (g.event !== undefined) check(g.event, ['goals', i, 'event'], 'this goal is never reached');
    if (g.when) condition(g.when, ['goals', i, 'when']);
  });
  for (const [id, s] of Object.entries(def.steps)) {
    if (s.type === 'wait_for_event') check(s.event, ['steps', id, 'event'], `this wait always ends in ${s.on_timeout}`);
    if (s.type === 'branch') s.conditions.forEach((c, i) => condition(c.when, ['steps', id, 'conditions', i, 'when']));
  }
}

/** Event types a compiled journey reacts to or enters on, for its sibling journeys' checks. */
export function eventTypesOfPlan(plan: JourneyPlan): string[] {
  return [...new Set([...plan.eventTypes, ...plan.triggers.flatMap((t) => (t.type === 'event' ? [t.event] : []))])];
}
