import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/client';
import { contacts, scoreEvents } from '../../src/db/schema';
import type { DecayProgress } from '../../src/contracts';
import { applyDecay, applyFit, applyScoringToEvent } from '../../src/scoring/apply';
import { explainScore } from '../../src/scoring/explain';
import { parseScoringModel } from '../../src/scoring/model';
import { createTestDatabase } from '../helpers/db';

// Its own file (and database): decay scans every contact, so contacts from other tests would change the counts.
const model = parseScoringModel(
  `version: 1
timezone: Asia/Shanghai
behaviour:
  demo-request: { event: demo.requested, points: 30 }
  whitepaper: { event: content.downloaded, points: 15 }
  email-clicked: { event: email.clicked, points: 2 }
negative:
  unsubscribed: { event: email.unsubscribed, points: -10 }
fit:
  senior: { field: job_title, contains_any: [CFO, 总监], points: 20 }
decay: { after_idle: 30d, percent: 10 }
thresholds:
  mql: { at: 100, lifecycle_stage: mql, emit: lead.mql }
`,
  'decay-model.yaml',
);

let handle: Awaited<ReturnType<typeof createTestDatabase>>;
let db: Db;
beforeAll(async () => {
  handle = await createTestDatabase();
  db = handle.db;
});
afterAll(async () => {
  await handle?.drop();
});

let n = 0;
async function scored(types: string[], at: string, jobTitle?: string): Promise<string> {
  const [c] = await db.insert(contacts).values({ jobTitle: jobTitle ?? null }).returning({ id: contacts.id });
  if (jobTitle) await applyFit(db, model, c!.id, { now: new Date(at) });
  for (const type of types) {
    await applyScoringToEvent(db, model, { eventId: `d-${++n}`, contactId: c!.id, type, properties: {}, occurredAt: new Date(at) });
  }
  return c!.id;
}
const scoreOf = async (id: string) => (await db.select({ s: contacts.score }).from(contacts).where(eq(contacts.id, id)))[0]!.s;
const decayRows = (id: string) =>
  db.select().from(scoreEvents).where(eq(scoreEvents.contactId, id)).orderBy(asc(scoreEvents.id)).then((r) => r.filter((x) => x.source === 'decay'));

describe('applyDecay', () => {
  let idle: string;
  let active: string;
  let negative: string;

  it('removes 10% of the behavioural score, rounded up (47 → -5), leaving fit untouched, once per day', async () => {
    // behaviour 30 + 15 + 2 = 47, fit 20 → score 67; last scored 2025-01-01.
    idle = await scored(['demo.requested', 'content.downloaded', 'email.clicked'], '2025-01-01T02:00:00Z', '财务总监');
    active = await scored(['demo.requested'], '2025-01-20T02:00:00Z');
    negative = await scored(['email.unsubscribed'], '2024-12-01T02:00:00Z');
    expect(await scoreOf(idle)).toBe(67);

    const now = new Date('2025-02-01T01:00:00Z'); // 2025-02-01 09:00 Shanghai, 31 days idle
    const first = await applyDecay(db, model, { now });
    expect(first).toMatchObject({ scanned: 1, decayed: 1, pointsRemoved: 5 });
    expect(await scoreOf(idle)).toBe(62);
    expect(await scoreOf(active)).toBe(30);
    expect(await scoreOf(negative)).toBe(-10);
    const rows = await decayRows(idle);
    expect(rows.map((r) => [r.delta, r.scoreAfter, r.rule, r.idempotencyKey])).toEqual([[-5, 62, 'decay', `decay:${idle}:2025-02-01`]]);
    expect(rows[0]!.reason).toContain('10% of behavioural score 47');

    // Twice the same day (and later that local day): nothing more.
    expect(await applyDecay(db, model, { now })).toMatchObject({ decayed: 0, pointsRemoved: 0 });
    expect(await applyDecay(db, model, { now: new Date('2025-02-01T15:00:00Z') })).toMatchObject({ decayed: 0 });
    expect(await scoreOf(idle)).toBe(62);
  });

  it('does not decay again until a further idle period has passed, then takes 10% of what is left (42 → -5)', async () => {
    expect(await applyDecay(db, model, { now: new Date('2025-02-20T01:00:00Z') })).toMatchObject({ decayed: 1 }); // `active` only
    expect(await scoreOf(active)).toBe(27);
    expect(await scoreOf(idle)).toBe(62);
    const later = await applyDecay(db, model, { now: new Date('2025-03-03T01:00:00Z') });
    expect(later).toMatchObject({ decayed: 1, pointsRemoved: 5 });
    expect(await scoreOf(idle)).toBe(57);
    expect((await decayRows(idle)).map((r) => r.delta)).toEqual([-5, -5]);
    const x = await explainScore(db, model, idle);
    expect({ fit: x.fit, behaviour: x.behaviour, decay: x.decay }).toEqual({ fit: 20, behaviour: 47, decay: -10 });
    expect(x.breakdown.reduce((s, l) => s + l.points, 0)).toBe(57);
  });

  it('a new scored event resets idleness', async () => {
    await applyScoringToEvent(db, model, { eventId: `d-${++n}`, contactId: idle, type: 'email.clicked', properties: {}, occurredAt: new Date('2025-03-20T00:00:00Z') });
    // 2025-04-05: `idle` scored 16 days ago and is left alone; `active` (last decayed 2025-02-20) decays 27 → 24.
    expect(await applyDecay(db, model, { now: new Date('2025-04-05T01:00:00Z') })).toMatchObject({ scanned: 1, decayed: 1, pointsRemoved: 3 });
    expect(await scoreOf(idle)).toBe(59);
    expect(await decayRows(idle)).toHaveLength(2);
    expect(await scoreOf(active)).toBe(24);
  });

  it('pages through contacts in batches and reports progress', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await scored(['content.downloaded'], '2025-05-01T00:00:00Z'));
    const seen: DecayProgress[] = [];
    const r = await applyDecay(db, model, { now: new Date('2025-07-01T00:00:00Z'), batchSize: 2, onProgress: (p) => seen.push(p) });
    // The five new contacts, plus `idle` and `active`, which are also idle by July.
    expect(r).toMatchObject({ scanned: 7, decayed: 7, skipped: 0, batches: 4 });
    expect(seen.map((p) => p.scanned)).toEqual([2, 4, 6, 7]);
    for (const id of ids) expect(await scoreOf(id)).toBe(13); // 15 - ceil(1.5)
  });

  it('is safe to run concurrently with itself', async () => {
    for (let i = 0; i < 4; i++) await scored(['demo.requested'], '2025-08-01T00:00:00Z');
    const now = new Date('2025-09-15T00:00:00Z');
    const runs = await Promise.all([applyDecay(db, model, { now }), applyDecay(db, model, { now }), applyDecay(db, model, { now })]);
    const removed = runs.reduce((s, r) => s + r.pointsRemoved, 0);
    const decayed = runs.reduce((s, r) => s + r.decayed, 0);
    // Every contact with a positive behavioural score idle since before 2025-08-16 decays exactly once.
    const rows = await db.select().from(scoreEvents);
    const today = rows.filter((r) => r.source === 'decay' && r.idempotencyKey!.endsWith(':2025-09-15'));
    expect(today.length).toBe(decayed);
    expect(-today.reduce((s, r) => s + r.delta, 0)).toBe(removed);
    expect(new Set(today.map((r) => r.contactId)).size).toBe(today.length);
    expect(decayed).toBe(4 + 7); // the 4 new ones and the 7 decayed on July 1 (`negative` never decays)
  });
});
