/**
 * The checks a date trigger needs beyond its shape: a field the sweep can find through an index, an offset the local
 * time can honour, an anniversary offset under a year, an audience the sweep can evaluate, one trigger per field.
 */
import { parseSignedDuration } from '../duration';
import { CONTACT_FIELDS, type Condition, type DateTrigger } from '../schema';
import { show, type Path } from './diagnostics';
import type { Checker } from './semantics';
import { didYouMean } from './suggestions';

const DAY_MS = 86_400_000;

/** `created_at`, or an attribute name the sweep can put into an index expression as a literal. */
export const DATE_FIELD = /^(created_at|attributes\.[A-Za-z0-9_-]{1,60})$/;

function eventConditionPath(c: Condition, path: Path): Path | undefined {
  if ('all' in c) for (const [i, x] of c.all.entries()) { const p = eventConditionPath(x, [...path, 'all', i]); if (p) return p; }
  if ('any' in c) for (const [i, x] of c.any.entries()) { const p = eventConditionPath(x, [...path, 'any', i]); if (p) return p; }
  if ('not' in c) return eventConditionPath(c.not, [...path, 'not']);
  if ('event' in c) return path;
  return undefined;
}

/** `seen` collects the fields of earlier date triggers of the journey. */
export function checkDateTrigger(checker: Checker, t: DateTrigger, at: Path, seen: Set<string>): void {
  if (!DATE_FIELD.test(t.field)) {
    const use = 'use created_at or attributes.<name>, the name in letters, digits, _ or -';
    const message = (CONTACT_FIELDS as string[]).includes(t.field)
      ? `${show(t.field)} is a contact field but not a date (${use})`
      : /^[A-Za-z0-9_-]{1,60}$/.test(t.field)
        ? `${show(t.field)} is not a contact date field${didYouMean(t.field, ['created_at']) || ` (did you mean "attributes.${t.field}"?)`}`
        : `${show(t.field)} is not a contact date field (${use})`;
    checker.error([...at, 'field'], message);
  } else if (seen.has(t.field)) {
    checker.error([...at, 'field'], `${show(t.field)} already has a date trigger in this journey (one per field: each occurrence enters once)`);
  }
  seen.add(t.field);
  const offset = t.offset !== undefined ? parseSignedDuration(t.offset) : 0;
  if (offset !== undefined && t.at !== undefined && offset % DAY_MS !== 0) {
    checker.error([...at, 'offset'], `${show(t.offset)} is not whole days; with at: ${t.at} the offset moves the date (use e.g. -7d), or drop at to enter a number of hours from the field's time`);
  }
  if (offset !== undefined && t.repeat === 'yearly' && Math.abs(offset) >= 365 * DAY_MS) {
    checker.error([...at, 'offset'], `${show(t.offset)} is a year or more; a yearly trigger's offset must be shorter than a year`);
  }
  if (t.audience) {
    checker.condition(t.audience, [...at, 'audience']);
    const p = eventConditionPath(t.audience, [...at, 'audience']);
    if (p) checker.error(p, 'a date trigger\'s audience cannot test events (the sweep reads contacts only); use field and tag conditions');
  }
}
