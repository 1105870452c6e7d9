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
import { asc, eq, sql, type SQL } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { dealEvents } from '../db/schema';
import { dealFieldsOf, type DealEventType, type DealFieldsOf } from './crm-events';
import { rowsOf } from './rows';

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

/** The stored form of a deal event, or undefined when it names no deal (a payment without `deal_id`). */
export function dealEventRow(event: { id: string; type: string; contactId: string; properties: Record<string, unknown>; occurredAt: Date }): DealEventRow | undefined {
  const fields = dealFieldsOf(event.type as DealEventType, event.properties);
  if (fields?.dealId === undefined) return undefined;
  return { eventId: event.id, dealId: fields.dealId, contactId: event.contactId, type: event.type, fields: fields as Record<string, unknown>, occurredAt: event.occurredAt };
}

/** What the credit rollup reads of a stored deal (its contact, and whether, when and for how much it was won). */
export type StoredDeal = { contactId: string; status: string; closedUs: number | null; amount: string | null; currency: string | null };

/**
 * Stores the events and folds each of their deals from all its stored events, in one statement (its read does not
 * see its own insert: the new rows are added here); with each deal as stored before (`previous`). Called by the
 * analytics drain, the one writer of deals (drains take turns), so no other write of these deals comes between the
 * reads and the upsert.
 */

export async function storeAndFold(
  tx: DbOrTx,
  rows: readonly DealEventRow[],
  defaultCurrency: string,
): Promise<{ deal: DealState; contactIds: string[]; previous: StoredDeal | undefined }[]> {
  const dealIds = [...new Set(rows.map((r) => r.dealId))];
  const previous = new Map(
    rowsOf(
      await tx.execute(sql`select id, contact_id, status, (extract(epoch from closed_at) * 1000000)::int8::text as closed_us, amount::text as amount, currency from deals
        where id in (${sql.join(
          dealIds.map((d) => sql`${d}`),
          sql`, `,
        )})`),
    ).map((r) => [
      String(r.id),
      { contactId: String(r.contact_id), status: String(r.status), closedUs: r.closed_us === null ? null : Number(r.closed_us), amount: r.amount === null ? null : String(r.amount), currency: r.currency === null ? null : String(r.currency) },
    ]),
  );
  const values = JSON.stringify(rows.map((r) => ({ event_id: r.eventId, deal_id: r.dealId, contact_id: r.contactId, type: r.type, fields: r.fields, occurred_at: r.occurredAt.toISOString() })));
  const stored = rowsOf(
    await tx.execute(sql`
      with ins as (
        insert into deal_events (event_id, deal_id, contact_id, type, fields, occurred_at)
        select * from jsonb_to_recordset(${values}::jsonb) as e(event_id text, deal_id text, contact_id uuid, type text, fields jsonb, occurred_at timestamptz)
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
  const byDeal = new Map<string, DealEventRow[]>();
  for (const r of byId.values()) {
    let list = byDeal.get(r.dealId);
    if (!list) byDeal.set(r.dealId, (list = []));
    list.push(r);
  }
  return dealIds.map((id) => {
    const mine = byDeal.get(id) ?? [];
    return { deal: foldDeal(mine, defaultCurrency), contactIds: [...new Set(mine.map((r) => r.contactId))], previous: previous.get(id) };
  });
}

/** The upsert of folded deals (one row each). */
export function upsertDeals(folded: readonly DealState[]): SQL {
  const rows = folded.map((d) => ({
    id: d.id,
    contact_id: d.contactId,
    company: d.company,
    amount: d.amount === null ? null : d.amount.toFixed(2),
    currency: d.currency,
    stage: d.stage,
    status: d.status,
    owner_id: d.ownerId,
    expected_close_at: d.expectedCloseAt?.toISOString() ?? null,
    opened_at: d.openedAt.toISOString(),
    closed_at: d.closedAt?.toISOString() ?? null,
    regressions: d.regressions,
    paid: Object.fromEntries(Object.entries(d.paid).map(([k, v]) => [k, v.toFixed(2)])),
    last_event_at: d.lastEventAt.toISOString(),
  }));
  const cols = ['contact_id', 'company', 'amount', 'currency', 'stage', 'status', 'owner_id', 'expected_close_at', 'opened_at', 'closed_at', 'regressions', 'paid', 'last_event_at'];
  // One jsonb parameter, not 14 per deal: a batch of thousands binds and plans as fast as one.
  return sql`(insert into deals (id, ${sql.raw(cols.join(', '))}, updated_at)
    select id, ${sql.raw(cols.join(', '))}, now() from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as d(id text, contact_id uuid, company text, amount numeric,
      currency text, stage text, status text, owner_id text, expected_close_at timestamptz, opened_at timestamptz, closed_at timestamptz, regressions int, paid jsonb, last_event_at timestamptz)
    order by id
    on conflict (id) do update set ${sql.raw([...cols, 'updated_at'].map((c) => `${c} = excluded.${c}`).join(', '))})`;
}

/** A deal with its stage history, for GET /v1/deals/:id. */
export async function dealWithHistory(db: DbOrTx, id: string, defaultCurrency: string): Promise<DealState | undefined> {
  const rows = await db.select().from(dealEvents).where(eq(dealEvents.dealId, id)).orderBy(asc(dealEvents.occurredAt));
  return rows.length ? foldDeal(rows, defaultCurrency) : undefined;
}
