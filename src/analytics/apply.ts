/**
 * The analytics writes of a batch of stored events (deals, the funnel, touches), made by the analytics drain
 * (drain.ts) in the transaction that advances its look, so each event is rolled up exactly once. Set-based: a batch of
 * any size costs a few statements — its funnel rows read once, the deal events stored and their deals folded once, then
 * one statement writing every funnel row, touch, deal and credit mark. Every write is also idempotent per event id
 * (deal_events and analytics_touches are keyed by it; the funnel keeps least times), so a batch applied twice changes
 * nothing. The drain is the one writer of these tables (one drain at a time, under its lock).
 */
import { sql, type SQL } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { isDealEventType } from './crm-events';
import { dealEventRow, storeAndFold, upsertDeals, type DealEventRow } from './deals';
import { FUNNEL_STAGES, type FunnelStage } from './stages';
import { utmOf } from './utm';
import { MARK_CONFLICT } from './credits';
import { rowsOf } from './rows';

/**
 * A CTE marking contacts for the credit rollup (credits.ts) in the statement that changes their credits, each with the
 * earliest time the change can affect (microseconds; null: all). An upsert, not `do nothing`: it waits for a credit
 * drain that holds the mark, so the mark outlives that drain.
 */
const markCredits = (marks: ReadonlyMap<string, number | null>) => {
  // Milliseconds rounded down: a `since` a little early only recomputes a little more.
  const rows = [...marks].sort(([a], [b]) => (a < b ? -1 : 1)).map(([contact_id, us]) => ({ contact_id, since: us === null ? null : new Date(Math.floor(us / 1000)).toISOString() }));
  return sql`credit_mark as (insert into attribution_dirty (contact_id, since)
    select contact_id, since from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as m(contact_id uuid, since timestamptz) order by 1
    ${MARK_CONFLICT})`;
};

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

const RANK = new Map<string | null, number>(FUNNEL_STAGES.map((s, i) => [s, i]));
const rank = (stage: string | null) => RANK.get(stage) ?? -1;

/** Whether the event changes any analytics table. The drain reads only events of `ANALYTICS_EVENTS` (db/schema.ts), a superset. */
export const relevant = (e: AnalyticsEvent) => isDealEventType(e.type) || SALES_TOUCH.has(e.type) || stageOf(e) !== undefined || utmOf(e.type, e.properties) !== undefined;

/** What a batch does to one contact's funnel row: least times, the stage fold's outcome, the first touch, the first sales touch. */
type FunnelWrite = {
  contact_id: string;
  lead_at: string | null;
  mql_at: string | null;
  sql_at: string | null;
  opportunity_at: string | null;
  customer_at: string | null;
  entered_at: string | null;
  /** Set only when the batch moved the current stage (else the row keeps its own). */
  current_stage: FunnelStage | null;
  moved_at: string | null;
  first_touch_at: string | null;
  utm_source: string | null;
  utm_medium: string | null;
  utm_campaign: string | null;
  sales_touch_at: string | null;
};

const earlier = (a: string | null, at: Date): string => (a !== null && Date.parse(a) <= at.getTime() ? a : at.toISOString());

/** Microseconds since the epoch of a timestamptz column, exact (the stored precision), as text. */
const usOf = (col: string) => `(extract(epoch from ${col}) * 1000000)::int8::text as ${col}_us`;
const usOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const min = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.min(a, b));
const msToUs = (iso: string | null): number | null => (iso === null ? null : Date.parse(iso) * 1000);

type StoredFunnel = { stage: string | null; movedUs: number | null; firstTouchUs: number | null; salesTouchUs: number | null; times: Record<'entered' | FunnelStage, number | null> };
const TIME_COLS = ['entered', ...FUNNEL_STAGES] as const;

/**
 * The conversion times the credit rollup reads from a funnel row (credit-sql.ts `conversionsSql`): the lead (entry),
 * the MQL and the SQL (the first time at that stage or a later one).
 */
const conversions = (t: Record<'entered' | FunnelStage, number | null>): (number | null)[] => [
  t.entered,
  t.mql ?? t.sql ?? t.opportunity ?? t.customer,
  t.sql ?? t.opportunity ?? t.customer,
];

