import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { responseReport } from '../../src/analytics/response';
import { contactFunnel, contacts, salesHandoffs } from '../../src/db/schema';
import { createTestDatabase } from '../helpers/db';

/**
 * The response report's hand-off: the contact's first hand-off at or after its MQL time. Rows written straight into
 * the tables the report reads (contact_funnel, sales_handoffs), so the expectation is worked out by hand per contact.
 */
describe('response report: MQL → hand-off', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const at = (h: number) => new Date(Date.parse('2026-03-01T00:00:00Z') + h * 3600_000);

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('takes the earliest hand-off at or after the MQL, ignores earlier ones, and counts each MQL once', async () => {
    const ids = await db.db
      .insert(contacts)
      .values(['a', 'b', 'c', 'd'].map((x) => ({ externalId: `resp-${x}`, ownerId: 'rep.1' })))
      .returning({ id: contacts.id });
    const [a, b, c, d] = ids.map((r) => r.id);
    // MQL at hour 0 for everyone; d became MQL outside the report's range.
    await db.db.insert(contactFunnel).values([
      { contactId: a!, leadAt: at(-10), enteredAt: at(-10), mqlAt: at(0), currentStage: 'mql', movedAt: at(0) },
      { contactId: b!, leadAt: at(-10), enteredAt: at(-10), mqlAt: at(0), currentStage: 'mql', movedAt: at(0) },
      { contactId: c!, leadAt: at(-10), enteredAt: at(-10), mqlAt: at(0), currentStage: 'mql', movedAt: at(0) },
      { contactId: d!, leadAt: at(-900), enteredAt: at(-900), mqlAt: at(-800), currentStage: 'mql', movedAt: at(-800) },
    ]);
    await db.db.insert(salesHandoffs).values([
      // a: one before the MQL (not counted), then 3 h and 5 h after it → 3 h.
      { idempotencyKey: 'a0', contactId: a!, createdAt: at(-2) },
      { idempotencyKey: 'a1', contactId: a!, createdAt: at(5) },
      { idempotencyKey: 'a2', contactId: a!, createdAt: at(3) },
      // b: only before the MQL → not handed off.
      { idempotencyKey: 'b0', contactId: b!, createdAt: at(-1) },
      // c: 1 h after.
      { idempotencyKey: 'c1', contactId: c!, createdAt: at(1) },
      // d: outside the range.
      { idempotencyKey: 'd1', contactId: d!, createdAt: at(-799) },
    ]);
    const report = await responseReport(db.db, { from: at(-24), to: at(24), slaSeconds: 3600, asOf: at(48), groupBy: 'none' });
    expect(report.groups).toHaveLength(1);
    const g = report.groups[0]!;
    expect(g.mqls).toBe(3);
    expect(g.handedOff).toBe(2);
    // Two values, 3600 and 10800 s: median 7200, p90 by linear interpolation 3600 + 0.9 × 7200 = 10080.
    expect(g.mqlToHandoffSeconds).toEqual({ median: 7200, p90: 10080, count: 2 });
  });
});
