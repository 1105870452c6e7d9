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
import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db, DbOrTx } from '../db/client';
import { campaigns, journeys, journeyVersions } from '../db/schema';
import type { JourneyPlan } from '../journey/plan';
import { shares, touchesOf, type AttributionOptions } from './attribution';
import { creditInSql, emptyAcc, mergeAcc, touchId, type Acc, type CampaignReportQuery, type Credits } from './credit-sql';
import { rolledUpCredits } from './credits';
import { addTo, money, perUnit, roiOf, round6, type FxOptions, type Money } from './money';
import { num, rowsOf, ts } from './rows';

export type { CampaignReportQuery };

export type CampaignRow = typeof campaigns.$inferSelect;


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

const done = (a: Acc, fx: FxOptions): Credited => ({ leads: round6(a.leads), mqls: round6(a.mqls), sqls: round6(a.sqls), deals: round6(a.deals), revenue: money(a.revenue, fx) });

/** Credits per campaign (by its UTM value and journeys) and to touches of no campaign. */
function byCampaign(c: Credits, all: CampaignRow[]): { buckets: Map<string, Acc>; other: Acc } {
  const owner = new Map<string, string>();
  for (const cp of all) {
    if (cp.utmCampaign !== null) owner.set(touchId('utm', cp.utmCampaign), cp.id);
    for (const j of cp.journeyIds) owner.set(touchId('journey', j), cp.id);
  }
  const buckets = new Map<string, Acc>();
  const other = emptyAcc();
  for (const [id, acc] of c.touches) {
    const cid = owner.get(id);
    const into = cid === undefined ? other : (buckets.get(cid) ?? emptyAcc());
    if (cid !== undefined) buckets.set(cid, into);
    mergeAcc(into, acc);
  }
  return { buckets, other };
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

export type CampaignReportOptions = {
  /**
   * Where the credits come from: `rollup` reads the credit rollup (credits.ts) for whole UTC days when the model's
   * parameters are the rolled-up ones and computes the rest at request time; `request-time` computes every credit from
   * the conversions and touches (the reference; the bench compares the two). @default 'rollup'
   */
  credits?: 'rollup' | 'request-time';
};

export async function campaignReport(db: Db, q: CampaignReportQuery, fx: FxOptions, opts: CampaignReportOptions = {}): Promise<CampaignReport> {
  const all = await listCampaigns(db);
  const byJourney = new Map(all.flatMap((c) => c.journeyIds.map((j) => [j, c.id] as const)));
  const creditsOf = await (opts.credits === 'request-time' ? creditInSql(db, q) : rolledUpCredits(db, q));
  const credited = { ...byCampaign(creditsOf, all), unattributed: creditsOf.unattributed, total: creditsOf.total, unpriced: creditsOf.unpriced };
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