/**
 * Applies stored events, in the order given: the drain gives each contact's events in `occurred_at` order (ties in
 * the order they were stored). The rules, per event, are those of a late or out-of-order event anywhere:
 * - each funnel stage keeps the earliest time any event showed it (and `entered_at` the earliest of them);
 * - the current stage follows the latest move by occurred_at: a lifecycle write sets it (a recycle back to lead
 *   included), other events only move it forward; an event older than the last move leaves it alone;
 * - the first UTM touch (earliest; the first given on a tie) names the contact's source, medium and campaign;
 * - the first sales touch is the earliest;
 * - deals are folded from all their stored events (deals.ts), so their order does not matter.
 * A contact is marked for the credit rollup when its credits can change: a conversion time of its funnel row changed,
 * a won deal of it changed (or a deal stopped or started being won, or moved to or from it), or it got a touch at or
 * before one of its conversions (a touch after all of them is credited by the recompute the next conversion's mark
 * brings). `extra` are CTEs written in the same statement (the drain's advance of its look).
 */
export async function applyEvents(tx: DbOrTx, all: readonly AnalyticsEvent[], opts: AnalyticsOptions, extra: readonly SQL[] = []): Promise<void> {
  const events = all.filter(relevant);
  // Contacts whose credits change, with the earliest time the change can affect (µs; null: all).
  const marks = new Map<string, number | null>();
  const mark = (contactId: string, ...times: (number | null)[]) => {
    const known = times.filter((t): t is number => t !== null);
    const since = known.length ? Math.min(...known) : null;
    const prev = marks.get(contactId);
    marks.set(contactId, prev === undefined ? since : prev === null || since === null ? null : Math.min(prev, since));
  };
  const stages = new Map<string, { stage: FunnelStage; at: Date; authoritative: boolean }[]>();
  const dealRows: DealEventRow[] = [];
  const funnel = new Map<string, FunnelWrite>();
  const touches: { event_id: string; contact_id: string; occurred_at: string; utm_source: string | null; utm_medium: string | null; utm_campaign: string }[] = [];
  const row = (contactId: string): FunnelWrite => {
    let w = funnel.get(contactId);
    if (!w) {
      w = { contact_id: contactId, lead_at: null, mql_at: null, sql_at: null, opportunity_at: null, customer_at: null, entered_at: null, current_stage: null, moved_at: null, first_touch_at: null, utm_source: null, utm_medium: null, utm_campaign: null, sales_touch_at: null };
      funnel.set(contactId, w);
    }
    return w;
  };
  for (const e of events) {
    if (isDealEventType(e.type)) {
      const r = dealEventRow(e);
      if (r) dealRows.push(r);
    }
    const stage = stageOf(e);
    if (stage) {
      const w = row(e.contactId);
      const col = `${stage.stage}_at` as const;
      w[col] = earlier(w[col], e.occurredAt);
      w.entered_at = earlier(w.entered_at, e.occurredAt);
      let list = stages.get(e.contactId);
      if (!list) stages.set(e.contactId, (list = []));
      list.push({ stage: stage.stage, at: e.occurredAt, authoritative: stage.authoritative });
    }
    if (SALES_TOUCH.has(e.type)) {
      const w = row(e.contactId);
      w.sales_touch_at = earlier(w.sales_touch_at, e.occurredAt);
    }
    const utm = utmOf(e.type, e.properties);
    if (utm) {
      const at = e.occurredAt.toISOString();
      touches.push({ event_id: e.id, contact_id: e.contactId, occurred_at: at, utm_source: utm.source, utm_medium: utm.medium, utm_campaign: utm.campaign });
      const w = row(e.contactId);
      if (w.first_touch_at === null || e.occurredAt.getTime() < Date.parse(w.first_touch_at)) Object.assign(w, { first_touch_at: at, utm_source: utm.source, utm_medium: utm.medium, utm_campaign: utm.campaign });
    }
  }
  // The funnel rows as stored, their conversion times after the batch, and the stage fold.
  const stored = funnel.size ? await readFunnel(tx, [...funnel.keys()]) : new Map<string, StoredFunnel>();
  const after = new Map<string, Record<'entered' | FunnelStage, number | null>>();
  for (const [contactId, w] of funnel) {
    const old = stored.get(contactId);
    const times = Object.fromEntries(TIME_COLS.map((c) => [c, min(old?.times[c] ?? null, msToUs(w[`${c}_at`]))])) as Record<'entered' | FunnelStage, number | null>;
    after.set(contactId, times);
    const before = old ? conversions(old.times) : [null, null, null];
    const now = conversions(times);
    const changed = now.flatMap((t, i) => (t !== before[i] ? [t, before[i]!] : []));
    if (changed.length) mark(contactId, ...changed);
  }
  for (const [contactId, writes] of stages) foldStage(funnel.get(contactId)!, stored.get(contactId), writes);
  const ctes: SQL[] = [];
  const wonCloses = new Map<string, number>();
  if (dealRows.length) {
    const folded = await storeAndFold(tx, dealRows, opts.currency);
    ctes.push(sql`deal as ${upsertDeals(folded.map((f) => f.deal))}`);
    for (const f of folded) {
      const d = f.deal;
      const now = d.status === 'won' ? { contactId: d.contactId, closedUs: d.closedAt ? d.closedAt.getTime() * 1000 : null, amount: d.amount === null ? null : d.amount.toFixed(2), currency: d.currency } : undefined;
      const was = f.previous?.status === 'won' ? { contactId: f.previous.contactId, closedUs: f.previous.closedUs, amount: f.previous.amount, currency: f.previous.currency } : undefined;
      if (JSON.stringify(now) !== JSON.stringify(was)) for (const c of [now?.contactId, was?.contactId]) if (c) mark(c, now?.closedUs ?? null, was?.closedUs ?? null);
      if (now?.closedUs != null) wonCloses.set(now.contactId, Math.max(wonCloses.get(now.contactId) ?? -Infinity, now.closedUs));
    }
  }
  // A touch changes credits only if a conversion of its contact is at or after it.
  // (Also for a contact marked already: the touch may be earlier than what its mark covers.)
  const touched = [...new Set(touches.map((t) => t.contact_id))];
  if (touched.length) {
    const lastWon = await lastWonClose(tx, touched);
    for (const t of touches) {
      const times = after.get(t.contact_id);
      const latest = Math.max(...(times ? conversions(times) : []).map((x) => x ?? -Infinity), lastWon.get(t.contact_id) ?? -Infinity, wonCloses.get(t.contact_id) ?? -Infinity);
      if (latest >= Date.parse(t.occurred_at) * 1000) mark(t.contact_id, Date.parse(t.occurred_at) * 1000);
    }
  }
  const funnelWrites = [...funnel.values()].filter((w) => changesRow(w, stored.get(w.contact_id)));
  if (funnelWrites.length) ctes.push(funnelSql(funnelWrites));
  if (touches.length) {
    ctes.push(sql`touch as (
      insert into analytics_touches (event_id, contact_id, occurred_at, utm_source, utm_medium, utm_campaign)
      select * from jsonb_to_recordset(${JSON.stringify(touches)}::jsonb) as t(event_id text, contact_id uuid, occurred_at timestamptz, utm_source text, utm_medium text, utm_campaign text)
      on conflict (event_id) do nothing)`);
  }
  if (marks.size) ctes.push(markCredits(marks));
  ctes.push(...extra);
  if (ctes.length) await tx.execute(sql`with ${sql.join(ctes, sql`, `)} select 1`);
}

