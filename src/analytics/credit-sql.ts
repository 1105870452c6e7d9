/**
 * The attribution formulas of attribution.ts in SQL, shared by the two ways campaign credits are computed: at request
 * time for a range of conversion times (campaigns.ts, the reference) and per contact when the credit rollup is kept
 * current (credits.ts). Both build their rows from these pieces, so a formula has one home and the two agree.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import type { AttributionModel, AttributionOptions } from './attribution';
import { addTo } from './money';
import { num, rowsOf, ts } from './rows';

export type CampaignReportQuery = AttributionOptions & { from: Date; to: Date };

export type Acc = { leads: number; mqls: number; sqls: number; deals: number; revenue: Record<string, number> };
export const emptyAcc = (): Acc => ({ leads: 0, mqls: 0, sqls: 0, deals: 0, revenue: {} });
const KINDS = new Set(['leads', 'mqls', 'sqls', 'deals']);


/** Which conversions: those at a time in [from, to), or every conversion of some contacts (a uuid[] expression). */
export type ConversionScope = { from: Date; to: Date } | { contacts: SQL };

/**
 * Conversions as rows (cid, contact_id, at, kind, amount, currency): a lead = entering the funnel, an MQL / SQL = the
 * first time at that stage or a later one (each worth 1), a won deal (worth its amount, in its currency).
 */
export function conversionsSql(scope: ConversionScope): SQL {
  const when = (col: SQL): SQL =>
    'contacts' in scope ? sql`contact_id = any(${scope.contacts}) and ${col} is not null` : sql`${col} >= ${ts(scope.from)} and ${col} < ${ts(scope.to)}`;
  const mql = sql.raw('coalesce(mql_at, sql_at, opportunity_at, customer_at)');
  const sqlAt = sql.raw('coalesce(sql_at, opportunity_at, customer_at)');
  return sql`
    select row_number() over () as cid, contact_id, at, kind, amount, currency from (
      select contact_id, entered_at as at, 'leads' as kind, null::numeric as amount, null::text as currency
        from contact_funnel where ${when(sql.raw('entered_at'))}
      union all
      select contact_id, ${mql}, 'mqls', null, null from contact_funnel where ${when(mql)}
      union all
      select contact_id, ${sqlAt}, 'sqls', null, null from contact_funnel where ${when(sqlAt)}
      union all
      select contact_id, closed_at, 'deals', amount, currency from deals where status = 'won' and ${when(sql.raw('closed_at'))}
    ) c`;
}

/** The touches of the contacts in `conv` (UTM touches and journey entries) before `until`, when given. */
export function touchesSql(until?: Date): SQL {
  const before = (col: string) => (until ? sql` and ${sql.raw(col)} < ${ts(until)}` : sql``);
  return sql`
    select t.contact_id, t.occurred_at as at, 'utm' as kind, t.utm_campaign as key from analytics_touches t
      where t.contact_id in (select contact_id from conv)${before('t.occurred_at')}
    union all
    select s.contact_id, s.entered_at, 'journey', s.journey_id from journey_run_steps s
      where s.seq = 1 and s.contact_id in (select contact_id from conv)${before('s.entered_at')}`;
}

/**
 * Each conversion of `conv` joined to its contact's touches at or before it and within the lookback: per row the
 * touch count n, the touch's rank rn (by time, then kind and key in byte order, as `shares` sorts them), its
 * time-decay weight w and the conversion's weight sum sw. A conversion without a touch is one row with no touch
 * (kind null): unattributed.
 */
export function joinedSql(opts: Pick<AttributionOptions, 'halfLifeDays' | 'lookbackDays'>): SQL {
  const lookback = sql`(${opts.lookbackDays}::float8 * interval '1 day')`;
  const halfLifeSeconds = opts.halfLifeDays * 86_400;
  const w = sql`power(2.0::float8, -extract(epoch from c.at - t.at)::float8 / ${halfLifeSeconds}::float8)`;
  return sql`
    select c.cid, c.contact_id, c.at as cat, c.kind as ckind, c.amount, c.currency, t.kind, t.key,
      count(t.at) over (partition by c.cid) as n,
      row_number() over (partition by c.cid order by t.at, t.kind collate "C", t.key collate "C") as rn,
      ${w} as w, sum(${w}) over (partition by c.cid) as sw
    from conv c left join touches t on t.contact_id = c.contact_id and t.at <= c.at and t.at >= c.at - ${lookback}`;
}

