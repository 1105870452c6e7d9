/**
 * Reports for marketers and ops (src/analytics): the lifecycle funnel, lead response times, deals and campaigns, each
 * with filters, a date range and `format=csv`. Read from the rollup tables kept at ingest, never by scanning events.
 */
import type { Response } from 'express';
import { z } from 'zod';
import { isoInstant, queryInt32 } from '../../bounds';
import { NotFoundError, ValidationError } from '../../errors';
import type { Db } from '../../db/client';
import { ATTRIBUTION_MODELS, DEFAULT_HALF_LIFE_DAYS, DEFAULT_LOOKBACK_DAYS } from '../../analytics/attribution';
import { campaignReport } from '../../analytics/campaigns';
import { toCsv, type Cell } from '../../analytics/csv';
import { dealReport, DEAL_GROUPS } from '../../analytics/deal-report';
import { dealWithHistory } from '../../analytics/deals';
import { drainAnalytics } from '../../analytics/drain';
import { funnelReport, FUNNEL_GROUPS } from '../../analytics/funnel';
import type { FxOptions, Money } from '../../analytics/money';
import { responseReport } from '../../analytics/response';
import { BUCKET_MS, MAX_BUCKETS, MESSAGE_BUCKETS, messageVolume } from '../../analytics/messages';
import { defineRoute } from '../route';

export type AnalyticsRouteDeps = { db: Db; fx: FxOptions };

const DAY = 86_400_000;
/** The longest range a report covers: ten years. */
const MAX_RANGE_MS = 3660 * DAY;
const Segment = z.string().min(1).max(200);

const RangeQuery = {
  from: isoInstant().optional().describe('Start of the range (inclusive); default: 90 days before `to`'),
  to: isoInstant().optional().describe('End of the range (exclusive); default: now'),
  format: z.enum(['json', 'csv']).default('json').describe('csv: the report as rows, one per group (and stage)'),
};
const SegmentQuery = {
  source: Segment.optional().describe('utm_source of the first touch'),
  medium: Segment.optional().describe('utm_medium of the first touch'),
  campaign: Segment.optional().describe('utm_campaign of the first touch'),
  region: Segment.optional(),
  industry: Segment.optional(),
  owner: Segment.optional().describe('The contact owner (owner_id)'),
};

function range(q: { from?: string | undefined; to?: string | undefined }): { from: Date; to: Date } {
  const to = q.to ? new Date(q.to) : new Date();
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - 90 * DAY);
  if (from.getTime() >= to.getTime()) throw new ValidationError('The request query is invalid; see errors for each field.', [{ path: 'query.from', message: 'must be before `to`' }]);
  if (to.getTime() - from.getTime() > MAX_RANGE_MS) throw new ValidationError('The request query is invalid; see errors for each field.', [{ path: 'query.to', message: 'the range may cover at most 3,660 days' }]);
  return { from, to };
}

function sendCsv(res: Response, name: string, header: string[], rows: Cell[][]): void {
  res.status(200).type('text/csv; charset=utf-8').set('Content-Disposition', `attachment; filename="${name}.csv"`).send(toCsv(header, rows));
}

const moneyCells = (m: Money): Cell[] => [m.total, JSON.stringify(m.byCurrency)];

// --- response shapes (OpenAPI) -------------------------------------------------------------------

export const MoneySchema = z
  .object({
    byCurrency: z.record(z.string(), z.number()).describe('Amount per ISO 4217 currency'),
    currency: z.string().describe('The reporting currency (ANALYTICS_CURRENCY)'),
    total: z.number().nullable().describe('Σ amount × rate in the reporting currency; null when a currency has no rate'),
    missingRates: z.array(z.string()),
  })
  .describe('Money, per currency; never added across currencies without a configured rate');
const SecondsSpread = z.object({ median: z.number().nullable(), p90: z.number().nullable(), count: z.number().int() });

const FunnelReportSchema = z.object({
  from: z.string(),
  to: z.string(),
  groupBy: z.enum(FUNNEL_GROUPS),
  stuckDays: z.number().int(),
  asOf: z.string(),
  groups: z.array(
    z.object({
      group: z.string().nullable(),
      contacts: z.number().int(),
      stages: z.array(
        z.object({
          stage: z.enum(['lead', 'mql', 'sql', 'opportunity', 'customer']),
          reached: z.number().int().describe('Contacts that reached this stage or a later one'),
          conversionToNext: z.number().nullable().describe('reached(next) / reached(this)'),
          medianSecondsInStage: z.number().nullable(),
          p90SecondsInStage: z.number().nullable(),
          stuck: z.number().int().describe('At this stage now, without a move for stuckDays'),
        }),
      ),
    }),
  ),
});

