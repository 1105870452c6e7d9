/**
 * Multi-touch attribution. A conversion (a won deal with its amount, or a contact reaching a lifecycle stage, worth 1)
 * is shared among the contact's touches at or before it, within `lookbackDays`:
 *
 * - `first_touch`: all of it to the earliest touch;
 * - `last_touch`: all of it to the latest touch;
 * - `linear`: 1/n to each of the n touches;
 * - `time_decay`: touch i gets w_i / Σw with w_i = 2^(−(t_conversion − t_i) / halfLife): a touch one half-life
 *   before the conversion counts half as much as one at the conversion (halfLife: `halfLifeDays`, default 7).
 *
 * A conversion without touches is credited to no one (`unattributed`), so the credits of every model always sum to
 * the conversions' total. Touches are UTM touches (analytics_touches: a campaign by its UTM value) and journey entries
 * (journey_run_steps, seq 1: the journey, and the campaign that links it). Ties in time are broken by kind then key,
 * so the result never depends on row order.
 */
import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { rowsOf, ts } from './rows';

export const ATTRIBUTION_MODELS = ['first_touch', 'last_touch', 'linear', 'time_decay'] as const;
export type AttributionModel = (typeof ATTRIBUTION_MODELS)[number];
export type AttributionOptions = { model: AttributionModel; halfLifeDays: number; lookbackDays: number };
export const DEFAULT_HALF_LIFE_DAYS = 7;
export const DEFAULT_LOOKBACK_DAYS = 365;

export type Touch = { at: number; kind: 'utm' | 'journey'; key: string };

/** Each touch's share of one conversion at `at` (shares sum to 1), or [] when no touch qualifies. */
export function shares(touches: readonly Touch[], at: number, opts: AttributionOptions): { touch: Touch; share: number }[] {
  const from = at - opts.lookbackDays * 86_400_000;
  const eligible = touches
    .filter((t) => t.at <= at && t.at >= from)
    .sort((a, b) => a.at - b.at || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  if (!eligible.length) return [];
  switch (opts.model) {
    case 'first_touch':
      return [{ touch: eligible[0]!, share: 1 }];
    case 'last_touch':
      return [{ touch: eligible[eligible.length - 1]!, share: 1 }];
    case 'linear':
      return eligible.map((touch) => ({ touch, share: 1 / eligible.length }));
    case 'time_decay': {
      const h = opts.halfLifeDays * 86_400_000;
      const w = eligible.map((t) => 2 ** (-(at - t.at) / h));
      const sum = w.reduce((a, b) => a + b, 0);
      return eligible.map((touch, i) => ({ touch, share: w[i]! / sum }));
    }
  }
}

/** Touches of these contacts up to `until`, by contact. */
export async function touchesOf(db: DbOrTx, contactIds: readonly string[], until: Date): Promise<Map<string, Touch[]>> {
  const out = new Map<string, Touch[]>();
  const CHUNK = 5000;
  for (let i = 0; i < contactIds.length; i += CHUNK) {
    const ids = contactIds.slice(i, i + CHUNK);
    const list = sql.join(ids.map((id) => sql`${id}`), sql`, `);
    const res = await db.execute(sql`
      select contact_id, occurred_at as at, 'utm' as kind, utm_campaign as key from analytics_touches
        where contact_id in (${list}) and occurred_at <= ${ts(until)}
      union all
      select contact_id, entered_at as at, 'journey' as kind, journey_id as key from journey_run_steps
        where seq = 1 and contact_id in (${list}) and entered_at <= ${ts(until)}`);
    for (const r of rowsOf(res)) {
      const c = String(r.contact_id);
      const at = r.at instanceof Date ? r.at.getTime() : Date.parse(String(r.at));
      let l = out.get(c);
      if (!l) out.set(c, (l = []));
      l.push({ at, kind: r.kind === 'journey' ? 'journey' : 'utm', key: String(r.key) });
    }
  }
  return out;
}
