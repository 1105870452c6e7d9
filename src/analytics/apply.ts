/**
 * Keeps the analytics tables current as events arrive: called by the one ingest path (src/ingest/event.ts) for every
 * event it stores, before the event is marked routed — so an event whose analytics write failed is re-delivered (the
 * API answered 5xx) or re-swept, and applied then. Every write here is idempotent per event id (deal_events and
 * analytics_touches are keyed by it; the funnel keeps least/greatest times), so applying twice changes nothing.
 * Events of no interest cost one type check and no query.
 */
import { sql } from 'drizzle-orm';
import type { Db, DbOrTx } from '../db/client';
import { isDealEventType } from './crm-events';
import { applyDealEvent } from './deals';
import { FUNNEL_STAGES, type FunnelStage } from './stages';
import { utmOf } from './utm';
import { ts } from './rows';
import { markAttributionDirty } from '../db/queries';

/**
 * A CTE marking the contact for the credit rollup (credits.ts) in the statement that changes its conversions or
 * touches. An upsert, not `do nothing`: it waits for a drain that holds the mark, so the mark outlives that drain.
 */
const markCredits = (contactId: string) =>
  sql`credit_mark as (insert into attribution_dirty (contact_id) values (${contactId}) on conflict (contact_id) do update set marked_at = excluded.marked_at)`;

export type AnalyticsEvent = { id: string; type: string; contactId: string; properties: Record<string, unknown>; occurredAt: Date };

export type AnalyticsOptions = {
  /** The currency of an amount sent without one, and the one reports convert to. @default 'USD' */
  currency: string;
};

/** lifecycle_stage values that place a contact in the funnel; `subscriber` and `other` do not, `evangelist` is a customer. */
const STAGE_OF_LIFECYCLE: Record<string, FunnelStage | undefined> = {
  lead: 'lead',
  mql: 'mql',
  sql: 'sql',
  opportunity: 'opportunity',
  customer: 'customer',
  evangelist: 'customer',
};

/** The stage an event shows the contact reached, and whether it states the current stage (a lifecycle write) or only proves progress. */
function stageOf(e: AnalyticsEvent): { stage: FunnelStage; authoritative: boolean } | undefined {
  switch (e.type) {
    case 'contact.updated': {
      const changes = e.properties.changes as Record<string, { to?: unknown }> | undefined;
      const to = changes?.lifecycle_stage?.to;
      const stage = typeof to === 'string' ? STAGE_OF_LIFECYCLE[to] : undefined;
      return stage ? { stage, authoritative: true } : undefined;
    }
    case 'lead.mql':
      return { stage: 'mql', authoritative: false };
    case 'handoff.accepted':
      return { stage: 'sql', authoritative: false };
    case 'deal.created':
    case 'deal.updated':
    case 'deal.stage_changed':
    case 'deal.lost':
      return { stage: 'opportunity', authoritative: false };
    case 'deal.won':
    case 'order.paid':
    case 'payment.received':
      return { stage: 'customer', authoritative: false };
    default:
      return undefined;
  }
}

/** The first sales touch after an MQL: CRM feedback on a hand-off, or a `sales.touched` event. */
const SALES_TOUCH = new Set(['sales.touched', 'handoff.accepted', 'handoff.rejected']);

const rank = (column: string) =>
  sql.raw(`(case ${column} ${FUNNEL_STAGES.map((s, i) => `when '${s}' then ${i}`).join(' ')} else -1 end)`);

/**
 * Records that the contact reached `stage` at `at`. Each stage keeps its earliest time. The current stage follows the
 * latest move by occurred_at: a lifecycle write sets it (a recycle back to lead included); other events only move it
 * forward. An event older than the last move leaves the current stage alone.
 */
async function reachStage(tx: DbOrTx, contactId: string, stage: FunnelStage, at: Date, authoritative: boolean): Promise<void> {
  const col = sql.raw(`${stage}_at`);
  const moves = authoritative
    ? sql`(contact_funnel.moved_at is null or excluded.moved_at >= contact_funnel.moved_at)`
    : sql`(contact_funnel.moved_at is null or (excluded.moved_at >= contact_funnel.moved_at and ${rank('excluded.current_stage')} > ${rank('contact_funnel.current_stage')}))`;
  await tx.execute(sql`
    with ${markCredits(contactId)}
    insert into contact_funnel (contact_id, ${col}, entered_at, current_stage, moved_at)
    values (${contactId}, ${ts(at)}, ${ts(at)}, ${stage}, ${ts(at)})
    on conflict (contact_id) do update set
      ${col} = least(contact_funnel.${col}, excluded.${col}),
      entered_at = least(contact_funnel.entered_at, excluded.entered_at),
      current_stage = case when ${moves} then excluded.current_stage else contact_funnel.current_stage end,
      moved_at = case when ${moves} then excluded.moved_at else contact_funnel.moved_at end`);
}

export async function applyAnalytics(db: Db, e: AnalyticsEvent, opts: AnalyticsOptions): Promise<void> {
  const stage = stageOf(e);
  const deal = isDealEventType(e.type);
  const salesTouch = SALES_TOUCH.has(e.type);
  const utm = utmOf(e.type, e.properties);
  const writes: ((tx: DbOrTx) => Promise<unknown>)[] = [];
  if (deal) {
    writes.push(async (tx) => {
      const d = await applyDealEvent(tx, { ...e, type: e.type as Parameters<typeof applyDealEvent>[1]['type'] }, opts.currency);
      // The deal's contacts (a deal moved to another contact takes its revenue from the first one).
      if (d) await markAttributionDirty(tx, d.contactIds);
    });
  }
  if (stage) writes.push((tx) => reachStage(tx, e.contactId, stage.stage, e.occurredAt, stage.authoritative));
  if (salesTouch) {
    writes.push((tx) =>
      tx.execute(sql`
        insert into contact_funnel (contact_id, sales_touch_at) values (${e.contactId}, ${ts(e.occurredAt)})
        on conflict (contact_id) do update set sales_touch_at = least(contact_funnel.sales_touch_at, excluded.sales_touch_at)`),
    );
  }
  if (utm) {
    // One statement: the touch, and the contact's first touch (by occurred_at) naming its source, medium and campaign.
    writes.push((tx) =>
      tx.execute(sql`
        with ${markCredits(e.contactId)}, touch as (
          insert into analytics_touches (event_id, contact_id, occurred_at, utm_source, utm_medium, utm_campaign)
          values (${e.id}, ${e.contactId}, ${ts(e.occurredAt)}, ${utm.source}, ${utm.medium}, ${utm.campaign})
          on conflict (event_id) do nothing
        )
        insert into contact_funnel (contact_id, first_touch_at, utm_source, utm_medium, utm_campaign)
        values (${e.contactId}, ${ts(e.occurredAt)}, ${utm.source}, ${utm.medium}, ${utm.campaign})
        on conflict (contact_id) do update set
          first_touch_at = excluded.first_touch_at, utm_source = excluded.utm_source, utm_medium = excluded.utm_medium, utm_campaign = excluded.utm_campaign
        where contact_funnel.first_touch_at is null or excluded.first_touch_at < contact_funnel.first_touch_at`),
    );
  }
  if (!writes.length) return;
  // A single statement is atomic on its own: no BEGIN/COMMIT round trips on the common paths.
  if (writes.length === 1 && !deal) {
    await writes[0]!(db);
    return;
  }
  await db.transaction(async (tx) => {
    for (const w of writes) await w(tx);
  });
}
