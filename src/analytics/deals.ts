/**
 * Deals as records: every event naming a deal is stored (deal_events) and the deal row is recomputed as the fold of
 * all of them in `occurred_at` order (ties by event id). Events that arrive out of order therefore give the row that
 * in-order delivery gives, and a re-delivered event (same id) changes nothing.
 *
 * Rules of the fold (README, "Deals"):
 * - any event naming a deal id creates the deal; it is opened at its earliest event;
 * - `amount`, `currency`, `stage`, `owner`, `expected_close`, `company` take the value of the latest event carrying them;
 * - a stage that the deal had already left is a regression: it is taken, kept in the history with `regression: true`
 *   and counted in `regressions`;
 * - `deal.won` / `deal.lost` close the deal; the latest of them by `occurred_at` decides (a CRM correcting won → lost
 *   takes the revenue away); a stage change after the close is kept in the history and does not reopen it;
 * - `order.paid` / `payment.received` with a `deal_id` add to the deal's `paid` in their currency;
 * - an amount without any currency on the deal is in the reporting currency (ANALYTICS_CURRENCY).
 */
import { asc, eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { dealEvents, deals } from '../db/schema';
import { dealFieldsOf, type DealEventType, type DealFieldsOf } from './crm-events';

export type DealEventRow = typeof dealEvents.$inferSelect;

export type StageMove = { stage: string; at: string; eventId: string; regression: boolean; afterClose: boolean };

export type DealState = {
  id: string;
  contactId: string;
  company: string | null;
  amount: number | null;
  currency: string | null;
  stage: string | null;
  status: 'open' | 'won' | 'lost';
  ownerId: string | null;
  expectedCloseAt: Date | null;
  openedAt: Date;
  closedAt: Date | null;
  regressions: number;
  paid: Record<string, number>;
  lastEventAt: Date;
  history: StageMove[];
};

const cents = (x: number) => Math.round(x * 100) / 100;

/** The deal as its events say, in occurred_at order; `rows` must be non-empty and of one deal. */
export function foldDeal(rows: readonly DealEventRow[], defaultCurrency: string): DealState {
  const sorted = [...rows].sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime() || (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));
  const first = sorted[0]!;
  const d: DealState = {
    id: first.dealId,
    contactId: first.contactId,
    company: null,
    amount: null,
    currency: null,
    stage: null,
    status: 'open',
    ownerId: null,
    expectedCloseAt: null,
    openedAt: first.occurredAt,
    closedAt: null,
    regressions: 0,
    paid: {},
    lastEventAt: first.occurredAt,
    history: [],
  };
  const left = new Set<string>();
  for (const e of sorted) {
    const f = e.fields as DealFieldsOf;
    const type = e.type as DealEventType;
    d.contactId = e.contactId;
    d.lastEventAt = e.occurredAt;
    const payment = type === 'order.paid' || type === 'payment.received';
    if (payment) {
      if (f.amount !== undefined) {
        const cur = f.currency ?? d.currency ?? defaultCurrency;
        d.paid[cur] = cents((d.paid[cur] ?? 0) + f.amount);
      }
      continue;
    }
    if (f.amount !== undefined) d.amount = f.amount;
    if (f.currency !== undefined) d.currency = f.currency;
    if (f.owner !== undefined) d.ownerId = f.owner;
    if (f.company !== undefined) d.company = f.company;
    if (f.expectedClose !== undefined) d.expectedCloseAt = new Date(f.expectedClose);
    if (f.stage !== undefined && f.stage !== d.stage) {
      const regression = left.has(f.stage);
      if (d.stage !== null) left.add(d.stage);
      d.history.push({ stage: f.stage, at: e.occurredAt.toISOString(), eventId: e.eventId, regression, afterClose: d.status !== 'open' });
      if (regression) d.regressions++;
      d.stage = f.stage;
    }
    if (type === 'deal.won' || type === 'deal.lost') {
      d.status = type === 'deal.won' ? 'won' : 'lost';
      d.closedAt = e.occurredAt;
    }
  }
  if (d.amount !== null && d.currency === null) d.currency = defaultCurrency;
  return d;
}

/**
 * Stores one deal event and rewrites its deal from all its events. Returns the deal and every contact an event of it
 * named (the deal belongs to the latest; a deal moved between contacts changes both), or undefined when the event
 * names no deal (a payment without `deal_id`).
 */
export async function applyDealEvent(
  tx: DbOrTx,
  event: { id: string; type: DealEventType; contactId: string; properties: Record<string, unknown>; occurredAt: Date },
  defaultCurrency: string,
): Promise<{ deal: DealState; contactIds: string[] } | undefined> {
  const fields = dealFieldsOf(event.type, event.properties);
  if (fields?.dealId === undefined) return undefined;
  // Serializes concurrent events of one deal: the second fold sees the first one's event.
  await tx.execute(sqlLock(fields.dealId));
  await tx
    .insert(dealEvents)
    .values({ eventId: event.id, dealId: fields.dealId, contactId: event.contactId, type: event.type, fields: fields as Record<string, unknown>, occurredAt: event.occurredAt })
    .onConflictDoNothing();
  const rows = await tx.select().from(dealEvents).where(eq(dealEvents.dealId, fields.dealId)).orderBy(asc(dealEvents.occurredAt));
  const d = foldDeal(rows, defaultCurrency);
  const values = {
    contactId: d.contactId,
    company: d.company,
    amount: d.amount === null ? null : d.amount.toFixed(2),
    currency: d.currency,
    stage: d.stage,
    status: d.status,
    ownerId: d.ownerId,
    expectedCloseAt: d.expectedCloseAt,
    openedAt: d.openedAt,
    closedAt: d.closedAt,
    regressions: d.regressions,
    paid: Object.fromEntries(Object.entries(d.paid).map(([k, v]) => [k, v.toFixed(2)])),
    lastEventAt: d.lastEventAt,
  };
  await tx.insert(deals).values({ id: d.id, ...values }).onConflictDoUpdate({ target: deals.id, set: { ...values, updatedAt: new Date() } });
  return { deal: d, contactIds: [...new Set(rows.map((r) => r.contactId))] };
}

const sqlLock = (dealId: string) => sql`select pg_advisory_xact_lock(hashtext(${`deal:${dealId}`}))`;

/** A deal with its stage history, for GET /v1/deals/:id. */
export async function dealWithHistory(db: DbOrTx, id: string, defaultCurrency: string): Promise<DealState | undefined> {
  const rows = await db.select().from(dealEvents).where(eq(dealEvents.dealId, id)).orderBy(asc(dealEvents.occurredAt));
  return rows.length ? foldDeal(rows, defaultCurrency) : undefined;
}
