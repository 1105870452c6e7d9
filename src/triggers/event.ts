/**
 * The event a date-triggered run starts with: `date.reached`, with properties `field`, `date` (the field's date this
 * occurrence belongs to, the anniversary in that year for `repeat: yearly`), `offset` (`-7d`), `repeat`,
 * `occurrence_at` (ISO instant of the entry) and `timezone` (the zone the local time was read in).
 */
import { formatDuration } from '../journey/duration';
import type { DateTriggerPlan, Occurrence } from './occurrence';

export const DATE_REACHED_EVENT = 'date.reached';

/** The properties of a `date.reached` event (the sweep's and the simulator's alike). */
export function dateReachedProperties(t: DateTriggerPlan, occ: Occurrence, timezone: string): Record<string, unknown> {
  const offset = t.offsetMs === 0 ? '0s' : `${t.offsetMs < 0 ? '-' : '+'}${formatDuration(Math.abs(t.offsetMs))}`;
  return { field: t.field.join('.'), date: occ.date, offset, repeat: t.repeat, occurrence_at: new Date(occ.at).toISOString(), timezone };
}
