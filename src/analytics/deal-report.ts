/**
 * The deals report, per currency (amounts are never added across currencies here): deals opened in [from, to), deals
 * closed in [from, to) won and lost, the win rate (won / (won + lost)), won revenue, open pipeline now (deals still
 * open, whenever opened), median days from open to close of the deals won, stage regressions and won deals without an
 * amount (`unpriced`). Grouped by deal owner, or none. From the deals table, kept at ingest.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { money, type FxOptions, type Money } from './money';
import { num, rowsOf, ts } from './rows';

export const DEAL_GROUPS = ['none', 'owner', 'stage'] as const;
export type DealGroup = (typeof DEAL_GROUPS)[number];
export type DealReportQuery = { from: Date; to: Date; groupBy: DealGroup; owner?: string };

export type DealReportRow = {
  group: string | null;
  opened: number;
  won: number;
  lost: number;
  winRate: number | null;
  wonRevenue: Money;
  openPipeline: Money;
  paid: Money;
  medianDaysToWin: number | null;
  regressions: number;
  unpriced: number;
};
export type DealReport = { from: string; to: string; groupBy: DealGroup; groups: DealReportRow[] };

const GROUP: Record<DealGroup, SQL> = { none: sql`null::text`, owner: sql`owner_id`, stage: sql`stage` };

export async function dealReport(db: DbOrTx, q: DealReportQuery, fx: FxOptions): Promise<DealReport> {
  const owner = q.owner === undefined ? sql`` : sql` and owner_id = ${q.owner}`;
  const inOpen = sql`opened_at >= ${ts(q.from)} and opened_at < ${ts(q.to)}`;
  const inClose = sql`closed_at >= ${ts(q.from)} and closed_at < ${ts(q.to)}`;
  const res = await db.execute(sql`
    select ${GROUP[q.groupBy]} as grp, coalesce(currency, '') as currency,
      count(*) filter (where ${inOpen})::int as opened,
      count(*) filter (where status = 'won' and ${inClose})::int as won,
      count(*) filter (where status = 'lost' and ${inClose})::int as lost,
      coalesce(sum(amount) filter (where status = 'won' and ${inClose}), 0)::text as won_amount,
      coalesce(sum(amount) filter (where status = 'open'), 0)::text as pipeline,
      sum(regressions) filter (where ${inOpen} or ${inClose})::int as regressions,
      count(*) filter (where status = 'won' and ${inClose} and amount is null)::int as unpriced,
      array_agg(extract(epoch from closed_at - opened_at) / 86400.0) filter (where status = 'won' and ${inClose}) as days
    from deals
    where (${inOpen} or ${inClose} or status = 'open')${owner}
    group by 1, 2`);
  const paidRes = await db.execute(sql`
    select ${GROUP[q.groupBy]} as grp, p.key as currency, sum(p.value::numeric)::text as amount
    from deals, jsonb_each_text(paid) p
    where ${inClose}${owner}
    group by 1, 2`);
  const groups = new Map<string, { row: DealReportRow; won: Record<string, number>; pipe: Record<string, number>; paid: Record<string, number>; days: number[] }>();
  const get = (g: unknown) => {
    const key = g === null || g === undefined ? '\u0000' : String(g);
    let x = groups.get(key);
    if (!x) {
      x = {
        row: { group: key === '\u0000' ? null : key, opened: 0, won: 0, lost: 0, winRate: null, wonRevenue: money({}, fx), openPipeline: money({}, fx), paid: money({}, fx), medianDaysToWin: null, regressions: 0, unpriced: 0 },
        won: {},
        pipe: {},
        paid: {},
        days: [],
      };
      groups.set(key, x);
    }
    return x;
  };
  for (const r of rowsOf(res)) {
    const x = get(r.grp);
    x.row.opened += num(r.opened);
    x.row.won += num(r.won);
    x.row.lost += num(r.lost);
    x.row.regressions += num(r.regressions);
    x.row.unpriced += num(r.unpriced);
    const cur = String(r.currency);
    if (cur) {
      if (num(r.won_amount)) x.won[cur] = (x.won[cur] ?? 0) + num(r.won_amount);
      if (num(r.pipeline)) x.pipe[cur] = (x.pipe[cur] ?? 0) + num(r.pipeline);
    }
    const days = r.days;
    if (Array.isArray(days)) x.days.push(...days.map(Number));
    else if (typeof days === 'string') x.days.push(...days.replace(/[{}]/g, '').split(',').filter(Boolean).map(Number));
  }
  for (const r of rowsOf(paidRes)) {
    const x = get(r.grp);
    x.paid[String(r.currency)] = (x.paid[String(r.currency)] ?? 0) + num(r.amount);
  }
  const out = [...groups.values()]
    .map(({ row, won, pipe, paid, days }) => ({
      ...row,
      winRate: row.won + row.lost > 0 ? Math.round((row.won / (row.won + row.lost)) * 1e6) / 1e6 : null,
      wonRevenue: money(won, fx),
      openPipeline: money(pipe, fx),
      paid: money(paid, fx),
      medianDaysToWin: median(days),
    }))
    .sort((a, b) => (a.group === null ? 1 : b.group === null ? -1 : a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
  return { from: q.from.toISOString(), to: q.to.toISOString(), groupBy: q.groupBy, groups: out };
}

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = (s.length - 1) / 2;
  const v = (s[Math.floor(m)]! + s[Math.ceil(m)]!) / 2;
  return Math.round(v * 1000) / 1000;
}
