/**
 * Campaigns: records (name, channel, budget, dates, UTM campaign value, linked journeys), their recorded costs, and the
 * campaign report — spend, leads, MQLs, SQLs, won deals and revenue credited to each campaign by an attribution model
 * (attribution.ts), ROI and cost per lead / MQL / SQL.
 *
 * Definitions (README, "Campaigns"):
 * - a touch belongs to the campaign whose `utmCampaign` is its UTM campaign value, or whose `journeyIds` holds the
 *   journey it entered; a UTM value and a journey each belong to at most one campaign (the API refuses a second);
 * - conversions in [from, to): a lead = a contact entering the funnel; an MQL / SQL = the first time the contact was
 *   at that stage or later; a deal = a deal won (revenue = its amount in its currency); each is credited by the model,
 *   so counts can be fractional, and credits of all campaigns + `otherTouches` + `unattributed` = the totals;
 * - spend = the campaign's recorded costs incurred in [from, to) when it has any cost recorded at all, else its
 *   budget when its dates overlap the range (`spendSource` says which), plus messages its linked journeys sent in [from, to) that a provider accepted,
 *   priced with each journey's latest `settings.costs`;
 * - ROI = (revenue − spend) / spend and cost per X = spend / X, both in the reporting currency; null when spend or
 *   revenue has a currency without a rate, or the divisor is zero.
 */
import { and, asc, eq, sql, type SQL } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { campaigns, journeys, journeyVersions } from '../db/schema';
import type { JourneyPlan } from '../journey/plan';
import { shares, touchesOf, type AttributionOptions } from './attribution';
import { addTo, money, perUnit, roiOf, round6, type FxOptions, type Money } from './money';
import { num, rowsOf, ts } from './rows';

export type CampaignRow = typeof campaigns.$inferSelect;

export type CampaignReportQuery = AttributionOptions & { from: Date; to: Date };

export type Credited = { leads: number; mqls: number; sqls: number; deals: number; revenue: Money };

export type CampaignReportRow = Credited & {
  campaignId: string;
  name: string;
  channel: string;
  utmCampaign: string | null;
  journeyIds: string[];
  spend: Money;
  spendSource: 'costs' | 'budget' | 'none';
  messageCost: Money;
  roi: number | null;
  costPerLead: number | null;
  costPerMql: number | null;
  costPerSql: number | null;
};

export type CampaignReport = {
  from: string;
  to: string;
  model: AttributionOptions['model'];
  halfLifeDays: number;
  lookbackDays: number;
  campaigns: CampaignReportRow[];
  /** Credit to touches of no campaign (a UTM value or a journey no campaign names). */
  otherTouches: Credited;
  /** Conversions with no touch in the lookback window. */
  unattributed: Credited;
  totals: Credited & { unpricedDeals: number };
};

type Acc = { leads: number; mqls: number; sqls: number; deals: number; revenue: Record<string, number> };
const emptyAcc = (): Acc => ({ leads: 0, mqls: 0, sqls: 0, deals: 0, revenue: {} });
const done = (a: Acc, fx: FxOptions): Credited => ({ leads: round6(a.leads), mqls: round6(a.mqls), sqls: round6(a.sqls), deals: round6(a.deals), revenue: money(a.revenue, fx) });
const KINDS = new Set(['leads', 'mqls', 'sqls', 'deals']);

/**
 * The share expression of a model over the joined (conversion, touch) rows `x` (see attribution.ts for the formulas;
 * order by time, then kind and key in byte order, as `shares` sorts them).
 */
function shareSql(opts: AttributionOptions): SQL {
  switch (opts.model) {
    case 'first_touch':
      return sql`(case when x.rn = 1 then 1.0 else 0.0 end)::float8`;
    case 'last_touch':
      return sql`(case when x.rn = x.n then 1.0 else 0.0 end)::float8`;
    case 'linear':
      return sql`(1.0 / x.n)::float8`;
    case 'time_decay':
      return sql`(x.w / sum(x.w) over (partition by x.cid))::float8`;
  }
}

