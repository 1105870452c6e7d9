import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq } from 'drizzle-orm';
import { formatStats } from '../../src/cli/journeys';
import { contacts, conversions, emailFeedback, events, journeyRuns, journeyRunSteps, messages, runArms, salesHandoffs, suppressions } from '../../src/db/schema';
import { journeyStats, type JourneyStats as JourneyStatsReport } from '../../src/db/stats';
import { publishJourney } from '../../src/publishing/journeys';
import { compareProportions } from '../../src/stats/ab';
import { createTestDatabase } from '../helpers/db';
import { drainAnalytics } from '../../src/analytics/drain';
import { journeyRevenue } from '../../src/analytics/campaigns';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

const journey = (emailCost: number) => `
id: funnel
name: Funnel
triggers: [{ type: event, event: lead.created }]
goals:
  - { id: demo, name: Demo booked, event: demo.booked, within: 30d }
settings:
  costs: { currency: CNY, email: ${emailCost}, sms: 2, notify: 0.1 }
start: welcome
steps:
  welcome: { type: send_email, template: welcome, next: wait-click }
  wait-click: { type: wait_for_event, event: email.clicked, timeout: 2d, on_event: sms, on_timeout: done }
  sms: { type: send_sms, body: "Hi", next: done }
  done: { type: exit, reason: finished }
`;

const T0 = Date.parse('2025-01-01T00:00:00Z');
const at = (ms: number) => new Date(T0 + ms);
const S = 1000;
const M = 60 * S;
const D = 24 * 60 * M;

