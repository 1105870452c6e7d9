/**
 * Lead response time: MQL → hand-off → first sales touch, for contacts who became MQL in [from, to).
 *
 * - MQL time: contact_funnel.mql_at (lead.mql, or a lifecycle write to mql); hand-off: the contact's first
 *   sales_handoffs row at or after it; first sales touch: the earliest `sales.touched`, `handoff.accepted` or
 *   `handoff.rejected` event (contact_funnel.sales_touch_at) — counted only when at or after the MQL time
 *   (`touchedBeforeMql` counts the others).
 * - `withinSla` = touched within `slaSeconds` of the MQL; `pending` = not touched and still inside the SLA at `asOf`;
 *   `slaShare` = withinSla / (mqls − pending), null when that is zero.
 * - medians and p90s by linear interpolation over the contacts that have both ends.
 */
import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { GROUP_EXPR, segmentWhere, type FunnelGroup, type SegmentFilters } from './funnel';
import { num, numOrNull, rowsOf, ts } from './rows';

export type ResponseQuery = SegmentFilters & { from: Date; to: Date; slaSeconds: number; asOf: Date; groupBy: FunnelGroup };
export type Spread = { median: number | null; p90: number | null; count: number };
export type ResponseRow = {
  group: string | null;
  mqls: number;
  handedOff: number;
  touched: number;
  touchedBeforeMql: number;
  mqlToHandoffSeconds: Spread;
  handoffToTouchSeconds: Spread;
  mqlToTouchSeconds: Spread;
  withinSla: number;
  pending: number;
  slaShare: number | null;
};
export type ResponseReport = { from: string; to: string; slaSeconds: number; asOf: string; groupBy: FunnelGroup; groups: ResponseRow[] };

const r3 = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);

export async function responseReport(db: DbOrTx, q: ResponseQuery): Promise<ResponseReport> {
  const res = await db.execute(sql`
    -- Each MQL's first hand-off at or after it, from one grouped join of the hand-offs, not a subquery per MQL: the
    -- planner inlines m into d and ran such a subquery once per reference to handoff_at (up to 8 per row).
    with h as (
      select s.contact_id, min(s.created_at) as handoff_at
      from sales_handoffs s join contact_funnel f on f.contact_id = s.contact_id and s.created_at >= f.mql_at
      where f.mql_at >= ${ts(q.from)} and f.mql_at < ${ts(q.to)}
      group by s.contact_id
    ), m as (
      select ${GROUP_EXPR[q.groupBy]} as grp, f.mql_at,
        case when f.sales_touch_at >= f.mql_at then f.sales_touch_at end as touch_at,
        (f.sales_touch_at < f.mql_at) as touched_before,
        h.handoff_at
      from contact_funnel f
      join contacts c on c.id = f.contact_id
      left join h on h.contact_id = f.contact_id
      where f.mql_at >= ${ts(q.from)} and f.mql_at < ${ts(q.to)} and c.merged_into is null${segmentWhere(q)}
    ), d as (
      select grp, mql_at, touch_at, touched_before, handoff_at,
        extract(epoch from handoff_at - mql_at)::float8 as mh,
        case when touch_at >= handoff_at then extract(epoch from touch_at - handoff_at)::float8 end as ht,
        extract(epoch from touch_at - mql_at)::float8 as mt
      from m
    )
    select grp, count(*)::int as mqls,
      count(handoff_at)::int as handed_off, count(touch_at)::int as touched,
      count(*) filter (where touched_before)::int as touched_before,
      percentile_cont(0.5) within group (order by mh) as mh50, percentile_cont(0.9) within group (order by mh) as mh90, count(mh)::int as mhn,
      percentile_cont(0.5) within group (order by ht) as ht50, percentile_cont(0.9) within group (order by ht) as ht90, count(ht)::int as htn,
      percentile_cont(0.5) within group (order by mt) as mt50, percentile_cont(0.9) within group (order by mt) as mt90, count(mt)::int as mtn,
      count(*) filter (where mt <= ${q.slaSeconds})::int as within_sla,
      count(*) filter (where touch_at is null and mql_at + (${q.slaSeconds}::float8 * interval '1 second') > ${ts(q.asOf)})::int as pending
    from d group by 1 order by 1 nulls last`);
  const groups = rowsOf(res).map((r): ResponseRow => {
    const mqls = num(r.mqls);
    const pending = num(r.pending);
    const within = num(r.within_sla);
    return {
      group: r.grp === null || r.grp === undefined ? null : String(r.grp),
      mqls,
      handedOff: num(r.handed_off),
      touched: num(r.touched),
      touchedBeforeMql: num(r.touched_before),
      mqlToHandoffSeconds: { median: r3(numOrNull(r.mh50)), p90: r3(numOrNull(r.mh90)), count: num(r.mhn) },
      handoffToTouchSeconds: { median: r3(numOrNull(r.ht50)), p90: r3(numOrNull(r.ht90)), count: num(r.htn) },
      mqlToTouchSeconds: { median: r3(numOrNull(r.mt50)), p90: r3(numOrNull(r.mt90)), count: num(r.mtn) },
      withinSla: within,
      pending,
      slaShare: mqls - pending > 0 ? Math.round((within / (mqls - pending)) * 1e6) / 1e6 : null,
    };
  });
  return { from: q.from.toISOString(), to: q.to.toISOString(), slaSeconds: q.slaSeconds, asOf: q.asOf.toISOString(), groupBy: q.groupBy, groups };
}
