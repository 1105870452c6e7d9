/**
 * The credit rollup (src/analytics/credits.ts) against the request-time computation it replaces: random histories of
 * touches, journey entries, lifecycle moves (regressions included) and deals (amounts and currencies changing, stage
 * regressions, won → lost, a deal moving to another contact), stored in any order and taken in by the analytics
 * drain, with drains (analytics and credits) at random points in between. For every model and for ranges on whole days and on partial days, the
 * campaign report from the rollup equals the report computed at request time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { ATTRIBUTION_MODELS } from '../../src/analytics/attribution';
import { campaignReport, type CampaignReport } from '../../src/analytics/campaigns';
import { drainCredits, markAllDirty } from '../../src/analytics/credits';
import { drainAnalytics } from '../../src/analytics/drain';
import { rowsOf } from '../../src/analytics/rows';
import { upsertRunProjection } from '../../src/db/queries';
import { campaigns, contacts, events, journeyRunSteps } from '../../src/db/schema';
import { createTestDatabase } from '../helpers/db';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const FX = { currency: 'USD', rates: { CNY: 0.14 } };

/** Every number of `a` equals the one in `b` (to the report's rounding: 6 decimals, cents for money). */
function expectSameReport(a: unknown, b: unknown, path = ''): void {
  if (typeof a === 'number' && typeof b === 'number') {
    expect(Math.abs(a - b), `${path}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-6 + 1e-9 * Math.abs(a));
    return;
  }
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') {
    expect(a, path).toEqual(b);
    return;
  }
  if (Array.isArray(a)) {
    expect(Array.isArray(b), path).toBe(true);
    expect((b as unknown[]).length, path).toBe(a.length);
    a.forEach((x, i) => expectSameReport(x, (b as unknown[])[i], `${path}[${i}]`));
    return;
  }
  expect(Object.keys(b as object).sort(), path).toEqual(Object.keys(a).sort());
  for (const [k, v] of Object.entries(a)) expectSameReport(v, (b as Record<string, unknown>)[k], `${path}.${k}`);
}

describe('credit rollup = request-time attribution', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  // Journey entries are stamped now() by the run projection: the histories are placed around now.
  const T0 = Math.floor(Date.now() / DAY) * DAY - 60 * DAY;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });
  /** Stores an event as ingest does (its own transaction): the analytics drain takes it in. */
  const store = async (e: { id: string; type: string; contactId: string; occurredAt: Date; properties: Record<string, unknown> }) => {
    await db.db.insert(events).values(e);
  };

  const at = fc.integer({ min: 0, max: 24 * 120 });
  const step = fc.oneof(
    fc.record({ t: fc.constant('touch' as const), h: at, key: fc.constantFrom('a', 'b', 'x') }),
    fc.record({ t: fc.constant('journey' as const), key: fc.constantFrom('ja', 'jx') }),
    fc.record({ t: fc.constant('stage' as const), h: at, stage: fc.constantFrom('lead', 'mql', 'sql', 'opportunity', 'customer', 'subscriber') }),
    fc.record({ t: fc.constant('signal' as const), h: at, type: fc.constantFrom('lead.mql', 'handoff.accepted') }),
    fc.record({
      t: fc.constant('deal' as const),
      h: at,
      deal: fc.constantFrom('d1', 'd2', 'd3'),
      type: fc.constantFrom('deal.created', 'deal.updated', 'deal.stage_changed', 'deal.won', 'deal.won', 'deal.lost'),
      amount: fc.option(fc.integer({ min: 0, max: 500_000 }).map((c) => c / 100)),
      currency: fc.option(fc.constantFrom('USD', 'CNY', 'EUR')),
      stage: fc.constantFrom('discovery', 'proposal', 'negotiation'),
    }),
    fc.record({ t: fc.constant('drain' as const) }),
  );
  const history = fc.array(fc.record({ who: fc.integer({ min: 0, max: 2 }), step }), { minLength: 1, maxLength: 30 });

  it('for random histories, every model, whole and partial days', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(history, fc.integer({ min: 0, max: 23 }), async (steps, edgeHour) => {
        run++;
        await db.db.execute(sql`truncate contact_funnel, analytics_touches, deal_events, deals, journey_run_steps, journey_runs, campaigns,
          attribution_dirty, attribution_contact_credits, attribution_credits`);
        await db.db.insert(campaigns).values([
          { id: 'ca', name: 'A', channel: 'x', currency: 'USD', utmCampaign: 'a', journeyIds: ['ja'] },
          { id: 'cb', name: 'B', channel: 'x', currency: 'USD', utmCampaign: 'b', journeyIds: [] },
        ]);
        const people = [randomUUID(), randomUUID(), randomUUID()];
        await db.db.insert(contacts).values(people.map((id, i) => ({ id, externalId: `r${run}-${i}` })));
        for (const [i, { who, step: s }] of steps.entries()) {
          const contactId = people[who]!;
          const id = `${run}-${i}`;
          const occurredAt = 'h' in s ? new Date(T0 + s.h * HOUR) : new Date();
          switch (s.t) {
            case 'drain':
              await drainAnalytics(db.db, { currency: 'USD', batch: 2 });
              await drainCredits(db.db, { batch: 2 });
              break;
            case 'journey':
              await upsertRunProjection(db.db, { workflowId: `journey:${s.key}:${contactId}:${i}`, runId: 'r', journeyId: s.key, version: 1, contactId, entryKey: '', currentStep: 's', status: 'running', stepSeq: 1 });
              break;
            case 'touch':
              await store({ id, type: 'page.viewed', contactId, occurredAt, properties: { utm_campaign: s.key, utm_source: 'google' } });
              break;
            case 'stage':
              await store({ id, type: 'contact.updated', contactId, occurredAt, properties: { changes: { lifecycle_stage: { from: null, to: s.stage } } } });
              break;
            case 'signal':
              await store({ id, type: s.type, contactId, occurredAt, properties: {} });
              break;
            case 'deal': {
              const properties: Record<string, unknown> = { deal_id: `${run}-${s.deal}`, stage: s.stage, ...(s.amount !== null ? { amount: s.amount } : {}), ...(s.currency !== null ? { currency: s.currency } : {}) };
              if (s.type === 'deal.stage_changed') properties.to = s.stage;
              await store({ id, type: s.type, contactId, occurredAt, properties });
              break;
            }
          }
        }
        await drainAnalytics(db.db, { currency: 'USD' });
        const ranges = [
          { from: new Date(T0 - 400 * DAY), to: new Date(T0 + 400 * DAY) },
          { from: new Date(T0 + 10 * DAY + edgeHour * HOUR), to: new Date(T0 + 50 * DAY + edgeHour * HOUR) },
        ];
        for (const model of ATTRIBUTION_MODELS) {
          for (const range of ranges) {
            const q = { ...range, model, halfLifeDays: 7, lookbackDays: 365 };
            const reference: CampaignReport = await campaignReport(db.db, q, FX, { credits: 'request-time' });
            const rolled = await campaignReport(db.db, q, FX);
            expectSameReport(rolled, reference);
          }
        }
        // Nothing left marked after a report, and a rebuild from scratch gives the same sums as the increments did.
        expect(rowsOf(await db.db.execute(sql`select count(*)::int as n from attribution_dirty`))[0]).toEqual({ n: 0 });
        const sums = sql`select model, day::text, conversion, touch_kind, touch_key, currency, credit::text, amount::text, priced from attribution_credits where credit <> 0 or amount <> 0 or priced <> 0 order by 1, 2, 3, 4, 5, 6`;
        const incremental = rowsOf(await db.db.execute(sums));
        await db.db.execute(sql`truncate attribution_contact_credits, attribution_credits`);
        await markAllDirty(db.db);
        await drainCredits(db.db);
        expect(rowsOf(await db.db.execute(sums))).toEqual(incremental);
      }),
      { numRuns: 15 },
    );
  });

  it('a drain in batches of any size, of events stored together or apart, leaves every table as a drain after each event', async () => {
    const people = [randomUUID(), randomUUID(), randomUUID()];
    await db.db.insert(contacts).values(people.map((id, i) => ({ id, externalId: `g-${i}` })));
    const snapshot = async () => ({
      funnel: rowsOf(await db.db.execute(sql`select * from contact_funnel order by contact_id`)),
      deals: rowsOf(await db.db.execute(sql`select id, contact_id, company, amount, currency, stage, status, owner_id, opened_at, closed_at, regressions, paid, last_event_at from deals order by id`)),
      dealEvents: rowsOf(await db.db.execute(sql`select * from deal_events order by event_id`)),
      touches: rowsOf(await db.db.execute(sql`select * from analytics_touches order by event_id`)),
      marked: rowsOf(await db.db.execute(sql`select contact_id from attribution_dirty order by contact_id`)),
    });
    const clear = () => db.db.execute(sql`truncate contact_funnel, analytics_touches, deal_events, deals, attribution_dirty`);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ who: fc.integer({ min: 0, max: 2 }), step }), { minLength: 2, maxLength: 25 }), fc.integer({ min: 1, max: 6 }), async (steps, batch) => {
        run++;
        const built = steps.flatMap(({ who, step: s }, i) => {
          const contactId = people[who]!;
          const id = `g${String(run).padStart(3, '0')}-${String(i).padStart(3, '0')}`;
          const occurredAt = new Date(T0 + ('h' in s ? s.h : 0) * HOUR);
          switch (s.t) {
            case 'touch':
              return [{ id, type: 'page.viewed', contactId, occurredAt, properties: { utm_campaign: s.key } }];
            case 'stage':
              return [{ id, type: 'contact.updated', contactId, occurredAt, properties: { changes: { lifecycle_stage: { to: s.stage } } } }];
            case 'signal':
              return [{ id, type: s.type, contactId, occurredAt, properties: {} }, { id: `${id}-t`, type: 'sales.touched', contactId, occurredAt, properties: {} }];
            case 'deal':
              return [{ id, type: s.type, contactId, occurredAt, properties: { deal_id: `g${run}-${s.deal}`, to: s.stage, ...(s.amount !== null ? { amount: s.amount } : {}), ...(s.currency !== null ? { currency: s.currency } : {}) } }];
            default:
              return [];
          }
        });
        // In occurred_at order (ties in id order, the order they are stored in): the order a drain applies them in.
        const sorted = [...built].sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime() || (a.id < b.id ? -1 : 1));
        const stored = (suffix: string) => sorted.map((e) => ({ ...e, id: `${e.id}${suffix}` }));
        const ids = (rows: Record<string, unknown>[]) => rows.map((r) => ({ ...r, event_id: String(r.event_id).slice(0, -2) }));
        const comparable = async () => {
          const s = await snapshot();
          return { ...s, dealEvents: ids(s.dealEvents), touches: ids(s.touches) };
        };
        await clear();
        for (const e of stored('-1')) {
          await db.db.insert(events).values(e);
          await drainAnalytics(db.db, { currency: 'USD' });
        }
        const oneByOne = await comparable();
        await clear();
        for (const e of stored('-2')) await db.db.insert(events).values(e);
        expect(await drainAnalytics(db.db, { currency: 'USD', batch })).toBe(sorted.length);
        expect(await comparable()).toEqual(oneByOne);
        await clear();
        if (sorted.length) await db.db.insert(events).values(stored('-3'));
        expect(await drainAnalytics(db.db, { currency: 'USD', batch })).toBe(sorted.length);
        expect(await comparable()).toEqual(oneByOne);
      }),
      { numRuns: 30 },
    );
  });

  it('a journey entry committed while a drain runs is taken in by the next drain, though a later entry committed first', async () => {
    await db.db.execute(sql`truncate contact_funnel, analytics_touches, deal_events, deals, journey_run_steps, journey_runs, campaigns,
      attribution_dirty, attribution_contact_credits, attribution_credits`);
    await db.db.insert(campaigns).values({ id: 'ca', name: 'A', channel: 'x', currency: 'USD', utmCampaign: 'a', journeyIds: ['ja'] });
    const [early, late] = [randomUUID(), randomUUID()];
    await db.db.insert(contacts).values([
      { id: early, externalId: 'entry-early' },
      { id: late, externalId: 'entry-late' },
    ]);
    // Both become MQLs an hour from now: each MQL is credited to the contact's journey entry (stamped now).
    const soon = new Date(Date.now() + HOUR);
    for (const [i, contactId] of [early, late].entries()) {
      await store({ id: `entry-mql-${i}`, type: 'lead.mql', contactId, occurredAt: soon, properties: {} });
    }
    await drainAnalytics(db.db, { currency: 'USD' });
    await drainCredits(db.db);

    // `early` enters first — its row draws the lower id — and stays uncommitted while `late` enters and a drain runs.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const didEnter = new Promise<void>((r) => (entered = r));
    const writer = db.db.transaction(async (tx) => {
      await tx.insert(journeyRunSteps).values({ workflowId: `journey:ja:${early}`, runId: 'r', seq: 1, journeyId: 'ja', version: 1, contactId: early, stepId: 's' });
      entered();
      await held;
    });
    await didEnter;
    await upsertRunProjection(db.db, { workflowId: `journey:ja:${late}`, runId: 'r', journeyId: 'ja', version: 1, contactId: late, entryKey: '', currentStep: 's', status: 'running', stepSeq: 1 });
    expect(await drainCredits(db.db)).toBe(1);
    release();
    await writer;
    const ids = rowsOf(await db.db.execute(sql`select contact_id, id from journey_run_steps order by id`)).map((r) => r.contact_id);
    expect(ids).toEqual([early, late]);

    // The next drain takes `early` in: the rollup gives what the request-time computation gives, both entries credited.
    expect(await drainCredits(db.db)).toBe(1);
    const day = Math.floor(Date.now() / DAY) * DAY;
    for (const model of ATTRIBUTION_MODELS) {
      const q = { from: new Date(day - DAY), to: new Date(day + 3 * DAY), model, halfLifeDays: 7, lookbackDays: 365 };
      const rolled = await campaignReport(db.db, q, FX);
      expectSameReport(rolled, await campaignReport(db.db, q, FX, { credits: 'request-time' }));
      expect(rolled.campaigns.find((c) => c.campaignId === 'ca')?.mqls).toBeCloseTo(2, 9);
    }
    expect(await drainCredits(db.db)).toBe(0);
  });

  it('a report on a range of whole days reads the rollup, not the conversions', async () => {
    await db.db.execute(sql`truncate contact_funnel, analytics_touches, deal_events, deals, journey_run_steps, campaigns, attribution_dirty, attribution_contact_credits, attribution_credits`);
    const contactId = randomUUID();
    await db.db.insert(contacts).values({ id: contactId, externalId: 'direct' });
    await store({ id: 'e1', type: 'page.viewed', contactId, occurredAt: new Date(T0), properties: { utm_campaign: 'a' } });
    await store({ id: 'e2', type: 'contact.updated', contactId, occurredAt: new Date(T0 + HOUR), properties: { changes: { lifecycle_stage: { to: 'mql' } } } });
    await drainAnalytics(db.db, { currency: 'USD' });
    const q = { from: new Date(T0 - DAY), to: new Date(T0 + DAY), model: 'linear' as const, halfLifeDays: 7, lookbackDays: 365 };
    expect((await campaignReport(db.db, q, FX)).totals.mqls).toBe(1);
    // A stage written behind the drain's back (no mark) is seen by the request-time computation only.
    await db.db.execute(sql`update contact_funnel set sql_at = ${new Date(T0 + 2 * HOUR).toISOString()}::timestamptz`);
    expect((await campaignReport(db.db, q, FX, { credits: 'request-time' })).totals.sqls).toBe(1);
    expect((await campaignReport(db.db, q, FX)).totals.sqls).toBe(0);
    // A partial day is computed at request time, so a range ending mid-day sees it.
    expect((await campaignReport(db.db, { ...q, to: new Date(T0 + 12 * HOUR) }, FX)).totals.sqls).toBe(1);
  });
});