describe('journey statistics on seeded rows', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const c: Record<string, string> = {};

  beforeAll(async () => {
    db = await createTestDatabase();
    // v1 prices email at 0.5, v2 at 1: each message is priced by its own version.
    expect((await publishJourney(db.db, journey(0.5), {})).version).toBe(1);
    expect((await publishJourney(db.db, journey(1), {})).version).toBe(2);
    for (const k of ['c1', 'c2', 'c3', 'c4', 'c5', 'c6']) {
      c[k] = randomUUID();
      await db.db.insert(contacts).values({ id: c[k]!, externalId: k });
    }

    // Runs: r1..r4 on v1, r5 on v2; plus a run of another journey that must never count.
    const run = (wf: string, contact: string, version: number, status: string, currentStep: string, journeyId = 'funnel') => ({
      workflowId: wf,
      runId: `${wf}-run`,
      journeyId,
      version,
      contactId: contact,
      currentStep,
      status,
      startedAt: at(0),
    });
    await db.db.insert(journeyRuns).values([
      run('r1', c.c1!, 1, 'completed', 'done'),
      run('r2', c.c2!, 1, 'running', 'wait-click'),
      run('r3', c.c3!, 1, 'completed', 'done'),
      run('r4', c.c4!, 1, 'failed', 'welcome'),
      run('r5', c.c5!, 2, 'running', 'wait-click'),
      run('o1', c.c1!, 1, 'running', 'welcome', 'other'),
    ]);
    const steps: [string, string, number, string[], number][] = [
      ['r1', c.c1!, 1, ['welcome', 'wait-click', 'sms', 'done'], 0],
      // r2 entered wait-click twice (a loop): still one run that entered it.
      ['r2', c.c2!, 1, ['welcome', 'wait-click', 'wait-click'], 0],
      ['r3', c.c3!, 1, ['welcome', 'wait-click', 'done'], 0],
      ['r4', c.c4!, 1, ['welcome'], 0],
      ['r5', c.c5!, 2, ['welcome', 'wait-click'], 5 * D],
    ];
    for (const [wf, contact, version, ids, start] of steps) {
      await db.db.insert(journeyRunSteps).values(
        ids.map((stepId, i) => ({ workflowId: wf, runId: `${wf}-run`, seq: i + 1, journeyId: 'funnel', version, contactId: contact, stepId, enteredAt: at(start + i * M) })),
      );
    }
    await db.db.insert(journeyRunSteps).values({ workflowId: 'o1', runId: 'o1-run', seq: 1, journeyId: 'other', version: 1, contactId: c.c1!, stepId: 'welcome', enteredAt: at(0) });

    const msg = (key: string, channel: string, contact: string, wf: string, stepId: string, status: string, createdAt: Date, journeyId = 'funnel') => ({
      idempotencyKey: key,
      channel,
      contactId: contact,
      journeyId,
      workflowId: wf,
      stepId,
      recipient: 'x',
      status,
      createdAt,
    });
    await db.db.insert(messages).values([
      msg('r1:welcome', 'email', c.c1!, 'r1', 'welcome', 'sent', at(S)),
      msg('r2:welcome', 'email', c.c2!, 'r2', 'welcome', 'delivered', at(S)),
      msg('r3:welcome', 'email', c.c3!, 'r3', 'welcome', 'sent', at(S)),
      msg('r4:welcome', 'email', c.c4!, 'r4', 'welcome', 'bounced', at(S)),
      msg('r2:welcome:2', 'email', c.c2!, 'r2', 'welcome', 'suppressed', at(2 * S)),
      msg('r1:sms', 'sms', c.c1!, 'r1', 'sms', 'sent', at(2 * M + S)),
      msg('r5:welcome', 'email', c.c5!, 'r5', 'welcome', 'sent', at(5 * D + S)),
      // Journaled nowhere (sent before the step journal existed): counted in "all versions" at the latest price.
      msg('legacy:welcome', 'email', c.c6!, 'legacy', 'welcome', 'sent', at(S)),
      msg('o1:welcome', 'email', c.c1!, 'o1', 'welcome', 'sent', at(S), 'other'),
    ]);

    // Reported later: a complaint about r1's email and a soft bounce of r3's (its status stays sent).
    const ids = new Map((await db.db.select({ id: messages.id, key: messages.idempotencyKey }).from(messages)).map((m) => [m.key, m.id]));
    await db.db.insert(emailFeedback).values([
      { source: 'arf', eventId: 'fbl-1', kind: 'complaint', code: 'abuse', messageId: ids.get('r1:welcome')!, contactId: c.c1!, journeyId: 'funnel', stepId: 'welcome', outcome: 'suppressed', occurredAt: at(S + M) },
      { source: 'dsn', eventId: 'dsn-1', kind: 'bounce', bounceClass: 'soft', code: '4.2.2', messageId: ids.get('r3:welcome')!, contactId: c.c3!, journeyId: 'funnel', stepId: 'welcome', outcome: 'counted', occurredAt: at(S + M) },
      { source: 'dsn', eventId: 'dsn-2', kind: 'bounce', bounceClass: 'soft', code: '4.2.2', messageId: ids.get('r3:welcome')!, contactId: c.c3!, journeyId: 'funnel', stepId: 'welcome', outcome: 'counted', occurredAt: at(S + 2 * M) },
    ]);
    const ev = (id: string, type: string, contact: string, occurredAt: Date, properties: Record<string, unknown> = {}) => ({ id, type, contactId: contact, occurredAt, properties });
    await db.db.insert(events).values([
      ev('open-1', 'email.opened', c.c1!, at(M), { message_key: 'r1:welcome' }),
      ev('open-1b', 'email.opened', c.c1!, at(2 * M), { message_key: 'r1:welcome' }),
      ev('open-2', 'email.opened', c.c2!, at(M), { message_key: 'r2:welcome' }),
      ev('click-1', 'email.clicked', c.c1!, at(M), { message_key: 'r1:welcome' }),
      ev('unsub-3', 'email.unsubscribed', c.c3!, at(M), { message_key: 'r3:welcome' }),
      ev('open-other', 'email.opened', c.c1!, at(M), { message_key: 'o1:welcome' }),
      ev('mql-1', 'lead.mql', c.c1!, at(2 * D)),
      ev('mql-2', 'lead.mql', c.c2!, at(3 * D)),
      ev('mql-4-before', 'lead.mql', c.c4!, at(-D)),
    ]);
    // Deals are kept by the analytics drain from the stored events (the API refuses the junk amount; this one is left out).
    const won = [
      ev('won-1', 'deal.won', c.c1!, at(10 * D), { deal_id: 'won-1', amount: 1000, currency: 'CNY' }),
      ev('won-2', 'deal.won', c.c2!, at(5 * D), { deal_id: 'won-2', amount: '250.50', currency: 'CNY' }),
      ev('won-3-late', 'deal.won', c.c3!, at(40 * D), { deal_id: 'won-3', amount: 5000, currency: 'CNY' }),
      ev('won-4-before', 'deal.won', c.c4!, at(-2 * D), { deal_id: 'won-4', amount: 700, currency: 'CNY' }),
      ev('won-1-junk', 'deal.won', c.c1!, at(11 * D), { deal_id: 'won-1-junk', amount: 'a lot' }),
      ev('won-6-never-entered', 'deal.won', c.c6!, at(10 * D), { deal_id: 'won-6', amount: 9999, currency: 'CNY' }),
      ev('won-5', 'deal.won', c.c5!, at(20 * D), { deal_id: 'won-5', amount: 20, currency: 'CNY' }),
    ];
    await db.db.insert(events).values(won);
    await drainAnalytics(db.db, { currency: 'USD' });

    const conv = (key: string, contact: string, version: number, goal: string, value: string | null) => ({ idempotencyKey: key, journeyId: 'funnel', version, contactId: contact, goal, value });
    await db.db.insert(conversions).values([
      conv('k1', c.c1!, 1, 'demo', '100'),
      conv('k2', c.c1!, 1, 'demo', '50'),
      conv('k3', c.c2!, 1, 'demo', null),
      conv('k4', c.c5!, 2, 'demo', '10'),
      conv('k5', c.c3!, 1, 'legacy', null),
      { idempotencyKey: 'k6', journeyId: 'other', version: 1, contactId: c.c1!, goal: 'demo', value: '1000' },
    ]);
    await db.db.insert(salesHandoffs).values([
      { idempotencyKey: 'h1', contactId: c.c1!, journeyId: 'funnel', workflowId: 'r1' },
      { idempotencyKey: 'h2', contactId: randomUUID(), journeyId: 'funnel' },
      { idempotencyKey: 'h3', contactId: c.c2!, journeyId: 'other' },
    ]);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('counts version 1 exactly', async () => {
    const s = await journeyStats(db.db, { journeyId: 'funnel', version: 1 });
    expect(s).toBeDefined();
    expect(s!.version).toBe(1);
    expect(s!.entered).toEqual({ runs: 4, contacts: 4 });
    expect(s!.runs).toEqual({ total: 4, byStatus: { completed: 2, failed: 1, running: 1 } });
    expect(s!.steps).toEqual([
      { stepId: 'welcome', type: 'send_email', entered: 4, passed: 3, waiting: 0, exitedHere: 1 },
      { stepId: 'wait-click', type: 'wait_for_event', entered: 3, passed: 2, waiting: 1, exitedHere: 0 },
      { stepId: 'sms', type: 'send_sms', entered: 1, passed: 1, waiting: 0, exitedHere: 0 },
      { stepId: 'done', type: 'exit', entered: 2, passed: 0, waiting: 0, exitedHere: 2 },
    ]);
    expect(s!.messages).toEqual({
      total: 6,
      byChannel: {
        email: { sent: 2, delivered: 1, bounced: 1, failed: 0, suppressed: 1 },
        sms: { sent: 1, delivered: 0, bounced: 0, failed: 0, suppressed: 0 },
      },
      opened: 2,
      clicked: 1,
      unsubscribed: 1,
      // Of 4 emails handed over (sent, delivered, bounced): r4 bounced at send, r3 soft-bounced twice (one message).
      bounced: 2,
      complained: 1,
      bounceRate: 0.5,
      complaintRate: 0.25,
    });
    expect(s!.deliverability).toEqual([{ stepId: 'welcome', sent: 4, bounced: 2, hard: 0, soft: 1, policy: 0, complained: 1, bounceRate: 0.5, complaintRate: 0.25 }]);
    expect(s!.goals).toEqual([
      { goal: 'demo', name: 'Demo booked', conversions: 3, contacts: 2, value: 150 },
      { goal: 'legacy', name: 'legacy', conversions: 1, contacts: 1, value: 0 },
    ]);
    expect(s!.mqls).toEqual({ contacts: 2, handoffs: 1 });
    // cost: 3 accepted emails × 0.5 + 1 SMS × 2 = 3.5; revenue (linear): c1 entered this journey and "other" at the
    // same time, so half of its 1000; all of c2's 250.50 (the late, earlier and junk deals do not count).
    expect(s!.roi).toEqual({
      currency: 'CNY',
      cost: 3.5,
      costByChannel: { email: 1.5, sms: 2 },
      campaignCost: 0,
      revenue: 750.5,
      deals: 2,
      unconvertedRevenue: {},
      attribution: { model: 'linear', halfLifeDays: 7, lookbackDays: 365 },
      windowMs: 30 * D,
      roi: 213.428571,
    });
    expect(s!.roi.roi).toBeCloseTo((750.5 - 3.5) / 3.5, 5);
    // The older rule (100% of every later deal to every journey entered) is gone; first touch breaks the tie by key.
    const first = await journeyStats(db.db, { journeyId: 'funnel', version: 1 }, { attribution: { model: 'first_touch', halfLifeDays: 7, lookbackDays: 365 } });
    expect(first!.roi).toMatchObject({ revenue: 1250.5, deals: 2 });
    expect(await journeyRevenue(db.db, 'other', { model: 'first_touch', halfLifeDays: 7, lookbackDays: 365 })).toEqual({ byCurrency: {}, deals: 0, credit: 0, unpriced: 0 });
    expect(await journeyRevenue(db.db, 'other', { model: 'linear', halfLifeDays: 7, lookbackDays: 365 })).toEqual({ byCurrency: { CNY: 500 }, deals: 1, credit: 0.5, unpriced: 0 });
  });

  it('prices each version with its own costs', async () => {
    const v2 = await journeyStats(db.db, { journeyId: 'funnel', version: 2 });
    expect(v2!.entered).toEqual({ runs: 1, contacts: 1 });
    expect(v2!.messages.byChannel).toEqual({ email: { sent: 1, delivered: 0, bounced: 0, failed: 0, suppressed: 0 } });
    expect(v2!.roi).toMatchObject({ cost: 1, revenue: 20, deals: 1, roi: 19 });
    expect(v2!.goals).toEqual([{ goal: 'demo', name: 'Demo booked', conversions: 1, contacts: 1, value: 10 }]);

    const all = await journeyStats(db.db, { journeyId: 'funnel' });
    expect(all!.version).toBeNull();
    expect(all!.entered).toEqual({ runs: 5, contacts: 5 });
    expect(all!.runs.byStatus).toEqual({ completed: 2, failed: 1, running: 2 });
    expect(all!.steps.map((x) => [x.stepId, x.entered, x.passed, x.waiting, x.exitedHere])).toEqual([
      ['welcome', 5, 4, 0, 1],
      ['wait-click', 4, 2, 2, 0],
      ['sms', 1, 1, 0, 0],
      ['done', 2, 0, 0, 2],
    ]);
    expect(all!.messages.byChannel.email).toEqual({ sent: 4, delivered: 1, bounced: 1, failed: 0, suppressed: 1 });
    // 3 × 0.5 (v1) + 1 × 1 (v2) + 1 × 1 (unjournaled, latest price) + 1 × 2 (SMS) = 5.5; (770.5 − 5.5) / 5.5
    expect(all!.roi).toMatchObject({ cost: 5.5, costByChannel: { email: 3.5, sms: 2 }, revenue: 770.5, deals: 3, roi: 139.090909 });
    expect(all!.goals[0]).toEqual({ goal: 'demo', name: 'Demo booked', conversions: 4, contacts: 3, value: 160 });
  });

  it('answers undefined for an unknown journey or version', async () => {
    expect(await journeyStats(db.db, { journeyId: 'nope' })).toBeUndefined();
    expect(await journeyStats(db.db, { journeyId: 'funnel', version: 9 })).toBeUndefined();
  });

  it('prints the report as tables in the CLI', async () => {
    const out = formatStats((await journeyStats(db.db, { journeyId: 'funnel', version: 1 }))!);
    expect(out).toMatch(/^funnel v1: 4 runs entered by 4 contacts/);
    expect(out).toMatch(/wait-click\s+wait_for_event\s+3\s+2\s+1\s+0/);
    expect(out).toMatch(/email\s+2\s+1\s+1\s+0\s+1/);
    expect(out).toContain('ROI: revenue 750.5 CNY (2 deals, within the goal window) − cost 3.5 CNY = 21342.9%');
    expect((await journeyStats(db.db, { journeyId: 'funnel' }))!.roi.roi).toBe(139.090909);
    expect(formatStats((await journeyStats(db.db, { journeyId: 'funnel' }))!)).toContain('(all versions)');
  });

  it('counts a fixed campaign cost once, from the version reported (the latest for the whole journey)', async () => {
    // Runs last: a third version changes what "latest" prices.
    expect((await publishJourney(db.db, journey(1).replace('notify: 0.1 }', 'notify: 0.1, campaign: 100 }'), {})).version).toBe(3);
    const v1 = await journeyStats(db.db, { journeyId: 'funnel', version: 1 });
    expect(v1!.roi).toMatchObject({ cost: 3.5, campaignCost: 0 });
    const all = await journeyStats(db.db, { journeyId: 'funnel' });
    // 5.5 for the messages as before + 100 for the campaign; (770.5 − 105.5) / 105.5
    expect(all!.roi).toMatchObject({ cost: 105.5, campaignCost: 100, revenue: 770.5, roi: 6.303318 });
    const out = formatStats((await journeyStats(db.db, { journeyId: 'funnel' }))!);
    expect(out).toContain('− cost 105.5 CNY (incl. campaign 100) =');
  });
});

describe('split arm statistics on seeded rows (the edge cases; tests/e2e/splits.test.ts has real runs)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const AB = (holdPercent: number) => `
id: ab
name: AB
triggers: [{ type: event, event: lead.created }]
goals: [{ id: demo, name: Demo booked, event: demo.booked }]
start: ab
steps:
  ab:
    type: split
    paths:
      - { name: a, percent: ${100 - holdPercent}, next: mail }
      - { name: hold, percent: ${holdPercent}, holdout: true, next: mail }
  mail: { type: send_email, template: welcome, next: w }
  w: { type: wait_for_event, event: demo.booked, timeout: 7d, on_event: done, on_timeout: done }
  done: { type: exit, reason: finished }
`;

  beforeAll(async () => {
    db = await createTestDatabase();
    expect((await publishJourney(db.db, AB(50), {})).version).toBe(1);
    expect((await publishJourney(db.db, AB(20), {})).version).toBe(2);
    const contact = randomUUID();
    const arm = (workflowId: string, runId: string, name: string, assignedAt: number, version = 1, splitId = 'ab') => ({
      workflowId, runId, journeyId: 'ab', version, contactId: contact, splitId, arm: name, holdout: name === 'hold', stepSeq: 1, assignedAt: at(assignedAt),
    });
    await db.db.insert(runArms).values([
      arm('w1', 'r1', 'a', M),
      arm('w2', 'r1', 'a', M),
      // One workflow id, two entries (re-entry): its one conversion belongs to the entry it followed.
      arm('w5', 'r1', 'a', 0),
      arm('w5', 'r2', 'a', 5 * M),
      arm('w3', 'r1', 'hold', M),
      arm('w4', 'r1', 'hold', M),
      // Version 2 had an arm the latest plan does not name, and a split step it no longer has.
      arm('w6', 'r1', 'gone', M, 2),
      arm('w6', 'r1', 'x', M, 2, 'old-split'),
      // Another journey's arm never counts.
      { ...arm('o1', 'r1', 'a', M), journeyId: 'other' },
    ]);
    const conv = (workflowId: string, createdAt: number, goal = 'demo', journeyId = 'ab') => ({
      idempotencyKey: `${workflowId}:goal:${goal}`, journeyId, version: 1, contactId: contact, goal, createdAt: at(createdAt),
    });
    await db.db.insert(conversions).values([
      conv('w1', 2 * M),
      // Converted before reaching the split: no arm's conversion.
      conv('w2', 0),
      conv('w5', 10 * M),
      conv('w3', 2 * M),
      // In no arm at all.
      conv('w9', 2 * M),
      conv('o1', 2 * M, 'demo', 'other'),
    ]);
    // Holdout runs skipped the mail step after their split (seq 1): messages held back. The wait is not a message.
    await db.db.insert(journeyRunSteps).values(
      ['w3', 'w4'].flatMap((wf) => ['ab', 'mail', 'w'].map((stepId, i) => ({ workflowId: wf, runId: 'r1', seq: i + 1, journeyId: 'ab', version: 1, contactId: contact, stepId, enteredAt: at(M) }))),
    );
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('counts runs and conversions per arm, after the assignment, once per entry', async () => {
    const s = await journeyStats(db.db, { journeyId: 'ab', version: 1 });
    expect(s!.splits).toHaveLength(1);
    const [split] = s!.splits;
    expect(split).toMatchObject({ splitId: 'ab', control: 'hold', test: 'two-proportion z-test (pooled standard error, two-sided)' });
    const [a, hold] = split!.arms;
    // Percentages are the version's own (v1: 50/50); across versions, the latest's (below).
    expect(a).toMatchObject({ arm: 'a', holdout: false, control: false, percent: 50, entered: 4, messagesHeldOut: 0 });
    expect(hold).toMatchObject({ arm: 'hold', holdout: true, control: true, percent: 50, entered: 2, messagesHeldOut: 2 });
    expect(a!.goals).toEqual([{ goal: 'demo', conversions: 2, rate: 0.5, interval: expect.any(Object), vsControl: compareProportions({ successes: 2, n: 4 }, { successes: 1, n: 2 }) }]);
    expect(a!.goals[0]!.vsControl).toMatchObject({ tooSmall: true, pValue: null, z: null });
    expect(a!.goals[0]!.vsControl!.reason).toMatch(/fewer than 5 expected conversions/);
    expect(hold!.goals).toEqual([{ goal: 'demo', conversions: 1, rate: 0.5, interval: expect.any(Object), vsControl: null }]);
  });

  it('across versions, shows arms and splits only an older version had, after the plan’s own', async () => {
    const s = await journeyStats(db.db, { journeyId: 'ab' });
    expect(s!.splits.map((x) => x.splitId)).toEqual(['ab', 'old-split']);
    expect(s!.splits[0]!.arms.map((x) => [x.arm, x.entered, x.percent])).toEqual([['a', 4, 80], ['hold', 2, 20], ['gone', 1, null]]);
    expect(s!.splits[1]).toMatchObject({ control: 'x', arms: [{ arm: 'x', entered: 1, control: true, percent: null }] });
    const v2 = await journeyStats(db.db, { journeyId: 'ab', version: 2 });
    expect(v2!.splits[0]!.arms.map((x) => [x.arm, x.entered])).toEqual([['a', 0], ['hold', 0], ['gone', 1]]);
    expect(v2!.splits[0]!.arms[0]!.goals[0]).toMatchObject({ conversions: 0, rate: null, interval: null, vsControl: { tooSmall: true, reason: 'the arm has no runs yet' } });
  });

  it('prints one table per split in the CLI, with why a comparison is too small to judge', async () => {
    const out = formatStats((await journeyStats(db.db, { journeyId: 'ab', version: 1 }))!);
    expect(out).toContain('split ab: each arm against hold (two-proportion z-test (pooled standard error, two-sided); rates with 95% Wilson intervals)');
    expect(out).toMatch(/a\s+4\s+—\s+demo\s+2\s+50%\s+15%–85%\s+\+0%\s+too small/);
    expect(out).toMatch(/hold \(holdout\) \*\s+2\s+2\s+demo\s+1\s+50%/);
    expect(out).toMatch(/too small to judge: fewer than 5 expected conversions in an arm/);
  });
});

/**
 * The same report on rows real runs wrote: a journey published and entered through POST /v1/events, run by the worker
 * on the Temporal dev server, sending through the SMTP sink and the SMS outbox; clicks, goals and deals arrive as
 * events. Every number is what those four runs did, read back through GET /v1/journeys/:id/stats.
 */
describe('journey statistics on rows real runs wrote (Temporal, Postgres, SMTP)', () => {
  let stack: TestStack;
  const JOURNEY = `
id: real-funnel
name: Real funnel
triggers: [{ type: event, event: lead.created }]
goals:
  - { id: demo, name: Demo booked, event: demo.booked, within: 30d }
settings:
  costs: { currency: CNY, email: 0.5, sms: 2 }
start: welcome
steps:
  welcome: { type: send_email, template: welcome, category: transactional, next: wait-click }
  wait-click: { type: wait_for_event, event: email.clicked, timeout: 4s, on_event: sms, on_timeout: done }
  sms: { type: send_sms, body: "Thanks for reading", category: transactional, next: done }
  done: { type: exit, reason: finished }
`;

  beforeAll(async () => {
    stack = await startTestStack();
    await publishJourney(stack.db.db, JOURNEY, {});
  });
  afterAll(async () => {
    await stack?.stop();
  });

  // Valid mobile numbers (event contacts are normalized like PUT's), one per contact so none are merged.
  const PHONES: Record<string, string> = { 'stats-a1': '+8613800000001', 'stats-b1': '+8613800000002', 'stats-c1': '+8613800000003', 'stats-d1': '+8613800000004' };
  const post = (id: string, type: string, externalId: string, properties: Record<string, unknown> = {}) =>
    request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id, type, contact: { externalId, email: `${externalId}@example.com`, phone: PHONES[externalId] }, properties })
      .expect(202);
  const runOf = async (externalId: string) => {
    const [c] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, externalId));
    return until(`${externalId}'s run`, async () => (await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.contactId, c!.id)))[0]);
  };
  const ended = (workflowId: string) => stack.temporal.client.workflow.getHandle(workflowId).result();

  it('counts entries, steps, runs, messages, clicks, goals and revenue as the runs happened', async () => {
    // d's address is suppressed: the send is recorded as suppressed and the run goes on.
    await stack.db.db.insert(suppressions).values({ channel: 'email', address: 'stats-d1@example.com', reason: 'manual' });
    for (const who of ['stats-a1', 'stats-b1', 'stats-c1', 'stats-d1']) await post(`${who}-created`, 'lead.created', who);
    const [a, b, c, d] = await Promise.all(['stats-a1', 'stats-b1', 'stats-c1', 'stats-d1'].map(runOf));
    await until('every run at wait-click', async () => {
      const rows = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.journeyId, 'real-funnel'));
      return rows.filter((r) => r.currentStep === 'wait-click').length === 4 ? true : undefined;
    });
    // a clicks the welcome mail (the event names the message, as the tracking link does), c books a demo.
    const [welcomeA] = await stack.db.db.select().from(messages).where(eq(messages.workflowId, a!.workflowId));
    await post('stats-a1-click', 'email.clicked', 'stats-a1', { message_key: welcomeA!.idempotencyKey, url: 'https://itinera.example/a' });
    await post('stats-c1-demo', 'demo.booked', 'stats-c1');
    expect(await ended(a!.workflowId)).toEqual({ status: 'completed', reason: 'finished' });
    expect(await ended(c!.workflowId)).toEqual({ status: 'goal', reason: 'demo' });
    expect(await ended(b!.workflowId)).toEqual({ status: 'completed', reason: 'finished' });
    expect(await ended(d!.workflowId)).toEqual({ status: 'completed', reason: 'finished' });
    // A deal a won after entering: attributed revenue.
    await post('stats-a1-deal', 'deal.won', 'stats-a1', { deal_id: 'A1', amount: 1200.5, currency: 'CNY' });
    await until('the projection of every run to end', async () => {
      const rows = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.journeyId, 'real-funnel'));
      return rows.every((r) => r.status !== 'running') ? true : undefined;
    });

    const res = await request(stack.app).get('/v1/journeys/real-funnel/stats').set('Authorization', `Bearer ${stack.keys.marketer}`).expect(200);
    const s = res.body as JourneyStatsReport;
    expect(s).toEqual(JSON.parse(JSON.stringify(await journeyStats(stack.db.db, { journeyId: 'real-funnel' }))));
    expect(s.version).toBeNull();
    expect(s.entered).toEqual({ runs: 4, contacts: 4 });
    expect(s.runs).toEqual({ total: 4, byStatus: { completed: 3, goal: 1 } });
    expect(s.steps).toEqual([
      { stepId: 'welcome', type: 'send_email', entered: 4, passed: 4, waiting: 0, exitedHere: 0 },
      { stepId: 'wait-click', type: 'wait_for_event', entered: 4, passed: 3, waiting: 0, exitedHere: 1 },
      { stepId: 'sms', type: 'send_sms', entered: 1, passed: 1, waiting: 0, exitedHere: 0 },
      { stepId: 'done', type: 'exit', entered: 3, passed: 0, waiting: 0, exitedHere: 3 },
    ]);
    // The suite's SMS sender accepts the message like a provider would (status sent): it is billed.
    const sms = await stack.db.db.select().from(messages).where(and(eq(messages.journeyId, 'real-funnel'), eq(messages.channel, 'sms')));
    expect(sms.map((m) => [m.stepId, m.status, m.body])).toEqual([['sms', 'sent', 'Thanks for reading']]);
    expect(s.messages).toEqual({
      total: 5,
      byChannel: {
        email: { sent: 3, delivered: 0, bounced: 0, failed: 0, suppressed: 1 },
        sms: { sent: 1, delivered: 0, bounced: 0, failed: 0, suppressed: 0 },
      },
      opened: 0,
      clicked: 1,
      unsubscribed: 0,
      bounced: 0,
      complained: 0,
      bounceRate: 0,
      complaintRate: 0,
    });
    expect(stack.smtp.messages.filter((m) => m.envelopeTo.some((t) => t.startsWith('stats-')))).toHaveLength(3);
    expect(s.goals).toEqual([{ goal: 'demo', name: 'Demo booked', conversions: 1, contacts: 1, value: 0 }]);
    expect(s.mqls).toEqual({ contacts: 0, handoffs: 0 });
    // Three accepted emails at 0.5 and one SMS at 2; (1200.5 − 3.5) / 3.5 = 342.
    expect(s.roi).toEqual({
      currency: 'CNY',
      cost: 3.5,
      costByChannel: { email: 1.5, sms: 2 },
      campaignCost: 0,
      revenue: 1200.5,
      deals: 1,
      unconvertedRevenue: {},
      attribution: { model: 'linear', halfLifeDays: 7, lookbackDays: 365 },
      windowMs: 30 * D,
      roi: 342,
    });
  });
});