/** The stored funnel rows of these contacts, times in microseconds (the drain is their one writer: no lock needed). */
async function readFunnel(tx: DbOrTx, ids: readonly string[]): Promise<Map<string, StoredFunnel>> {
  const cols = ['moved_at', 'first_touch_at', 'sales_touch_at', ...TIME_COLS.map((c) => `${c}_at`)];
  const rows = rowsOf(
    // Through the primary key, one probe per contact: `contact_id = any(…)` over a few thousand ids is planned as a
    // (parallel) scan of the whole table, which grows with every contact ever funnelled.
    await tx.execute(sql`select contact_id, current_stage, ${sql.raw(cols.map(usOf).join(', '))}
      from unnest(${`{${[...ids].sort().join(',')}}`}::uuid[]) as k(id) join contact_funnel on contact_id = k.id`),
  );
  return new Map(
    rows.map((r) => [
      String(r.contact_id),
      {
        stage: r.current_stage === null ? null : String(r.current_stage),
        movedUs: usOrNull(r.moved_at_us),
        firstTouchUs: usOrNull(r.first_touch_at_us),
        salesTouchUs: usOrNull(r.sales_touch_at_us),
        times: Object.fromEntries(TIME_COLS.map((c) => [c, usOrNull(r[`${c}_at_us`])])) as Record<'entered' | FunnelStage, number | null>,
      },
    ]),
  );
}