/**
 * Credits every conversion in [from, to) to touches by the model, in one statement: conversions (stage entries worth
 * 1, won deals worth their amount), joined to their contact's touches in the lookback window, shared by the model and
 * summed per campaign (null: a touch of no campaign), kind and currency; conversions without touches are summed apart.
 */
async function creditInSql(db: DbOrTx, q: CampaignReportQuery): Promise<{ buckets: Map<string, Acc>; other: Acc; unattributed: Acc; total: Acc; unpriced: number }> {
  const lookback = sql`(${q.lookbackDays}::float8 * interval '1 day')`;
  const halfLifeSeconds = q.halfLifeDays * 86_400;
  const res = await db.execute(sql`
    with conv as (
      select row_number() over () as cid, contact_id, at, kind, amount, currency from (
        select contact_id, entered_at as at, 'leads' as kind, null::numeric as amount, null::text as currency
          from contact_funnel where entered_at >= ${ts(q.from)} and entered_at < ${ts(q.to)}
        union all
        select contact_id, coalesce(mql_at, sql_at, opportunity_at, customer_at), 'mqls', null, null from contact_funnel
          where coalesce(mql_at, sql_at, opportunity_at, customer_at) >= ${ts(q.from)} and coalesce(mql_at, sql_at, opportunity_at, customer_at) < ${ts(q.to)}
        union all
        select contact_id, coalesce(sql_at, opportunity_at, customer_at), 'sqls', null, null from contact_funnel
          where coalesce(sql_at, opportunity_at, customer_at) >= ${ts(q.from)} and coalesce(sql_at, opportunity_at, customer_at) < ${ts(q.to)}
        union all
        select contact_id, closed_at, 'deals', amount, currency from deals
          where status = 'won' and closed_at >= ${ts(q.from)} and closed_at < ${ts(q.to)}
      ) c
    ), touches as (
      select t.contact_id, t.occurred_at as at, 'utm' as kind, t.utm_campaign as key from analytics_touches t
        where t.contact_id in (select contact_id from conv) and t.occurred_at < ${ts(q.to)}
      union all
      select s.contact_id, s.entered_at, 'journey', s.journey_id from journey_run_steps s
        where s.seq = 1 and s.contact_id in (select contact_id from conv) and s.entered_at < ${ts(q.to)}
    ), x as (
      -- A conversion without a touch in the window is one row with no touch (kind null): unattributed.
      select c.cid, c.kind as ckind, c.amount, c.currency, t.kind, t.key,
        count(t.at) over (partition by c.cid) as n,
        row_number() over (partition by c.cid order by t.at, t.kind collate "C", t.key collate "C") as rn,
        power(2.0::float8, -extract(epoch from c.at - t.at)::float8 / ${halfLifeSeconds}::float8) as w
      from conv c left join touches t on t.contact_id = c.contact_id and t.at <= c.at and t.at >= c.at - ${lookback}
    ), shared as (
      select x.ckind, x.amount, x.currency, x.kind, x.key, ${shareSql(q)} as share from x where x.kind is not null
    )
    select 'credit' as part, cp.id as campaign_id, s.ckind, s.currency, sum(s.share)::float8 as n, sum(s.share * s.amount::float8)::float8 as amount
      from shared s left join campaigns cp on (s.kind = 'utm' and cp.utm_campaign = s.key) or (s.kind = 'journey' and s.key = any(cp.journey_ids))
      group by cp.id, s.ckind, s.currency
    union all
    select 'unattributed', null, x.ckind, x.currency, count(*)::float8, sum(x.amount)::float8 from x where x.kind is null group by x.ckind, x.currency
    union all
    select 'total', null, c.kind, c.currency, count(*)::float8, sum(c.amount)::float8 from conv c group by c.kind, c.currency
    union all
    select 'unpriced', null, 'deals', null, count(*)::float8, null from conv c where c.kind = 'deals' and c.amount is null`);
  const buckets = new Map<string, Acc>();
  const other = emptyAcc();
  const unattributed = emptyAcc();
  const total = emptyAcc();
  let unpriced = 0;
  for (const r of rowsOf(res)) {
    const kind = String(r.ckind) as keyof Omit<Acc, 'revenue'>;
    if (r.part === 'unpriced') {
      unpriced = num(r.n);
      continue;
    }
    if (!KINDS.has(kind)) continue;
    let acc: Acc;
    if (r.part === 'total') acc = total;
    else if (r.part === 'unattributed') acc = unattributed;
    else if (r.campaign_id === null || r.campaign_id === undefined) acc = other;
    else {
      const id = String(r.campaign_id);
      acc = buckets.get(id) ?? emptyAcc();
      buckets.set(id, acc);
    }
    acc[kind] += num(r.n);
    if (kind === 'deals' && r.currency !== null && r.currency !== undefined && r.amount !== null && r.amount !== undefined) addTo(acc.revenue, String(r.currency), num(r.amount));
  }
  return { buckets, other, unattributed, total, unpriced };
}