const ResponseReportSchema = z.object({
  from: z.string(),
  to: z.string(),
  slaSeconds: z.number(),
  asOf: z.string(),
  groupBy: z.enum(FUNNEL_GROUPS),
  groups: z.array(
    z.object({
      group: z.string().nullable(),
      mqls: z.number().int(),
      handedOff: z.number().int(),
      touched: z.number().int(),
      touchedBeforeMql: z.number().int(),
      mqlToHandoffSeconds: SecondsSpread,
      handoffToTouchSeconds: SecondsSpread,
      mqlToTouchSeconds: SecondsSpread,
      withinSla: z.number().int(),
      pending: z.number().int().describe('Not touched yet and still inside the SLA'),
      slaShare: z.number().nullable().describe('withinSla / (mqls − pending)'),
    }),
  ),
});

const DealReportSchema = z.object({
  from: z.string(),
  to: z.string(),
  groupBy: z.enum(DEAL_GROUPS),
  groups: z.array(
    z.object({
      group: z.string().nullable(),
      opened: z.number().int(),
      won: z.number().int(),
      lost: z.number().int(),
      winRate: z.number().nullable(),
      wonRevenue: MoneySchema,
      openPipeline: MoneySchema,
      paid: MoneySchema,
      medianDaysToWin: z.number().nullable(),
      regressions: z.number().int(),
      unpriced: z.number().int(),
    }),
  ),
});

const Credited = {
  leads: z.number(),
  mqls: z.number(),
  sqls: z.number(),
  deals: z.number(),
  revenue: MoneySchema,
};
const CampaignReportSchema = z.object({
  from: z.string(),
  to: z.string(),
  model: z.enum(ATTRIBUTION_MODELS),
  halfLifeDays: z.number(),
  lookbackDays: z.number(),
  campaigns: z.array(
    z.object({
      campaignId: z.string(),
      name: z.string(),
      channel: z.string(),
      utmCampaign: z.string().nullable(),
      journeyIds: z.array(z.string()),
      spend: MoneySchema,
      spendSource: z.enum(['costs', 'budget', 'none']),
      messageCost: MoneySchema,
      ...Credited,
      roi: z.number().nullable(),
      costPerLead: z.number().nullable(),
      costPerMql: z.number().nullable(),
      costPerSql: z.number().nullable(),
    }),
  ),
  otherTouches: z.object(Credited),
  unattributed: z.object(Credited),
  totals: z.object({ ...Credited, unpricedDeals: z.number().int() }),
});

const DealSchema = z.object({
  id: z.string(),
  contactId: z.string(),
  company: z.string().nullable(),
  amount: z.number().nullable(),
  currency: z.string().nullable(),
  stage: z.string().nullable(),
  status: z.enum(['open', 'won', 'lost']),
  ownerId: z.string().nullable(),
  expectedCloseAt: z.date().nullable(),
  openedAt: z.date(),
  closedAt: z.date().nullable(),
  regressions: z.number().int(),
  paid: z.record(z.string(), z.number()),
  lastEventAt: z.date(),
  history: z.array(z.object({ stage: z.string(), at: z.string(), eventId: z.string(), regression: z.boolean(), afterClose: z.boolean() })),
});

const ChannelCounts = z.object({ total: z.number().int(), byStatus: z.record(z.string(), z.number().int()).describe('reserved, sent, delivered, bounced, failed, suppressed, skipped') });
const MessageVolumeSchema = z.object({
  from: z.string(),
  to: z.string(),
  bucket: z.enum(MESSAGE_BUCKETS),
  timeZone: z.string(),
  channels: z.record(z.string(), ChannelCounts).describe('Totals of the range per channel'),
  buckets: z.array(z.object({ start: z.string().describe('The bucket’s first instant (its local midnight, hour or Monday in timeZone)'), channels: z.record(z.string(), ChannelCounts) })),
});

/** Zones Node and Postgres both know; an alias (Asia/Calcutta) is answered as its canonical name. No cache: any text may come. */
const ZONES = new Set([...Intl.supportedValuesOf('timeZone'), 'UTC']);
const canonicalZone = (tz: string): string | undefined => {
  try {
    const c = new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
    return ZONES.has(c) ? c : undefined;
  } catch {
    return undefined;
  }
};
const ZoneQuery = z
  .string()
  .max(64)
  .transform((tz, ctx) => canonicalZone(tz) ?? (ctx.addIssue({ code: 'custom', message: 'is not an IANA time zone such as Asia/Shanghai' }), z.NEVER));

const READERS = ['marketer', 'ops'] as const;