/** The latest close of a won deal per contact, in microseconds. */
async function lastWonClose(tx: DbOrTx, ids: readonly string[]): Promise<Map<string, number>> {
  const rows = rowsOf(
    // Per contact through its index (deals_contact_idx), not through every won deal.
    await tx.execute(sql`select c.id as contact_id, (extract(epoch from w.closed_at) * 1000000)::int8::text as us
      from unnest(${`{${[...ids].sort().join(',')}}`}::uuid[]) as c(id)
      cross join lateral (select max(closed_at) as closed_at from deals where contact_id = c.id and status = 'won') w`),
  );
  return new Map(rows.filter((r) => r.us !== null).map((r) => [String(r.contact_id), Number(r.us)]));
}

/**
 * Whether the upsert of `w` changes the stored row (the same test as funnelSql's `where`, made here so that a batch of
 * mostly later touches and stages already reached sends none of those rows): a new row, an earlier time, a stage move,
 * an earlier first touch.
 */
function changesRow(w: FunnelWrite, old: StoredFunnel | undefined): boolean {
  if (!old) return true;
  const earlierThan = (iso: string | null, storedUs: number | null) => iso !== null && (storedUs === null || msToUs(iso)! < storedUs);
  return (
    w.current_stage !== null ||
    TIME_COLS.some((c) => earlierThan(w[`${c}_at`], old.times[c])) ||
    earlierThan(w.sales_touch_at, old.salesTouchUs) ||
    earlierThan(w.first_touch_at, old.firstTouchUs)
  );
}

/** Sets the row's current stage when its stage writes (in order) move it from the stored one: what applying them one by one gives. */
function foldStage(w: FunnelWrite, stored: StoredFunnel | undefined, writes: readonly { stage: FunnelStage; at: Date; authoritative: boolean }[]): void {
  let stage = stored?.stage ?? null;
  let movedUs = stored?.movedUs ?? null;
  let moved: { stage: FunnelStage; at: Date } | undefined;
  for (const x of writes) {
    const atUs = x.at.getTime() * 1000;
    const moves = movedUs === null || (atUs >= movedUs && (x.authoritative || rank(x.stage) > rank(stage)));
    if (!moves) continue;
    stage = x.stage;
    movedUs = atUs;
    moved = x;
  }
  if (moved) Object.assign(w, { current_stage: moved.stage, moved_at: moved.at.toISOString() });
}

/**
 * One upsert of every funnel row the batch changes (least times; the stage only where the fold moved it; the first
 * touch only if earlier). A row the batch leaves as it was (a later touch, a stage already reached earlier) is not
 * rewritten.
 */
function funnelSql(rows: readonly FunnelWrite[]): SQL {
  const cols = ['contact_id', ...FUNNEL_STAGES.map((s) => `${s}_at`), 'entered_at', 'current_stage', 'moved_at', 'first_touch_at', 'utm_source', 'utm_medium', 'utm_campaign', 'sales_touch_at'];
  const types = cols.map((c) => `${c} ${c === 'contact_id' ? 'uuid' : c.endsWith('_at') ? 'timestamptz' : 'text'}`);
  const leastCols = [...FUNNEL_STAGES.map((s) => `${s}_at`), 'entered_at', 'sales_touch_at'];
  const firstTouch = 'excluded.first_touch_at is not null and (contact_funnel.first_touch_at is null or excluded.first_touch_at < contact_funnel.first_touch_at)';
  const touchCol = (c: string) => `${c} = case when ${firstTouch} then excluded.${c} else contact_funnel.${c} end`;
  const changes = [...leastCols.map((c) => `coalesce(excluded.${c} < contact_funnel.${c}, excluded.${c} is not null and contact_funnel.${c} is null)`), 'excluded.moved_at is not null', `(${firstTouch})`];
  const sorted = [...rows].sort((a, b) => (a.contact_id < b.contact_id ? -1 : 1));
  return sql`funnel as (
    insert into contact_funnel (${sql.raw(cols.join(', '))})
    select ${sql.raw(cols.join(', '))} from jsonb_to_recordset(${JSON.stringify(sorted)}::jsonb) as f(${sql.raw(types.join(', '))})
    on conflict (contact_id) do update set ${sql.raw(
      [
        ...leastCols.map((c) => `${c} = least(contact_funnel.${c}, excluded.${c})`),
        'current_stage = case when excluded.moved_at is not null then excluded.current_stage else contact_funnel.current_stage end',
        'moved_at = coalesce(excluded.moved_at, contact_funnel.moved_at)',
        ...['utm_source', 'utm_medium', 'utm_campaign', 'first_touch_at'].map(touchCol),
      ].join(', '),
    )}
    where ${sql.raw(changes.join(' or '))})`;
}
