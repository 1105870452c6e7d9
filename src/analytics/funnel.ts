/**
 * The lifecycle funnel (lead → MQL → SQL → opportunity → customer) over contact_funnel, one row per contact kept at
 * ingest: one grouped scan of that table (joined to contacts for region, industry and owner), never of events.
 *
 * Definitions (README, "Lifecycle funnel"):
 * - a contact belongs to the report when it entered the funnel (its earliest stage time) in [from, to);
 * - `reached` of a stage counts contacts that reached it or any later stage, so counts never grow down the funnel;
 * - `conversion` = reached(next) / reached(stage), null when nobody reached the stage;
 * - time in stage = first time at the next stage the contact reached − first time at this stage (only contacts with
 *   both, and no negative spans); median and p90 by linear interpolation (percentile_cont);
 * - `stuck` = contacts whose current stage it is and who have not moved for `stuckDays` at `asOf` (customers never).
 */
import { sql, type SQL } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { FUNNEL_STAGES, type FunnelStage } from './stages';
import { rowsOf, num, numOrNull, ts } from './rows';

export const FUNNEL_GROUPS = ['none', 'cohort', 'source', 'medium', 'campaign', 'region', 'industry', 'owner'] as const;
export type FunnelGroup = (typeof FUNNEL_GROUPS)[number];

export type SegmentFilters = { source?: string; medium?: string; campaign?: string; region?: string; industry?: string; owner?: string };

export type FunnelQuery = SegmentFilters & { from: Date; to: Date; groupBy: FunnelGroup; stuckDays: number; asOf: Date };

export type FunnelStageRow = {
  stage: FunnelStage;
  reached: number;
  conversionToNext: number | null;
  medianSecondsInStage: number | null;
  p90SecondsInStage: number | null;
  stuck: number;
};
export type FunnelGroupRow = { group: string | null; contacts: number; stages: FunnelStageRow[] };
export type FunnelReport = { from: string; to: string; groupBy: FunnelGroup; stuckDays: number; asOf: string; groups: FunnelGroupRow[] };

/** The SQL expression of a grouping, over `f` (contact_funnel) and `c` (contacts). */
export const GROUP_EXPR: Record<FunnelGroup, SQL> = {
  none: sql`null::text`,
  cohort: sql`to_char(f.entered_at at time zone 'UTC', 'YYYY-MM')`,
  source: sql`f.utm_source`,
  medium: sql`f.utm_medium`,
  campaign: sql`f.utm_campaign`,
  region: sql`c.region`,
  industry: sql`c.industry`,
  owner: sql`c.owner_id`,
};

export function segmentWhere(q: SegmentFilters): SQL {
  const parts: SQL[] = [];
  if (q.source !== undefined) parts.push(sql` and f.utm_source = ${q.source}`);
  if (q.medium !== undefined) parts.push(sql` and f.utm_medium = ${q.medium}`);
  if (q.campaign !== undefined) parts.push(sql` and f.utm_campaign = ${q.campaign}`);
  if (q.region !== undefined) parts.push(sql` and c.region = ${q.region}`);
  if (q.industry !== undefined) parts.push(sql` and c.industry = ${q.industry}`);
  if (q.owner !== undefined) parts.push(sql` and c.owner_id = ${q.owner}`);
  return sql.join(parts, sql``);
}

/** `reached_<stage>`: this stage's time or any later one's is known. */
const reached = (i: number) => sql.raw(`(${FUNNEL_STAGES.slice(i).map((s) => `f.${s}_at is not null`).join(' or ')})`);
/** Seconds from the stage to the next stage the contact reached; null without both. */
const span = (i: number) => {
  const later = FUNNEL_STAGES.slice(i + 1).map((s) => `f.${s}_at`);
  if (!later.length) return sql`null::float8`;
  return sql.raw(`(case when coalesce(${later.join(', ')}) >= f.${FUNNEL_STAGES[i]}_at then extract(epoch from coalesce(${later.join(', ')}) - f.${FUNNEL_STAGES[i]}_at) end)::float8`);
};

export async function funnelReport(db: DbOrTx, q: FunnelQuery): Promise<FunnelReport> {
  const stuckBefore = new Date(q.asOf.getTime() - q.stuckDays * 86_400_000);
  // Per contact once (group, reached flags, spans, stuck stage), then aggregated: each expression is computed once a row.
  const perContact = FUNNEL_STAGES.map((_s, i) => sql`, ${reached(i)} as ${sql.raw(`r${i}`)}, ${span(i)} as ${sql.raw(`s${i}`)}`);
  const cols = FUNNEL_STAGES.map((s, i) => sql`,
      count(*) filter (where ${sql.raw(`r${i}`)})::int as ${sql.raw(`reached_${i}`)},
      percentile_cont(0.5) within group (order by ${sql.raw(`s${i}`)}) as ${sql.raw(`median_${i}`)},
      percentile_cont(0.9) within group (order by ${sql.raw(`s${i}`)}) as ${sql.raw(`p90_${i}`)},
      count(*) filter (where stuck = ${s})::int as ${sql.raw(`stuck_${i}`)}`);
  const res = await db.execute(sql`
    select grp, count(*)::int as contacts${sql.join(cols, sql``)}
    from (
      select ${GROUP_EXPR[q.groupBy]} as grp${sql.join(perContact, sql``)},
        case when f.current_stage <> 'customer' and f.moved_at < ${ts(stuckBefore)} then f.current_stage end as stuck
      from contact_funnel f
      join contacts c on c.id = f.contact_id
      where f.entered_at >= ${ts(q.from)} and f.entered_at < ${ts(q.to)} and c.merged_into is null${segmentWhere(q)}
    ) x
    group by 1
    order by 1 nulls last`);
  const groups = rowsOf(res).map((r): FunnelGroupRow => ({
    group: r.grp === null || r.grp === undefined ? null : String(r.grp),
    contacts: num(r.contacts),
    stages: FUNNEL_STAGES.map((stage, i) => {
      const here = num(r[`reached_${i}`]);
      const next = i + 1 < FUNNEL_STAGES.length ? num(r[`reached_${i + 1}`]) : null;
      return {
        stage,
        reached: here,
        conversionToNext: next === null || here === 0 ? null : Math.round((next / here) * 1e6) / 1e6,
        medianSecondsInStage: roundSec(numOrNull(r[`median_${i}`])),
        p90SecondsInStage: roundSec(numOrNull(r[`p90_${i}`])),
        stuck: num(r[`stuck_${i}`]),
      };
    }),
  }));
  return { from: q.from.toISOString(), to: q.to.toISOString(), groupBy: q.groupBy, stuckDays: q.stuckDays, asOf: q.asOf.toISOString(), groups };
}

const roundSec = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);
