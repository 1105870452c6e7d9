import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { asc, eq, inArray, like } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contacts, events, scoreEvents } from '../../src/db/schema';
import { ingestEvent, type IngestDeps } from '../../src/ingest/event';
import type { TriggerSource } from '../../src/ingest/router';
import { applyScoringToEvent, applyScoringToEvents, type ApplyResult, type ScoringEventInput } from '../../src/scoring/apply';
import { parseScoringModel } from '../../src/scoring/model';
import { createTestDatabase } from '../helpers/db';

const model = parseScoringModel(
  `version: 1
timezone: UTC
behaviour:
  page-view: { event: page.viewed, points: 5, cap: { max_points: 20, per: 1d } }
  pricing: { event: page.viewed, where: { path: { contains: /pricing } }, points: 10, cap: { max_points: 30, per: 7d } }
  demo-request: { event: demo.requested, points: 30 }
thresholds:
  mql: { at: 100, lifecycle_stage: mql, emit: lead.mql }
`,
  'group-model.yaml',
);

let handle: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  handle = await createTestDatabase();
});
afterAll(async () => {
  await handle?.drop();
});

const newContact = async (values: Partial<typeof contacts.$inferInsert> = {}) => {
  const [row] = await handle.db.insert(contacts).values(values).returning({ id: contacts.id });
  return row!.id;
};
const day = new Date('2026-12-01T08:00:00Z');
const at = (minutes: number) => new Date(day.getTime() + minutes * 60_000);

/** What a result says, without the ids that differ between twin contacts. */
const gist = (r: ApplyResult | { error: unknown }) =>
  'error' in r ? { error: String(r.error) } : { duplicate: r.duplicate, score: r.score, stage: r.lifecycleStage, deltas: r.changes.map((c) => `${c.ruleId}${c.delta}`), emitted: r.emitted.map((e) => e.type), updates: r.contactEvents.length };

describe('scoring group-committed (applyScoringToEvents)', () => {
  it('answers and writes what scoring the events one at a time would, and fails only the event that cannot be scored', async () => {
    // Twin contacts: the group scores one set, applyScoringToEvent the other, one event at a time in the same order.
    const make = async () => ({ a: await newContact(), b: await newContact(), near: await newContact({ score: 95 }) });
    const missing = randomUUID();
    const grouped = await make();
    const alone = await make();
    const script = (c: { a: string; b: string; near: string }, tag: string): ScoringEventInput[] => [
      // Six page views of A in one day: caps of 20/day and 30/week bind inside the group.
      ...[0, 1, 2, 3, 4, 5].map((n) => ({ eventId: `${tag}-a${n}`, contactId: c.a, type: 'page.viewed', properties: { path: n % 2 ? '/pricing' : '/blog' }, occurredAt: at(n) })),
      { eventId: `${tag}-b0`, contactId: c.b, type: 'page.viewed', properties: { path: '/pricing' }, occurredAt: at(1) },
      { eventId: `${tag}-b1`, contactId: c.b, type: 'email.opened', properties: {}, occurredAt: at(2) },
      // 95 + 30 crosses the MQL threshold (lead.mql, lifecycle move): scored after the group, as alone; then one more view.
      { eventId: `${tag}-n0`, contactId: c.near, type: 'demo.requested', properties: {}, occurredAt: at(3) },
      { eventId: `${tag}-n1`, contactId: c.near, type: 'page.viewed', properties: { path: '/pricing' }, occurredAt: at(4) },
      // A contact that does not exist.
      { eventId: `${tag}-x`, contactId: missing, type: 'page.viewed', properties: {}, occurredAt: at(5) },
      // A's first view again: a re-delivery within the same group scores nothing more.
      { eventId: `${tag}-a0`, contactId: c.a, type: 'page.viewed', properties: { path: '/blog' }, occurredAt: at(0) },
    ];
    const groupResults = await applyScoringToEvents(handle.db, model, script(grouped, 'g'));
    const aloneResults: (ApplyResult | { error: unknown })[] = [];
    for (const input of script(alone, 'o')) {
      try {
        aloneResults.push(await applyScoringToEvent(handle.db, model, input));
      } catch (err) {
        aloneResults.push({ error: err });
      }
    }
    expect(groupResults.map(gist)).toEqual(aloneResults.map(gist));
    expect('error' in groupResults[10]!).toBe(true);
    expect(groupResults.filter((r) => 'error' in r)).toHaveLength(1);
    // The caps held: 4 views at 5 a day, 3 pricing views at 10 a week.
    expect(gist(groupResults[5]!)).toMatchObject({ score: 50 });
    expect(gist(groupResults[8]!)).toMatchObject({ emitted: ['lead.mql'], stage: 'mql' });

    const scoresOf = async (c: { a: string; b: string; near: string }) =>
      Promise.all([c.a, c.b, c.near].map(async (id) => (await handle.db.select({ score: contacts.score, stage: contacts.lifecycleStage }).from(contacts).where(eq(contacts.id, id)))[0]));
    expect(await scoresOf(grouped)).toEqual(await scoresOf(alone));
    expect(await scoresOf(grouped)).toEqual([{ score: 50, stage: 'lead' }, { score: 15, stage: 'lead' }, { score: 140, stage: 'mql' }]);
    const rowsOf = async (c: { a: string; b: string; near: string }) =>
      (await handle.db.select().from(scoreEvents).where(inArray(scoreEvents.contactId, [c.a, c.b, c.near])).orderBy(asc(scoreEvents.id))).map((r) => [
        (r.idempotencyKey ?? '').replace(/^rule:[go]-/, ''),
        r.delta,
        r.scoreAfter,
      ]);
    expect((await rowsOf(grouped)).sort()).toEqual((await rowsOf(alone)).sort());
    // Every score change is a stored contact.updated (source scoring), as from applyScoringToEvent.
    const updates = async (c: { a: string; b: string; near: string }) => (await handle.db.select().from(events).where(inArray(events.contactId, [c.a, c.b, c.near]))).length;
    expect(await updates(grouped)).toBe(await updates(alone));
    expect(await updates(grouped)).toBeGreaterThan(0);

    // Scoring the same events again, grouped, changes nothing: each is a duplicate.
    const again = await applyScoringToEvents(handle.db, model, script(grouped, 'g'));
    expect(again.filter((r) => !('error' in r) && !r.duplicate && r.changes.length > 0)).toHaveLength(0);
    expect(await scoresOf(grouped)).toEqual([{ score: 50, stage: 'lead' }, { score: 15, stage: 'lead' }, { score: 140, stage: 'mql' }]);
  });
});