export function analyticsRoutes(deps: AnalyticsRouteDeps) {
  const { db, fx } = deps;
  // The rollups take in every event stored before the report was asked (the worker's drain leaves little to do).
  const caughtUp = () => drainAnalytics(db, { currency: fx.currency });
  return [
    defineRoute({
      method: 'get',
      path: '/v1/analytics/funnel',
      tag: 'analytics',
      summary:
        'Lifecycle funnel lead → MQL → SQL → opportunity → customer of the contacts who entered it in [from, to): per stage the contacts that reached it (or a later one), conversion to the next, median and p90 time in stage, and the contacts stuck there (no move for stuckDays); by cohort (month of entry), first-touch UTM source/medium/campaign, region, industry or owner',
      auth: [...READERS],
      query: z
        .object({
          ...RangeQuery,
          ...SegmentQuery,
          groupBy: z.enum(FUNNEL_GROUPS).default('none'),
          stuckDays: queryInt32({ min: 1, max: 3650 }).default(30),
        })
        .strict(),
      responses: { 200: { description: 'The funnel (or text/csv with format=csv)', schema: FunnelReportSchema } },
      handler: async ({ query, res }) => {
        const { from, to } = range(query);
        await caughtUp();
        const report = await funnelReport(db, { ...query, from, to, asOf: new Date() });
        if (query.format === 'csv') {
          return sendCsv(res, 'funnel', ['group', 'stage', 'reached', 'conversion_to_next', 'median_seconds_in_stage', 'p90_seconds_in_stage', 'stuck'],
            report.groups.flatMap((g) => g.stages.map((s) => [g.group, s.stage, s.reached, s.conversionToNext, s.medianSecondsInStage, s.p90SecondsInStage, s.stuck])));
        }
        return { body: report };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/analytics/response-times',
      tag: 'analytics',
      summary:
        'Lead response time of the contacts who became MQL in [from, to): MQL → hand-off → first sales touch (a sales.touched event or CRM feedback on the hand-off), median and p90 in seconds, and the share touched within the SLA (slaMinutes, default 60)',
      auth: [...READERS],
      query: z
        .object({ ...RangeQuery, ...SegmentQuery, groupBy: z.enum(FUNNEL_GROUPS).default('none'), slaMinutes: queryInt32({ min: 1, max: 525_600 }).default(60) })
        .strict(),
      responses: { 200: { description: 'Response times (or text/csv with format=csv)', schema: ResponseReportSchema } },
      handler: async ({ query, res }) => {
        const { from, to } = range(query);
        await caughtUp();
        const report = await responseReport(db, { ...query, from, to, slaSeconds: query.slaMinutes * 60, asOf: new Date() });
        if (query.format === 'csv') {
          return sendCsv(
            res,
            'response-times',
            ['group', 'mqls', 'handed_off', 'touched', 'touched_before_mql', 'mql_to_handoff_median_s', 'mql_to_handoff_p90_s', 'handoff_to_touch_median_s', 'handoff_to_touch_p90_s', 'mql_to_touch_median_s', 'mql_to_touch_p90_s', 'within_sla', 'pending', 'sla_share'],
            report.groups.map((g) => [g.group, g.mqls, g.handedOff, g.touched, g.touchedBeforeMql, g.mqlToHandoffSeconds.median, g.mqlToHandoffSeconds.p90, g.handoffToTouchSeconds.median, g.handoffToTouchSeconds.p90, g.mqlToTouchSeconds.median, g.mqlToTouchSeconds.p90, g.withinSla, g.pending, g.slaShare]),
          );
        }
        return { body: report };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/analytics/messages',
      tag: 'analytics',
      summary:
        'Messages by channel over time: per hour, day or week of [from, to) in timeZone, the messages created then per channel (email, sms, chat, webhook, crm) and status; every bucket listed, empty ones too; at most 1,000 buckets',
      auth: [...READERS],
      query: z
        .object({
          from: isoInstant().optional().describe('Start of the range (inclusive); default: 30 days before `to`'),
          to: isoInstant().optional().describe('End of the range (exclusive); default: now'),
          bucket: z.enum(MESSAGE_BUCKETS).default('day'),
          timeZone: ZoneQuery.default('UTC').describe('The IANA zone whose hours, days and weeks are the buckets'),
          journeyId: z.string().min(1).max(100).optional().describe('Only this journey’s messages'),
        })
        .strict(),
      responses: { 200: { description: 'Counts per bucket and channel', schema: MessageVolumeSchema } },
      handler: async ({ query }) => {
        const to = query.to ? new Date(query.to) : new Date();
        const from = query.from ? new Date(query.from) : new Date(to.getTime() - 30 * DAY);
        if (from.getTime() >= to.getTime()) throw new ValidationError('The request query is invalid; see errors for each field.', [{ path: 'query.from', message: 'must be before `to`' }]);
        // +1: a range that starts mid-bucket touches one bucket more than its length in buckets.
        if ((to.getTime() - from.getTime()) / BUCKET_MS[query.bucket] + 1 > MAX_BUCKETS) {
          throw new ValidationError('The request query is invalid; see errors for each field.', [{ path: 'query.to', message: `the range may cover at most ${MAX_BUCKETS - 1} ${query.bucket}s` }]);
        }
        return { body: await messageVolume(db, { from, to, bucket: query.bucket, timeZone: query.timeZone, ...(query.journeyId !== undefined ? { journeyId: query.journeyId } : {}) }) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/analytics/deals',
      tag: 'analytics',
      summary:
        'Deals opened and closed in [from, to): won, lost, win rate, won revenue, open pipeline, payments, median days to win, stage regressions and won deals without an amount; money per currency with a converted total; by owner or stage',
      auth: [...READERS],
      query: z.object({ ...RangeQuery, groupBy: z.enum(DEAL_GROUPS).default('none'), owner: Segment.optional() }).strict(),
      responses: { 200: { description: 'The deals report (or text/csv with format=csv)', schema: DealReportSchema } },
      handler: async ({ query, res }) => {
        const { from, to } = range(query);
        await caughtUp();
        const report = await dealReport(db, { from, to, groupBy: query.groupBy, ...(query.owner !== undefined ? { owner: query.owner } : {}) }, fx);
        if (query.format === 'csv') {
          return sendCsv(
            res,
            'deals',
            ['group', 'opened', 'won', 'lost', 'win_rate', 'won_revenue_total', 'won_revenue_by_currency', 'open_pipeline_total', 'open_pipeline_by_currency', 'paid_total', 'paid_by_currency', 'median_days_to_win', 'regressions', 'unpriced'],
            report.groups.map((g) => [g.group, g.opened, g.won, g.lost, g.winRate, ...moneyCells(g.wonRevenue), ...moneyCells(g.openPipeline), ...moneyCells(g.paid), g.medianDaysToWin, g.regressions, g.unpriced]),
          );
        }
        return { body: report };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/analytics/campaigns',
      tag: 'analytics',
      summary:
        'Per campaign for [from, to): spend (recorded costs, else budget, plus its journeys’ message costs), leads, MQLs, SQLs, won deals and revenue credited by the attribution model (first_touch, last_touch, linear, time_decay with halfLifeDays), ROI and cost per lead / MQL / SQL; credit to touches of no campaign and to no touch is shown apart so everything sums to the totals',
      auth: [...READERS],
      query: z
        .object({
          ...RangeQuery,
          model: z.enum(ATTRIBUTION_MODELS).default('linear'),
          halfLifeDays: queryInt32({ min: 1, max: 3650 }).default(DEFAULT_HALF_LIFE_DAYS),
          lookbackDays: queryInt32({ min: 1, max: 3650 }).default(DEFAULT_LOOKBACK_DAYS),
        })
        .strict(),
      responses: { 200: { description: 'The campaign report (or text/csv with format=csv)', schema: CampaignReportSchema } },
      handler: async ({ query, res }) => {
        const { from, to } = range(query);
        await caughtUp();
        const report = await campaignReport(db, { from, to, model: query.model, halfLifeDays: query.halfLifeDays, lookbackDays: query.lookbackDays }, fx);
        if (query.format === 'csv') {
          const line = (id: string, name: string, channel: string, c: z.infer<typeof CampaignReportSchema>['otherTouches'], extra: Cell[]) => [id, name, channel, c.leads, c.mqls, c.sqls, c.deals, ...moneyCells(c.revenue), ...extra];
          return sendCsv(
            res,
            'campaigns',
            ['campaign_id', 'name', 'channel', 'leads', 'mqls', 'sqls', 'deals', 'revenue_total', 'revenue_by_currency', 'spend_total', 'spend_by_currency', 'spend_source', 'roi', 'cost_per_lead', 'cost_per_mql', 'cost_per_sql'],
            [
              ...report.campaigns.map((c) => line(c.campaignId, c.name, c.channel, c, [...moneyCells(c.spend), c.spendSource, c.roi, c.costPerLead, c.costPerMql, c.costPerSql])),
              line('(other touches)', '', '', report.otherTouches, []),
              line('(unattributed)', '', '', report.unattributed, []),
            ],
          );
        }
        return { body: report };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/deals/:id',
      tag: 'analytics',
      summary: 'A deal (the CRM deal id) as its events made it: amount, currency, stage, status, owner, expected close, payments, and its stage history with regressions',
      auth: ['marketer', 'ops', 'integration'],
      params: z.object({ id: z.string().min(1).max(200) }),
      responses: { 200: { description: 'The deal', schema: DealSchema }, 404: { description: 'No event named this deal' } },
      handler: async ({ params }) => {
        await caughtUp();
        const d = await dealWithHistory(db, params.id, fx.currency);
        if (!d) throw new NotFoundError('Deal', params.id);
        return { body: d };
      },
    }),
  ];
}