const COST_KEY: Record<string, 'email' | 'sms' | 'webhook' | 'notify' | undefined> = { email: 'email', sms: 'sms', webhook: 'webhook', chat: 'notify' };

/** What the journeys' accepted messages in [from, to) cost, per journey and currency (latest version's prices). */
async function messageCosts(db: DbOrTx, journeyIds: string[], from: Date, to: Date): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>();
  if (!journeyIds.length) return out;
  const ids = sql.join(journeyIds.map((j) => sql`${j}`), sql`, `);
  const counts = rowsOf(await db.execute(sql`
    select journey_id, channel, count(*)::int as n from messages
    where journey_id in (${ids}) and status in ('sent', 'delivered') and created_at >= ${ts(from)} and created_at < ${ts(to)}
    group by journey_id, channel`));
  for (const jid of journeyIds) {
    const [v] = await db
      .select({ plan: journeyVersions.plan })
      .from(journeys)
      .innerJoin(journeyVersions, and(eq(journeyVersions.journeyId, journeys.id), eq(journeyVersions.version, journeys.latestVersion)))
      .where(eq(journeys.id, jid));
    const plan = v?.plan as unknown as JourneyPlan | undefined;
    if (!plan) continue;
    const acc: Record<string, number> = {};
    for (const r of counts.filter((c) => c.journey_id === jid)) {
      const key = COST_KEY[String(r.channel)];
      if (key) addTo(acc, plan.settings.costs.currency, num(r.n) * plan.settings.costs[key]);
    }
    out.set(jid, acc);
  }
  return out;
}

export async function listCampaigns(db: DbOrTx): Promise<CampaignRow[]> {
  return db.select().from(campaigns).orderBy(asc(campaigns.id));
}

