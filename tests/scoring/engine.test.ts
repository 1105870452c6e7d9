import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cappedPoints,
  decayAmount,
  fitPoints,
  lifecycleAfter,
  matches,
  scoreDecay,
  scoreEvent,
  scoreFit,
  thresholdCrossings,
  type ScoringContact,
} from '../../src/scoring/engine';
import { loadScoringModel, parseScoringModel } from '../../src/scoring/model';
import { capWindow, localDate } from '../../src/scoring/time';

const model = parseScoringModel(
  `version: 1
behaviour:
  page-view: { event: page.viewed, points: 5, cap: { max_points: 20, per: 1d } }
  pricing: { event: page.viewed, where: { path: { contains: /pricing } }, points: 10 }
  demo-request: { event: demo.requested, points: 30 }
negative:
  unsubscribed: { event: email.unsubscribed, points: -10, cap: { max_points: 10, per: lifetime } }
  competitor: { field: email_domain, in: [rival.com], points: -50 }
fit:
  senior: { field: job_title, contains_any: [CFO, VP, 总监], points: 20 }
  size:
    field: attributes.company_size
    bands: [{ gte: 1000, points: 20 }, { gte: 200, lt: 1000, points: 10 }]
decay: { after_idle: 30d, percent: 10 }
thresholds:
  mql: { at: 100, lifecycle_stage: mql, emit: lead.mql }
  sql: { at: 200, lifecycle_stage: sql }
`,
  'test.yaml',
);

const contact = (over: Partial<ScoringContact> = {}): ScoringContact => ({ id: 'c1', score: 0, lifecycleStage: 'lead', attributes: {}, ...over });
const at = new Date('2025-03-10T10:00:00Z');
const ev = (type: string, properties: Record<string, unknown> = {}) => ({ id: 'e1', type, properties, occurredAt: at });

