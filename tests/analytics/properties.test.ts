import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { drainAnalytics } from '../../src/analytics/drain';
import { campaignReport } from '../../src/analytics/campaigns';
import { ATTRIBUTION_MODELS, shares, type Touch } from '../../src/analytics/attribution';
import { funnelReport } from '../../src/analytics/funnel';
import { analyticsTouches, campaigns, contactFunnel, contacts, deals, events, journeyRunSteps } from '../../src/db/schema';
import { createTestDatabase } from '../helpers/db';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const DAY = 86_400_000;

describe('campaign attribution (SQL) sums to the conversions and matches the formulas', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  const hours = fc.integer({ min: 0, max: 24 * 200 });
  const person = fc.record({
    touches: fc.array(fc.record({ h: hours, kind: fc.constantFrom<'utm' | 'journey'>('utm', 'journey'), key: fc.constantFrom('a', 'b', 'x') }), { maxLength: 6 }),
    stages: fc.record({ lead: hours, mql: fc.option(hours), sql: fc.option(hours) }),
    deals: fc.array(fc.record({ h: hours, amount: fc.option(fc.integer({ min: 0, max: 1_000_000 }).map((c) => c / 100)), currency: fc.constantFrom('USD', 'CNY') }), { maxLength: 2 }),
  });

  it('for every model: campaigns + other touches + unattributed = totals, and each campaign gets what `shares` gives it', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(person, { minLength: 1, maxLength: 4 }), fc.constantFrom(...ATTRIBUTION_MODELS), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 200 }), async (people, model, halfLifeDays, lookbackDays) => {
        run++;
        await db.db.execute(sql`truncate contact_funnel, analytics_touches, deals, journey_run_steps, campaigns`);
        await db.db.insert(campaigns).values([
          { id: 'ca', name: 'A', channel: 'x', currency: 'USD', utmCampaign: 'a', journeyIds: ['a'] },
          { id: 'cb', name: 'B', channel: 'x', currency: 'USD', utmCampaign: 'b', journeyIds: [] },
        ]);
        const at = (h: number) => new Date(T0 + h * 3_600_000);
        const expected = new Map<string, { leads: number; mqls: number; sqls: number; deals: number; revenue: Record<string, number> }>();
        const add = (bucket: string, kind: 'leads' | 'mqls' | 'sqls' | 'deals', share: number, amount?: number | null, currency?: string) => {
          const e = expected.get(bucket) ?? { leads: 0, mqls: 0, sqls: 0, deals: 0, revenue: {} };
          expected.set(bucket, e);
          e[kind] += share;
          if (amount !== undefined && amount !== null && currency) e.revenue[currency] = (e.revenue[currency] ?? 0) + amount * share;
        };
        const opts = { model, halfLifeDays, lookbackDays };
        for (const [i, p] of people.entries()) {
          const id = randomUUID();
          await db.db.insert(contacts).values({ id, externalId: `q${run}-${i}` });
          const mql = p.stages.mql ?? p.stages.sql;
          await db.db.insert(contactFunnel).values({ contactId: id, leadAt: at(p.stages.lead), enteredAt: at(Math.min(p.stages.lead, mql ?? Infinity)), mqlAt: p.stages.mql === null ? null : at(p.stages.mql), sqlAt: p.stages.sql === null ? null : at(p.stages.sql), currentStage: 'lead', movedAt: at(p.stages.lead) });
          const touches: Touch[] = [];
          for (const [k, t] of p.touches.entries()) {
            touches.push({ at: T0 + t.h * 3_600_000, kind: t.kind, key: t.key });
            if (t.kind === 'utm') await db.db.insert(analyticsTouches).values({ eventId: `${run}-${i}-${k}`, contactId: id, occurredAt: at(t.h), utmCampaign: t.key });
            else await db.db.insert(journeyRunSteps).values({ workflowId: `w${i}-${k}`, runId: 'r', seq: 1, journeyId: t.key, version: 1, contactId: id, stepId: 's', enteredAt: at(t.h) });
          }
          const credit = (kind: 'leads' | 'mqls' | 'sqls' | 'deals', when: number, amount?: number | null, currency?: string) => {
            const s = shares(touches, T0 + when * 3_600_000, opts);
            if (!s.length) add('(unattributed)', kind, 1, amount, currency);
            for (const { touch, share } of s) add(touch.key === 'a' ? 'ca' : touch.key === 'b' && touch.kind === 'utm' ? 'cb' : '(other)', kind, share, amount, currency);
          };
          const entered = Math.min(p.stages.lead, mql ?? Infinity);
          credit('leads', entered);
          if (mql !== null) credit('mqls', mql);
          if (p.stages.sql !== null) credit('sqls', p.stages.sql);
          for (const [k, d] of p.deals.entries()) {
            await db.db.insert(deals).values({ id: `d${run}-${i}-${k}`, contactId: id, amount: d.amount === null ? null : d.amount.toFixed(2), currency: d.currency, status: 'won', openedAt: at(0), closedAt: at(d.h), lastEventAt: at(d.h) });
            credit('deals', d.h, d.amount, d.currency);
          }
        }
        const r = await campaignReport(db.db, { from: new Date(T0 - DAY), to: new Date(T0 + 300 * DAY), ...opts }, { currency: 'USD', rates: { CNY: 0.14 } });
        const parts = [...r.campaigns, r.otherTouches, r.unattributed];
        for (const k of ['leads', 'mqls', 'sqls', 'deals'] as const) {
          expect(parts.reduce((a, p) => a + p[k], 0)).toBeCloseTo(r.totals[k], 5);
        }
        for (const cur of ['USD', 'CNY']) {
          expect(parts.reduce((a, p) => a + (p.revenue.byCurrency[cur] ?? 0), 0)).toBeCloseTo(r.totals.revenue.byCurrency[cur] ?? 0, 1);
        }
        const got = new Map<string, (typeof parts)[number]>([['ca', r.campaigns[0]!], ['cb', r.campaigns[1]!], ['(other)', r.otherTouches], ['(unattributed)', r.unattributed]]);
        for (const [bucket, e] of expected) {
          const g = got.get(bucket)!;
          for (const k of ['leads', 'mqls', 'sqls', 'deals'] as const) expect(g[k], `${bucket} ${k}`).toBeCloseTo(e[k], 5);
          for (const cur of ['USD', 'CNY']) expect(g.revenue.byCurrency[cur] ?? 0, `${bucket} ${cur}`).toBeCloseTo(e.revenue[cur] ?? 0, 1);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('funnel counts never grow down the funnel', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  // Stage signals as the ingest path sees them, in any order and at any time, recycles included.
  const signal = fc.record({
    kind: fc.constantFrom('lifecycle', 'lead.mql', 'handoff.accepted', 'deal.created', 'deal.won', 'order.paid'),
    stage: fc.constantFrom('subscriber', 'lead', 'mql', 'sql', 'opportunity', 'customer', 'evangelist', 'other'),
    day: fc.integer({ min: 0, max: 120 }),
  });

  it('for every cohort, reached(stage) ≥ reached(next stage), whatever the events and their order', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(signal, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 8 }), async (people) => {
        run++;
        await db.db.execute(sql`truncate contact_funnel, deal_events, deals`);
        for (const [i, signals] of people.entries()) {
          const id = randomUUID();
          await db.db.insert(contacts).values({ id, externalId: `p${run}-${i}` });
          for (const [j, s] of signals.entries()) {
            const occurredAt = new Date(T0 + s.day * DAY);
            const e =
              s.kind === 'lifecycle'
                ? { type: 'contact.updated', properties: { changes: { lifecycle_stage: { from: null, to: s.stage } } } }
                : s.kind.startsWith('deal.') || s.kind === 'order.paid'
                  ? { type: s.kind, properties: { deal_id: `d${run}-${i}`, amount: 10, currency: 'USD' } }
                  : { type: s.kind, properties: {} };
            await db.db.insert(events).values({ id: `${run}-${i}-${j}`, contactId: id, occurredAt, ...e });
            // Some drained between a contact's events: those after arrive late to the rollup, as out-of-order events do.
            if ((run + j) % 3 === 2) await drainAnalytics(db.db, { currency: 'USD' });
          }
        }
        await drainAnalytics(db.db, { currency: 'USD', batch: 1 + (run % 7) });
        const report = await funnelReport(db.db, { from: new Date(T0 - DAY), to: new Date(T0 + 200 * DAY), groupBy: 'cohort', stuckDays: 30, asOf: new Date(T0 + 300 * DAY) });
        for (const g of report.groups) {
          const reached = g.stages.map((s) => s.reached);
          for (let k = 1; k < reached.length; k++) expect(reached[k]).toBeLessThanOrEqual(reached[k - 1]!);
          expect(reached[0]).toBe(g.contacts);
          for (const s of g.stages) if (s.conversionToNext !== null) expect(s.conversionToNext).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 25 },
    );
  });
});