export async function campaignReport(db: DbOrTx, q: CampaignReportQuery, fx: FxOptions): Promise<CampaignReport> {
  const all = await listCampaigns(db);
  const byJourney = new Map(all.flatMap((c) => c.journeyIds.map((j) => [j, c.id] as const)));
  const credited = await creditInSql(db, q);
  const costRows = rowsOf(await db.execute(sql`
    select campaign_id, currency, sum(amount) filter (where incurred_on >= ${isoDay(q.from)} and incurred_on < ${isoDay(q.to)})::text as amount, count(*)::int as n
    from campaign_costs group by campaign_id, currency`));
  const msgCosts = await messageCosts(db, [...byJourney.keys()], q.from, q.to);

  const rows = all.map((c): CampaignReportRow => {
    const acc = credited.buckets.get(c.id) ?? emptyAcc();
    const mine = costRows.filter((r) => r.campaign_id === c.id);
    const spendAcc: Record<string, number> = {};
    // The budget counts when the campaign's dates (either may be open) overlap the range.
    const overlaps = (c.startsOn === null || c.startsOn < isoDay(q.to)) && (c.endsOn === null || c.endsOn >= isoDay(q.from));
    const spendSource = mine.length ? 'costs' : c.budget !== null && overlaps ? 'budget' : 'none';
    if (mine.length) for (const r of mine) addTo(spendAcc, String(r.currency), num(r.amount));
    else if (spendSource === 'budget') addTo(spendAcc, c.currency, Number(c.budget));
    const msgAcc: Record<string, number> = {};
    for (const j of c.journeyIds) for (const [cur, v] of Object.entries(msgCosts.get(j) ?? {})) addTo(msgAcc, cur, v);
    for (const [cur, v] of Object.entries(msgAcc)) addTo(spendAcc, cur, v);
    const spend = money(spendAcc, fx);
    const credit = done(acc, fx);
    return {
      campaignId: c.id,
      name: c.name,
      channel: c.channel,
      utmCampaign: c.utmCampaign,
      journeyIds: c.journeyIds,
      spend,
      spendSource,
      messageCost: money(msgAcc, fx),
      ...credit,
      roi: roiOf(credit.revenue, spend),
      costPerLead: perUnit(spend, credit.leads),
      costPerMql: perUnit(spend, credit.mqls),
      costPerSql: perUnit(spend, credit.sqls),
    };
  });
  return {
    from: q.from.toISOString(),
    to: q.to.toISOString(),
    model: q.model,
    halfLifeDays: q.halfLifeDays,
    lookbackDays: q.lookbackDays,
    campaigns: rows,
    otherTouches: done(credited.other, fx),
    unattributed: done(credited.unattributed, fx),
    totals: { ...done(credited.total, fx), unpricedDeals: credited.unpriced },
  };
}

const isoDay = (d: Date) => d.toISOString().slice(0, 10);
const toMs = (v: unknown) => (v instanceof Date ? v.getTime() : Date.parse(String(v)));

/**
 * Journey revenue under a model: won deals of contacts who entered the journey, closed at or after their first entry
 * (and within `windowMs` of it, when given), each credited to the contact's touches; the journey gets the credit of its
 * own entries. Per currency. With `version`: the deals of contacts who entered that version.
 */
export async function journeyRevenue(
  db: DbOrTx,
  journeyId: string,
  opts: AttributionOptions,
  windowMs?: number,
  version?: number,
): Promise<{ byCurrency: Record<string, number>; deals: number; credit: number; unpriced: number }> {
  const ofVersion = version === undefined ? sql`` : sql` and version = ${version}`;
  const within = windowMs === undefined ? sql`` : sql` and d.closed_at <= e.first_at + (${windowMs}::bigint * interval '1 millisecond')`;
  const res = await db.execute(sql`
    with e as (
      select contact_id, min(entered_at) as first_at from journey_run_steps where journey_id = ${journeyId} and seq = 1${ofVersion} group by contact_id
    )
    select d.contact_id, d.closed_at, d.amount::text as amount, d.currency
    from deals d join e on e.contact_id = d.contact_id
    where d.status = 'won' and d.closed_at >= e.first_at${within}`);
  const won = rowsOf(res);
  let until = 0;
  for (const r of won) until = Math.max(until, toMs(r.closed_at));
  const touches = await touchesOf(db, [...new Set(won.map((r) => String(r.contact_id)))], new Date(until));
  const byCurrency: Record<string, number> = {};
  let credit = 0;
  let deals = 0;
  let unpriced = 0;
  for (const r of won) {
    const s = shares(touches.get(String(r.contact_id)) ?? [], toMs(r.closed_at), opts).filter((x) => x.touch.kind === 'journey' && x.touch.key === journeyId);
    const share = s.reduce((a, x) => a + x.share, 0);
    if (share === 0) continue;
    deals++;
    credit += share;
    if (r.amount === null || r.amount === undefined) unpriced++;
    else addTo(byCurrency, String(r.currency), Number(r.amount) * share);
  }
  return { byCurrency, deals, credit: round6(credit), unpriced };
}