describe('ingestEvent group-committed across concurrent requests', () => {
  const triggers: TriggerSource = { triggersFor: async () => [] };
  const deps: IngestDeps = { db: undefined as never, router: { temporal: undefined as unknown as Client, taskQueue: 'unused', triggers }, scoring: model };

  it('stores, scores and routes every event of a burst once, and one failing event fails alone', async () => {
    const d = { ...deps, db: handle.db };
    const ids = [await newContact(), await newContact(), await newContact()];
    const burst = Array.from({ length: 24 }, (_, n) => ({ id: `burst-${n}`, type: 'page.viewed', contactId: ids[n % 3]!, properties: { path: '/pricing' }, occurredAt: at(n), source: 'api' }));
    // An event about a contact that does not exist (its row cannot be stored), and one id delivered twice at once.
    const bad = { id: 'burst-bad', type: 'page.viewed', contactId: randomUUID(), properties: {}, occurredAt: at(1), source: 'api' };
    const settled = await Promise.allSettled([...burst, bad, burst[0]!].map((e) => ingestEvent(d, e)));
    expect(settled.map((s) => s.status)).toEqual([...burst.map(() => 'fulfilled'), 'rejected', 'fulfilled']);

    const stored = await handle.db.select().from(events).where(like(events.id, 'burst-%'));
    expect(stored.map((e) => e.id).sort()).toEqual(burst.map((e) => e.id).sort());
    expect(stored.every((e) => e.routedAt instanceof Date)).toBe(true);
    // Eight views each: page-view capped at 20 a day (4 rows), pricing at 30 a week (3 rows) — whatever the grouping.
    for (const id of ids) {
      const rows = await handle.db.select().from(scoreEvents).where(eq(scoreEvents.contactId, id));
      expect(rows.map((r) => r.rule).sort()).toEqual(['page-view', 'page-view', 'page-view', 'page-view', 'pricing', 'pricing', 'pricing']);
      const [c] = await handle.db.select({ score: contacts.score }).from(contacts).where(eq(contacts.id, id));
      expect(c!.score).toBe(50);
    }
    // Re-delivered, the burst is all duplicates and scores nothing more.
    const again = await Promise.all(burst.map((e) => ingestEvent(d, e)));
    expect(again.every((r) => r.duplicate)).toBe(true);
    const rows = await handle.db.select().from(scoreEvents).where(inArray(scoreEvents.contactId, ids));
    expect(rows).toHaveLength(21);
  });
});