describe('scoring engine (pure)', () => {
  it('awards every matching rule with exact points and a reason', () => {
    const r = scoreEvent(model, contact({ score: 7 }), ev('page.viewed', { path: '/en/pricing' }));
    expect(r.changes.map((c) => [c.ruleId, c.delta])).toEqual([
      ['page-view', 5],
      ['pricing', 10],
    ]);
    expect(r.score).toBe(22);
    expect(r.changes[0]!.reason).toContain('page.viewed +5');
    expect(scoreEvent(model, contact(), ev('page.viewed', { path: '/blog' })).changes).toHaveLength(1);
    expect(scoreEvent(model, contact(), ev('form.submitted')).changes).toEqual([]);
  });

  it('caps: +5 with 18 of 20 used awards +2, and nothing at the cap', () => {
    const r = scoreEvent(model, contact({ score: 18 }), ev('page.viewed'), { 'page-view': 18 });
    expect(r.changes).toEqual([expect.objectContaining({ ruleId: 'page-view', delta: 2 })]);
    expect(r.changes[0]!.reason).toMatch(/capped from \+5: 20 per 1d, 18 already awarded/);
    expect(scoreEvent(model, contact(), ev('page.viewed'), { 'page-view': 20 }).changes).toEqual([]);
  });

  it('caps bound penalties by absolute value: a lifetime cap of 10 lets -10 apply once', () => {
    expect(cappedPoints(-10, { max_points: 10, per: 'lifetime' }, 0)).toBe(-10);
    expect(cappedPoints(-10, { max_points: 10, per: 'lifetime' }, -10)).toBe(0);
    expect(cappedPoints(-10, { max_points: 15, per: 'lifetime' }, -10)).toBe(-5);
  });

  it('property: within one period a capped rule never exceeds its cap and awards min(n × points, cap)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 100 }), (n, points, max) => {
        let used = 0;
        for (let i = 0; i < n; i++) used += cappedPoints(points, { max_points: max, per: '1d' }, used);
        return used === Math.min(n * points, max);
      }),
    );
  });

  it('matches Latin titles as whole words and Chinese titles anywhere, ignoring case', () => {
    const senior = { contains_any: ['CFO', 'VP', '总监'] };
    expect(matches('Group CFO', senior)).toBe(true);
    expect(matches('vp, Sales', senior)).toBe(true);
    expect(matches('MVP Developer', senior)).toBe(false);
    expect(matches('财务总监', senior)).toBe(true);
    expect(matches('工程师', senior)).toBe(false);
    expect(matches(undefined, senior)).toBe(false);
    expect(matches(['a', 'B'], { contains: 'b' })).toBe(true);
    expect(matches('1200', { gte: 1000 })).toBe(true);
    expect(matches(undefined, { exists: false })).toBe(true);
    expect(matches('', { exists: true })).toBe(false);
    expect(matches('Retail', { in: ['retail', 'Logistics'] })).toBe(true);
  });

  it('computes fit per rule, using the first matching band', () => {
    const c = contact({ jobTitle: 'VP Finance', email: 'a@Rival.com', attributes: { company_size: 450 } });
    expect(fitPoints(model, c)).toEqual({ senior: 20, size: 10, competitor: -50 });
    expect(fitPoints(model, contact({ attributes: { company_size: 5000 } })).size).toBe(20);
  });

  it('applies fit as the difference from the last fit total, and gives back points of removed rules', () => {
    const c = contact({ score: 30, jobTitle: '财务总监', attributes: { company_size: 1500 } });
    expect(scoreFit(model, c, { senior: 20, size: 10 }).changes).toEqual([expect.objectContaining({ ruleId: 'size', delta: 10 })]);
    expect(scoreFit(model, c, { senior: 20, size: 20 }).changes).toEqual([]);
    const r = scoreFit(model, c, { senior: 20, size: 20, 'old-rule': 7 });
    expect(r.changes).toEqual([expect.objectContaining({ ruleId: 'old-rule', delta: -7 })]);
    expect(r.score).toBe(23);
  });

  it('decays 10% rounded up, only when idle and only a positive behavioural score', () => {
    expect([decayAmount(47, 10), decayAmount(40, 10), decayAmount(4, 10), decayAmount(1, 10), decayAmount(3, 100)]).toEqual([5, 4, 1, 1, 3]);
    const idleSince = new Date('2025-01-01T00:00:00Z');
    const r = scoreDecay(model, contact({ score: 60 }), { behaviour: 47, lastActivityAt: idleSince, now: new Date('2025-01-31T00:00:00Z') });
    expect(r.changes).toEqual([expect.objectContaining({ ruleId: 'decay', kind: 'decay', delta: -5 })]);
    expect(r.score).toBe(55);
    expect(scoreDecay(model, contact(), { behaviour: 47, lastActivityAt: idleSince, now: new Date('2025-01-30T23:59:59Z') }).changes).toEqual([]);
    expect(scoreDecay(model, contact(), { behaviour: -10, lastActivityAt: idleSince, now: new Date('2025-03-01T00:00:00Z') }).changes).toEqual([]);
  });

  it('crosses thresholds only upward and moves the lifecycle forward only', () => {
    expect(thresholdCrossings(model, 95, 105).map((c) => c.thresholdId)).toEqual(['mql']);
    expect(thresholdCrossings(model, 90, 250).map((c) => c.thresholdId)).toEqual(['mql', 'sql']);
    expect(thresholdCrossings(model, 100, 120)).toEqual([]);
    expect(thresholdCrossings(model, 120, 90)).toEqual([]);
    const both = thresholdCrossings(model, 90, 250);
    expect(lifecycleAfter('lead', both)).toEqual({ to: 'sql', thresholdId: 'sql' });
    expect(lifecycleAfter('customer', both)).toBeUndefined();
    expect(lifecycleAfter('other', both)).toBeUndefined();
    const r = scoreEvent(model, contact({ score: 80, lifecycleStage: 'sql' }), ev('demo.requested'));
    expect(r.crossings.map((c) => c.emit)).toEqual(['lead.mql']);
    expect(r.lifecycle).toBeUndefined();
  });

  it('aligns cap periods to the model calendar: local days and Monday weeks', () => {
    const tz = 'Asia/Shanghai';
    // 15:59:59Z is 23:59:59 in Shanghai; one second later is the next local day.
    const d1 = capWindow('1d', new Date('2025-03-10T15:59:59Z'), tz);
    expect(d1).toEqual({ start: new Date('2025-03-09T16:00:00Z'), end: new Date('2025-03-10T16:00:00Z') });
    expect(capWindow('1d', new Date('2025-03-10T16:00:00Z'), tz).start).toEqual(new Date('2025-03-10T16:00:00Z'));
    // 2025-03-12 is a Wednesday: its week starts Monday 2025-03-10 local.
    expect(capWindow('7d', new Date('2025-03-12T04:00:00Z'), tz)).toEqual({
      start: new Date('2025-03-09T16:00:00Z'),
      end: new Date('2025-03-16T16:00:00Z'),
    });
    expect(capWindow('1d', new Date('2025-03-30T12:00:00Z'), 'Europe/Berlin')).toEqual({
      // The DST day is 23 hours long.
      start: new Date('2025-03-29T23:00:00Z'),
      end: new Date('2025-03-30T22:00:00Z'),
    });
    expect(localDate(new Date('2025-03-10T16:30:00Z'), tz)).toBe('2025-03-11');
  });

  it('scores the shipped sample as a marketer would read it', async () => {
    const sample = await loadScoringModel('journeys/scoring.yaml');
    const cfo = contact({ jobTitle: 'Chief Financial Officer (CFO)', industry: 'Manufacturing', region: 'CN', attributes: { company_size: 2500 } });
    // job-level 20 + finance-title 10 + company-size 20 + industry 10 + region 5
    expect(scoreFit(sample, cfo).score).toBe(65);
    const zh = contact({ jobTitle: '财务总监', industry: '制造业', region: 'CN', email: 'li@竞争对手.cn', attributes: { company_size: '300' } });
    expect(fitPoints(sample, zh)).toMatchObject({ 'job-level': 20, 'finance-title': 10, 'company-size': 15, 'competitor-domain': -50 });
    expect(fitPoints(sample, contact({ jobTitle: '总经理' }))['job-level']).toBe(20);
    expect(fitPoints(sample, contact({ jobTitle: '客户经理' }))['job-level']).toBe(10);
    expect(fitPoints(sample, contact({ jobTitle: 'Sales Manager' }))['job-level']).toBe(10);
    expect(fitPoints(sample, contact({ jobTitle: 'MVP Engineer' }))['job-level']).toBe(0);
    const webinar = scoreEvent(sample, contact(), { ...ev('webinar.attended'), properties: { minutes_attended: 45 } });
    expect(webinar.score).toBe(20);
    expect(scoreEvent(sample, contact(), { ...ev('webinar.attended'), properties: { minutes_attended: 5 } }).changes).toEqual([]);
    expect(scoreEvent(sample, contact(), { ...ev('email.clicked'), properties: { bot: true } }).changes).toEqual([]);
  });
});
