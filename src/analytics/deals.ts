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
import { asc, eq, sql, type SQLWrapper } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { dealEvents, deals } from '../db/schema';
import { dealFieldsOf, type DealEventType, type DealFieldsOf } from './crm-events';
import { rowsOf, ts } from './rows';

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
  /** Runs the deal upsert (with whatever the caller adds to the statement); every contact an event of the deal named. */
  write: (upsertDeal: SQLWrapper, contactIds: string[]) => Promise<unknown>,
): Promise<DealState | undefined> {
  const row = dealEventRow(event);
  if (!row) return undefined;
  // Serializes concurrent events of one deal: the fold below, taken after the lock, sees the events stored before it.
  await lockDeals(tx, [row.dealId]);
  const [folded] = await storeAndFold(tx, [row], defaultCurrency);
  await write(upsertDeals(tx, [folded!.deal]), folded!.contactIds);
  return folded!.deal;
}

/** The stored form of a deal event, or undefined when it names no deal (a payment without `deal_id`). */
export function dealEventRow(event: { id: string; type: string; contactId: string; properties: Record<string, unknown>; occurredAt: Date }): DealEventRow | undefined {
  const fields = dealFieldsOf(event.type as DealEventType, event.properties);
  if (fields?.dealId === undefined) return undefined;
  return { eventId: event.id, dealId: fields.dealId, contactId: event.contactId, type: event.type, fields: fields as Record<string, unknown>, occurredAt: event.occurredAt };
}

const lockKey = (dealId: string) => `deal:${dealId}`;

/**
 * Takes the deals' advisory locks (in one order, so two writers of the same deals cannot deadlock). One key per deal
 * whether it is locked alone or with others, so a one-event write and a batch of the same deal wait for each other.
 */
export async function lockDeals(tx: DbOrTx, dealIds: readonly string[]): Promise<void> {
  const keys = [...new Set(dealIds.map(lockKey))].sort();
  if (keys.length === 1) await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${keys[0]!}))`);
  else await tx.execute(sql`select pg_advisory_xact_lock(hashtext(k)) from (select unnest(${`{${keys.map((k) => JSON.stringify(k)).join(',')}}`}::text[]) as k order by 1) s`);
}

/**
 * Stores the events and folds each of their deals from all its stored events, in one statement (its read does not
 * see its own insert: the new rows are added here). Call after `lockDeals`.
 */
export async function storeAndFold(tx: DbOrTx, rows: readonly DealEventRow[], defaultCurrency: string): Promise<{ deal: DealState; contactIds: string[] }[]> {
  const dealIds = [...new Set(rows.map((r) => r.dealId))];
  const values = sql.join(
    rows.map((r) => sql`(${r.eventId}, ${r.dealId}, ${r.contactId}::uuid, ${r.type}, ${JSON.stringify(r.fields)}::jsonb, ${ts(r.occurredAt)})`),
    sql`, `,
  );
  const stored = rowsOf(
    await tx.execute(sql`
      with ins as (
        insert into deal_events (event_id, deal_id, contact_id, type, fields, occurred_at) values ${values}
        on conflict (event_id) do nothing
      )
      select event_id, deal_id, contact_id, type, fields, occurred_at from deal_events where deal_id in (${sql.join(
        dealIds.map((d) => sql`${d}`),
        sql`, `,
      )})`),
  ).map(
    (r): DealEventRow => ({
      eventId: String(r.event_id),
      dealId: String(r.deal_id),
      contactId: String(r.contact_id),
      type: String(r.type),
      fields: (typeof r.fields === 'string' ? JSON.parse(r.fields) : r.fields) as Record<string, unknown>,
      occurredAt: r.occurred_at instanceof Date ? r.occurred_at : new Date(String(r.occurred_at)),
    }),
  );
  const byId = new Map(stored.map((r) => [r.eventId, r]));
  for (const r of rows) if (!byId.has(r.eventId)) byId.set(r.eventId, r);
  return dealIds.map((id) => {
    const mine = [...byId.values()].filter((r) => r.dealId === id);
    return { deal: foldDeal(mine, defaultCurrency), contactIds: [...new Set(mine.map((r) => r.contactId))] };
  });
}

/** The upsert of folded deals (one row each). */
export function upsertDeals(tx: DbOrTx, folded: readonly DealState[]): SQLWrapper {
  const rows = folded.map((d) => ({
    id: d.id,
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
    updatedAt: new Date(),
  }));
  const set = Object.fromEntries(
    (['contactId', 'company', 'amount', 'currency', 'stage', 'status', 'ownerId', 'expectedCloseAt', 'openedAt', 'closedAt', 'regressions', 'paid', 'lastEventAt', 'updatedAt'] as const).map((k) => [
      k,
      sql.raw(`excluded.${deals[k].name}`),
    ]),
  );
  return tx.insert(deals).values(rows).onConflictDoUpdate({ target: deals.id, set });
}

/** A deal with its stage history, for GET /v1/deals/:id. */
export async function dealWithHistory(db: DbOrTx, id: string, defaultCurrency: string): Promise<DealState | undefined> {
  const rows = await db.select().from(dealEvents).where(eq(dealEvents.dealId, id)).orderBy(asc(dealEvents.occurredAt));
  return rows.length ? foldDeal(rows, defaultCurrency) : undefined;
}