/** The share of the touch in row `x` of `joinedSql` under a model (the formulas of attribution.ts). */
export function shareSql(model: AttributionModel): SQL {
  switch (model) {
    case 'first_touch':
      return sql`(case when x.rn = 1 then 1.0 else 0.0 end)::float8`;
    case 'last_touch':
      return sql`(case when x.rn = x.n then 1.0 else 0.0 end)::float8`;
    case 'linear':
      return sql`(1.0 / x.n)::float8`;
    case 'time_decay':
      return sql`(x.w / x.sw)::float8`;
  }
}

/**
 * Credits every conversion in [from, to) to touches by the model, in one statement: conversions (stage entries worth
 * 1, won deals worth their amount), joined to their contact's touches in the lookback window, shared by the model and
 * summed per campaign (null: a touch of no campaign), kind and currency; conversions without touches are summed apart.
 * The reference for the credit rollup (credits.ts), which must give the same figures.
 */
export async function creditInSql(db: DbOrTx, q: CampaignReportQuery): Promise<Credits> {
  const res = await db.execute(sql`
    with conv as (${conversionsSql(q)}), touches as (${touchesSql(q.to)}), x as (${joinedSql(q)}),
    shared as (
      select x.ckind, x.amount, x.currency, x.kind, x.key, ${shareSql(q.model)} as share from x where x.kind is not null
    )
    select 'credit' as part, s.kind as touch_kind, s.key as touch_key, s.ckind, s.currency, sum(s.share)::float8 as n, sum(s.share * s.amount::float8)::float8 as amount
      from shared s group by s.kind, s.key, s.ckind, s.currency
    union all
    select 'unattributed', null, null, x.ckind, x.currency, count(*)::float8, sum(x.amount)::float8 from x where x.kind is null group by x.ckind, x.currency
    union all
    select 'total', null, null, c.kind, c.currency, count(*)::float8, sum(c.amount)::float8 from conv c group by c.kind, c.currency
    union all
    select 'unpriced', null, null, 'deals', null, count(*)::float8, null from conv c where c.kind = 'deals' and c.amount is null`);
  const out = emptyCredits();
  for (const r of rowsOf(res)) addCreditRow(out, r);
  return out;
}

/** Credits of a range before they are given to campaigns: per touch (kind and key), unattributed, totals. */
export type Credits = { touches: Map<string, Acc>; unattributed: Acc; total: Acc; unpriced: number };
export const emptyCredits = (): Credits => ({ touches: new Map(), unattributed: emptyAcc(), total: emptyAcc(), unpriced: 0 });
export const touchId = (kind: string, key: string) => `${kind}\n${key}`;

/**
 * Adds one row (part: credit | unattributed | total | unpriced; touch_kind, touch_key, ckind, currency, n, amount) to
 * `out`. An amount that is null (no priced conversion in the row) adds no revenue, not a 0 in its currency.
 */
export function addCreditRow(out: Credits, r: Record<string, unknown>): void {
  const kind = String(r.ckind) as keyof Omit<Acc, 'revenue'>;
  if (r.part === 'unpriced') {
    out.unpriced += num(r.n);
    return;
  }
  if (!KINDS.has(kind)) return;
  let acc: Acc;
  if (r.part === 'total') acc = out.total;
  else if (r.part === 'unattributed') acc = out.unattributed;
  else {
    const id = touchId(String(r.touch_kind), String(r.touch_key));
    acc = out.touches.get(id) ?? emptyAcc();
    out.touches.set(id, acc);
  }
  acc[kind] += num(r.n);
  if (kind === 'deals' && r.currency !== null && r.currency !== undefined && r.currency !== '' && r.amount !== null && r.amount !== undefined) addTo(acc.revenue, String(r.currency), num(r.amount));
}

export function mergeAcc(into: Acc, from: Acc): void {
  into.leads += from.leads;
  into.mqls += from.mqls;
  into.sqls += from.sqls;
  into.deals += from.deals;
  for (const [cur, v] of Object.entries(from.revenue)) addTo(into.revenue, cur, v);
}

/** `into` += `from`, for credits of two disjoint ranges. */
export function mergeCredits(into: Credits, from: Credits): void {
  for (const [id, acc] of from.touches) {
    const a = into.touches.get(id) ?? emptyAcc();
    into.touches.set(id, a);
    mergeAcc(a, acc);
  }
  mergeAcc(into.unattributed, from.unattributed);
  mergeAcc(into.total, from.total);
  into.unpriced += from.unpriced;
}

