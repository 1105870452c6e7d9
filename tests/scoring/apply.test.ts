import { randomUUID } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/client';
import { contactAudit, contacts, scoreEvents } from '../../src/db/schema';
import { NotFoundError } from '../../src/errors';
import { applyFit, applyScoringToEvent, type ScoringEventInput } from '../../src/scoring/apply';
import { explainScore } from '../../src/scoring/explain';
import { parseScoringModel } from '../../src/scoring/model';
import { createTestDatabase } from '../helpers/db';

const model = parseScoringModel(
  `version: 1
timezone: UTC
behaviour:
  page-view: { event: page.viewed, points: 5, cap: { max_points: 20, per: 1d } }
  pricing: { event: page.viewed, where: { path: { contains: /pricing } }, points: 10 }
  download: { event: content.downloaded, where: { content_type: { eq: whitepaper } }, points: 5, cap: { max_points: 12, per: 7d } }
  whitepaper: { event: content.downloaded, where: { content_type: { in: [whitepaper, ebook] } }, points: 15 }
  demo-request: { event: demo.requested, points: 30 }
negative:
  unsubscribed: { event: email.unsubscribed, points: -10, cap: { max_points: 10, per: lifetime } }
  spam-report: { event: email.complained, points: -50 }
  invalid-phone: { event: phone.invalid, points: -10, cap: { max_points: 10, per: lifetime } }
  invalid-phone-flag: { field: attributes.phone_valid, eq: false, points: -10 }
  competitor: { field: email_domain, in: [rival.com, 竞争对手.cn], points: -50 }
fit:
  senior: { field: job_title, contains_any: [CFO, CEO, VP, 总监, 经理], points: 20 }
  size:
    field: attributes.company_size
    bands: [{ gte: 1000, points: 20 }, { gte: 200, lt: 1000, points: 10 }]
  industry: { field: industry, in: [Manufacturing, 制造业], points: 10 }
  region: { field: region, in: [CN, SG], points: 5 }
thresholds:
  mql: { at: 100, lifecycle_stage: mql, emit: lead.mql }
  sql: { at: 300, lifecycle_stage: sql }
`,
  'test-model.yaml',
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

async function newContact(values: Partial<typeof contacts.$inferInsert> = {}): Promise<string> {
  const [row] = await db.insert(contacts).values(values).returning({ id: contacts.id });
  return row!.id;
}

async function scoreOf(id: string) {
  const [row] = await db.select({ score: contacts.score, stage: contacts.lifecycleStage }).from(contacts).where(eq(contacts.id, id));
  return row!;
}

const rowsOf = (id: string) => db.select().from(scoreEvents).where(eq(scoreEvents.contactId, id)).orderBy(asc(scoreEvents.id));

let seq = 0;
const event = (contactId: string, type: string, occurredAt: string, properties: Record<string, unknown> = {}): ScoringEventInput => ({
  eventId: `evt-${++seq}-${randomUUID().slice(0, 8)}`,
  contactId,
  type,
  properties,
  occurredAt: new Date(occurredAt),
});

describe('applyScoringToEvent', () => {
  it('records one row per matching rule with exact points, running score_after and event-time timestamps', async () => {
    const id = await newContact();
    const e = event(id, 'page.viewed', '2025-03-10T09:00:00Z', { path: '/de/pricing' });
    const r = await applyScoringToEvent(db, model, e);
    expect(r).toMatchObject({ duplicate: false, score: 15, emitted: [] });
    expect(r.changes.map((c) => [c.ruleId, c.delta])).toEqual([['page-view', 5], ['pricing', 10]]);
    const rows = await rowsOf(id);
    expect(rows.map((x) => [x.source, x.rule, x.delta, x.scoreAfter, x.idempotencyKey])).toEqual([
      ['rule', 'page-view', 5, 5, `rule:${e.eventId}:page-view`],
      ['rule', 'pricing', 10, 15, `rule:${e.eventId}:pricing`],
    ]);
    expect(rows[0]!.createdAt.toISOString()).toBe('2025-03-10T09:00:00.000Z');
    expect(await scoreOf(id)).toEqual({ score: 15, stage: 'lead' });
    const none = await applyScoringToEvent(db, model, event(id, 'form.submitted', '2025-03-10T09:01:00Z'));
    expect(none).toMatchObject({ duplicate: false, changes: [], score: 15 });
  });

  it('caps within a day (+5 ×4 then nothing) and starts afresh at the day boundary', async () => {
    const id = await newContact();
    const deltas: number[] = [];
    for (const t of ['00:00:00', '08:00:00', '12:00:00', '18:00:00', '23:59:59']) {
      const r = await applyScoringToEvent(db, model, event(id, 'page.viewed', `2025-03-10T${t}Z`));
      deltas.push(r.changes.reduce((s, c) => s + c.delta, 0));
    }
    expect(deltas).toEqual([5, 5, 5, 5, 0]);
    const next = await applyScoringToEvent(db, model, event(id, 'page.viewed', '2025-03-11T00:00:00Z'));
    expect(next.changes).toEqual([expect.objectContaining({ ruleId: 'page-view', delta: 5 })]);
    expect((await scoreOf(id)).score).toBe(25);
    // A late event for the full day still counts against that day's cap.
    const late = await applyScoringToEvent(db, model, event(id, 'page.viewed', '2025-03-10T20:00:00Z'));
    expect(late.changes).toEqual([]);
    expect((await rowsOf(id)).length).toBe(5);
  });

  it('awards the remainder of a partly used cap (+5, +5, then +2 of 12 per week) and resets the next week', async () => {
    const id = await newContact();
    const wp = { content_type: 'whitepaper' };
    const got: number[] = [];
    // 2025-03-10 is a Monday; the 7d cap is the Monday–Sunday week.
    for (const day of ['10', '12', '16']) {
      const r = await applyScoringToEvent(db, model, event(id, 'content.downloaded', `2025-03-${day}T10:00:00Z`, wp));
      got.push(r.changes.find((c) => c.ruleId === 'download')?.delta ?? 0);
    }
    const nextWeek = await applyScoringToEvent(db, model, event(id, 'content.downloaded', '2025-03-17T10:00:00Z', wp));
    got.push(nextWeek.changes.find((c) => c.ruleId === 'download')?.delta ?? 0);
    expect(got).toEqual([5, 5, 2, 5]);
    // whitepaper (+15, uncapped) on all four
    expect((await scoreOf(id)).score).toBe(17 + 60);
  });

  it('scores a re-delivered event once, sequentially and concurrently', async () => {
    const id = await newContact();
    const e = event(id, 'demo.requested', '2025-03-10T10:00:00Z');
    const first = await applyScoringToEvent(db, model, e);
    const again = await applyScoringToEvent(db, model, e);
    expect(first).toMatchObject({ duplicate: false, score: 30 });
    expect(again).toMatchObject({ duplicate: true, changes: [], score: 30 });
    const e2 = event(id, 'demo.requested', '2025-03-10T11:00:00Z');
    const results = await Promise.all(Array.from({ length: 6 }, () => applyScoringToEvent(db, model, e2)));
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect((await scoreOf(id)).score).toBe(60);
    expect(await rowsOf(id)).toHaveLength(2);
  });

  it('applies 20 concurrent events for one contact to the exact total, caps included', async () => {
    const id = await newContact();
    const demos = Array.from({ length: 20 }, (_, i) => event(id, 'content.downloaded', `2025-04-01T10:${String(i).padStart(2, '0')}:00Z`, { content_type: 'ebook' }));
    await Promise.all(demos.map((e) => applyScoringToEvent(db, model, e)));
    expect((await scoreOf(id)).score).toBe(20 * 15);
    const views = Array.from({ length: 20 }, (_, i) => event(id, 'page.viewed', `2025-04-02T10:${String(i).padStart(2, '0')}:00Z`));
    const results = await Promise.all(views.map((e) => applyScoringToEvent(db, model, e)));
    expect(results.filter((r) => r.changes.length > 0)).toHaveLength(4);
    expect((await scoreOf(id)).score).toBe(300 + 20);
    // The running score_after is a consistent sequence: no two writers read the same score.
    const rows = await rowsOf(id);
    let running = 0;
    for (const row of rows) {
      running += row.delta;
      expect(row.scoreAfter).toBe(running);
    }
  });

  it('applies event penalties, a lifetime-capped unsubscribe only once', async () => {
    const id = await newContact({ score: 0 });
    await applyScoringToEvent(db, model, event(id, 'demo.requested', '2025-03-10T10:00:00Z'));
    const u1 = await applyScoringToEvent(db, model, event(id, 'email.unsubscribed', '2025-03-11T10:00:00Z'));
    const u2 = await applyScoringToEvent(db, model, event(id, 'email.unsubscribed', '2025-06-11T10:00:00Z'));
    const p = await applyScoringToEvent(db, model, event(id, 'phone.invalid', '2025-06-12T10:00:00Z'));
    expect(u1.changes.map((c) => c.delta)).toEqual([-10]);
    expect(u2.changes).toEqual([]);
    expect(p.changes).toEqual([expect.objectContaining({ ruleId: 'invalid-phone', delta: -10 })]);
    expect((await scoreOf(id)).score).toBe(10);
  });

  it('follows a merge pointer and rejects an unknown contact', async () => {
    const target = await newContact();
    const merged = await newContact({ mergedInto: target });
    const r = await applyScoringToEvent(db, model, event(merged, 'demo.requested', '2025-03-10T10:00:00Z'));
    expect(r.contactId).toBe(target);
    expect((await scoreOf(target)).score).toBe(30);
    expect((await scoreOf(merged)).score).toBe(0);
    await expect(applyScoringToEvent(db, model, event(randomUUID(), 'demo.requested', '2025-03-10T10:00:00Z'))).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('thresholds', () => {
  it('emits once per upward crossing with deterministic ids and moves the lifecycle forward once', async () => {
    const id = await newContact();
    const emittedIds: string[] = [];
    let crossing: ScoringEventInput | undefined;
    for (let i = 0; i < 5; i++) {
      const e = event(id, 'demo.requested', `2025-03-1${i}T10:00:00Z`);
      const r = await applyScoringToEvent(db, model, e);
      if (r.emitted.length) crossing = e;
      emittedIds.push(...r.emitted.map((x) => `${x.type} ${x.id}`));
    }
    // 30, 60, 90, 120 (crosses 100), 150
    expect(emittedIds).toEqual([`lead.mql mql:${id}:1`]);
    expect(await scoreOf(id)).toEqual({ score: 150, stage: 'mql' });
    const audit = await db.select().from(contactAudit).where(eq(contactAudit.contactId, id));
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: 'set_lifecycle_stage', actor: 'scoring', detail: { stage: 'mql', previous: 'lead', threshold: 'mql' } });

    // Re-delivery of the crossing event changes nothing but hands back the same emitted event (caller crash safety).
    const replay = await applyScoringToEvent(db, model, crossing!);
    expect(replay.duplicate).toBe(true);
    expect(replay.emitted).toEqual([
      { id: `mql:${id}:1`, type: 'lead.mql', contactId: id, occurredAt: crossing!.occurredAt, properties: { threshold: 'mql', at: 100, score: 120, trigger: crossing!.eventId } },
    ]);

    // Drop below and cross again: a second, distinct emission; the stage is already mql, so no new audit row.
    await applyScoringToEvent(db, model, event(id, 'email.complained', '2025-03-20T10:00:00Z'));
    expect((await scoreOf(id)).score).toBe(100);
    await applyScoringToEvent(db, model, event(id, 'email.complained', '2025-03-20T11:00:00Z'));
    const back = await applyScoringToEvent(db, model, event(id, 'demo.requested', '2025-03-21T10:00:00Z'));
    expect(back.score).toBe(80);
    expect(back.emitted).toEqual([]);
    const again = await applyScoringToEvent(db, model, event(id, 'demo.requested', '2025-03-22T10:00:00Z'));
    expect(again.score).toBe(110);
    expect(again.emitted.map((x) => x.id)).toEqual([`mql:${id}:2`]);
    expect(await db.select().from(contactAudit).where(eq(contactAudit.contactId, id))).toHaveLength(1);
  });

  it('never demotes: an sql or customer contact crossing the mql threshold keeps its stage but the event is emitted', async () => {
    for (const stage of ['sql', 'customer']) {
      const id = await newContact({ lifecycleStage: stage, score: 90 });
      const r = await applyScoringToEvent(db, model, event(id, 'demo.requested', '2025-03-10T10:00:00Z'));
      expect(r.lifecycleStage).toBe(stage);
      expect(r.emitted.map((x) => x.type)).toEqual(['lead.mql']);
      expect(await scoreOf(id)).toEqual({ score: 120, stage });
      expect(await db.select().from(contactAudit).where(eq(contactAudit.contactId, id))).toHaveLength(0);
    }
  });

  it('moves to the furthest stage when one change crosses two thresholds', async () => {
    const id = await newContact({ score: 290 });
    const r = await applyScoringToEvent(db, model, event(id, 'demo.requested', '2025-03-10T10:00:00Z'));
    expect(r.lifecycleStage).toBe('sql');
    // 290 → 320 does not cross 100 (already above): only the sql threshold, which emits nothing.
    expect(r.emitted).toEqual([]);
  });
});

describe('applyFit', () => {
  it('applies fit, re-evaluates to no change, and records only the difference when the contact changes', async () => {
    const id = await newContact({ jobTitle: '财务总监', industry: '制造业', region: 'CN', attributes: { company_size: 450 } });
    const first = await applyFit(db, model, id, { now: new Date('2025-03-10T10:00:00Z') });
    expect(Object.fromEntries(first.changes.map((c) => [c.ruleId, c.delta]))).toEqual({ senior: 20, size: 10, industry: 10, region: 5 });
    expect(first.score).toBe(45);
    const again = await applyFit(db, model, id);
    expect(again.changes).toEqual([]);
    expect(again.score).toBe(45);

    await db.update(contacts).set({ jobTitle: 'Software Engineer', attributes: { company_size: '1500' } }).where(eq(contacts.id, id));
    const changed = await applyFit(db, model, id);
    expect(changed.changes.map((c) => [c.ruleId, c.delta])).toEqual([['senior', -20], ['size', 10]]);
    expect((await scoreOf(id)).score).toBe(35);
    const fitRows = await db.select().from(scoreEvents).where(and(eq(scoreEvents.contactId, id), eq(scoreEvents.source, 'fit')));
    expect(fitRows).toHaveLength(6);
    expect(fitRows.map((r) => r.idempotencyKey)).toContain(`fit:${id}:size:2`);
  });

  it('gives fit points back when a rule leaves the model', async () => {
    const id = await newContact({ region: 'SG' });
    await applyFit(db, model, id);
    expect((await scoreOf(id)).score).toBe(5);
    const { region: _dropped, ...fit } = model.fit;
    const smaller = { ...model, fit };
    const r = await applyFit(db, smaller, id);
    expect(r.changes).toEqual([expect.objectContaining({ ruleId: 'region', delta: -5 })]);
    expect((await scoreOf(id)).score).toBe(0);
  });

  it('penalises a competitor domain (-50) and a flagged phone (-10), and lifts the penalty when they change', async () => {
    const id = await newContact({ email: 'zhang@Rival.com', attributes: { phone_valid: false } });
    const r = await applyFit(db, model, id);
    expect(Object.fromEntries(r.changes.map((c) => [c.ruleId, c.delta]))).toEqual({ competitor: -50, 'invalid-phone-flag': -10 });
    expect((await scoreOf(id)).score).toBe(-60);
    await db.update(contacts).set({ email: 'zhang@customer.cn', attributes: { phone_valid: true } }).where(eq(contacts.id, id));
    await applyFit(db, model, id);
    expect((await scoreOf(id)).score).toBe(0);
    const zh = await newContact({ email: 'li@竞争对手.cn' });
    expect((await applyFit(db, model, zh)).score).toBe(-50);
  });

  it('can cross a threshold and emit from a fit change', async () => {
    const id = await newContact({ score: 90, jobTitle: 'CEO' });
    const r = await applyFit(db, model, id, { now: new Date('2025-05-01T00:00:00Z') });
    expect(r.score).toBe(110);
    expect(r.emitted).toEqual([expect.objectContaining({ type: 'lead.mql', id: `mql:${id}:1`, occurredAt: new Date('2025-05-01T00:00:00Z') })]);
    expect(r.lifecycleStage).toBe('mql');
  });
});

describe('explainScore', () => {
  it('breaks the score down by rule and sums exactly to it, showing unrecorded changes', async () => {
    const id = await newContact({ jobTitle: 'VP Finance', attributes: { company_size: 2000 } });
    await applyFit(db, model, id);
    for (const t of ['09', '10', '11', '12', '13']) await applyScoringToEvent(db, model, event(id, 'page.viewed', `2025-03-10T${t}:00:00Z`));
    await applyScoringToEvent(db, model, event(id, 'page.viewed', '2025-03-10T14:00:00Z', { path: '/pricing' }));
    await applyScoringToEvent(db, model, event(id, 'email.unsubscribed', '2025-03-10T15:00:00Z'));
    // A journey's update_score step writes its own row; an import may set the score without one.
    await db.insert(scoreEvents).values({ idempotencyKey: `journey:${id}`, contactId: id, delta: 7, scoreAfter: 0, reason: 'welcome opened', source: 'journey', rule: 'welcome' });
    await db.update(contacts).set({ score: (await scoreOf(id)).score + 7 + 3 }).where(eq(contacts.id, id));

    const x = await explainScore(db, model, id);
    // fit 40, page-view 20 (cap), pricing 10, unsubscribed -10, journey 7, unrecorded 3
    expect(x.score).toBe(70);
    expect(x.breakdown.reduce((s, l) => s + l.points, 0)).toBe(x.score);
    expect(x.breakdown.find((l) => l.rule === 'page-view')).toMatchObject({ source: 'rule', points: 20, count: 4, lastAt: new Date('2025-03-10T12:00:00Z') });
    expect(x.breakdown.find((l) => l.rule === 'unrecorded')).toMatchObject({ points: 3, count: 0 });
    expect(x.breakdown[0]).toMatchObject({ points: 20 });
    expect({ fit: x.fit, behaviour: x.behaviour, decay: x.decay, other: x.other }).toEqual({ fit: 40, behaviour: 20, decay: 0, other: 10 });
    expect(x.thresholds).toEqual({ next: { id: 'mql', at: 100, pointsToGo: 30, lifecycleStage: 'mql', emit: 'lead.mql' }, reached: [] });
  });

  it('sums to the score after a busy concurrent history, and lists reached thresholds', async () => {
    const id = await newContact({ region: 'CN' });
    await Promise.all([
      applyFit(db, model, id),
      ...Array.from({ length: 12 }, (_, i) => applyScoringToEvent(db, model, event(id, i % 2 ? 'demo.requested' : 'page.viewed', `2025-03-1${i % 3}T10:0${i % 10}:00Z`, { path: '/pricing' }))),
    ]);
    const x = await explainScore(db, model, id);
    expect(x.breakdown.reduce((s, l) => s + l.points, 0)).toBe((await scoreOf(id)).score);
    expect(x.breakdown.some((l) => l.rule === 'unrecorded')).toBe(false);
    expect(x.thresholds.reached.map((t) => t.id)).toEqual(['mql']);
    expect(x.thresholds.next).toMatchObject({ id: 'sql', pointsToGo: 300 - x.score });
  });
});
