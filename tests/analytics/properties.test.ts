import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { applyAnalytics } from '../../src/analytics/apply';
import { creditConversions } from '../../src/analytics/campaigns';
import { ATTRIBUTION_MODELS, type Touch } from '../../src/analytics/attribution';
import { funnelReport } from '../../src/analytics/funnel';
import { contacts } from '../../src/db/schema';
import { createTestDatabase } from '../helpers/db';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const DAY = 86_400_000;

describe('attribution credits sum to the conversions', () => {
  const touch = fc.record({ at: fc.integer({ min: 0, max: 400 * DAY }), kind: fc.constantFrom<'utm' | 'journey'>('utm', 'journey'), key: fc.constantFrom('a', 'b', 'c', 'x') });
  const conversion = fc.record({
    contactId: fc.constantFrom('c1', 'c2', 'c3', 'c4'),
    at: fc.integer({ min: 0, max: 400 * DAY }),
    kind: fc.constantFrom<'leads' | 'mqls' | 'sqls' | 'deals'>('leads', 'mqls', 'sqls', 'deals'),
    amount: fc.integer({ min: 0, max: 1_000_000 }).map((c) => c / 100),
    currency: fc.constantFrom('USD', 'CNY', 'EUR'),
  });
  it('for every model, whatever the touches: Σ campaigns + other touches + unattributed = total, per kind and currency', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('c1', 'c2', 'c3', 'c4'), fc.array(touch, { maxLength: 8 })),
        fc.array(conversion, { maxLength: 30 }),
        fc.constantFrom(...ATTRIBUTION_MODELS),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 400 }),
        (touches, conversions, model, halfLifeDays, lookbackDays) => {
          const list = conversions.map((c) => (c.kind === 'deals' ? c : { contactId: c.contactId, at: c.at, kind: c.kind }));
          const bucketOf = (t: Touch) => (t.key === 'x' ? null : t.key);
          const r = creditConversions(list, new Map(Object.entries(touches)), { model, halfLifeDays, lookbackDays }, bucketOf);
          const parts = [...r.buckets.values(), r.other, r.unattributed];
          for (const k of ['leads', 'mqls', 'sqls', 'deals'] as const) {
            expect(parts.reduce((a, p) => a + p[k], 0)).toBeCloseTo(r.total[k], 6);
          }
          for (const cur of ['USD', 'CNY', 'EUR']) {
            expect(parts.reduce((a, p) => a + (p.revenue[cur] ?? 0), 0)).toBeCloseTo(r.total.revenue[cur] ?? 0, 4);
          }
          for (const p of parts) for (const k of ['leads', 'mqls', 'sqls', 'deals'] as const) expect(p[k]).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 300 },
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
            await applyAnalytics(db.db, { id: `${run}-${i}-${j}`, contactId: id, occurredAt, ...e }, { currency: 'USD' });
          }
        }
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
