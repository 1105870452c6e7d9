/**
 * A known history built through the real API (contacts, stage changes, touches with UTM values, deals in three
 * currencies, sales touches, campaigns and their costs), and every figure of the reports checked against the hand
 * computation written next to it. Rates: 1 CNY = 0.14 USD; EUR has none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { eq } from 'drizzle-orm';
import { buildApp } from '../../src/api/app';
import { createApiKey, type Role } from '../../src/api/auth';
import { handoffActivities } from '../../src/activities/handoff';
import type { ActivityDeps } from '../../src/activities/deps';
import { contacts } from '../../src/db/schema';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { parseSalesConfig } from '../../src/sales';
import { createTestDatabase } from '../helpers/db';
import { connectTestTemporal, type TestTemporal } from '../helpers/temporal';

const D = 86_400;
const RANGE = 'from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z';

describe('analytics reports on a known history', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let temporal: TestTemporal;
  let app: ReturnType<typeof buildApp>;
  const keys = {} as Record<Role, string>;
  let n = 0;
  const send = (type: string, who: string, at: string, properties: Record<string, unknown> = {}, contact: Record<string, unknown> = {}) =>
    request(app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${keys.integration}`)
      .send({ id: `h${++n}`, type, occurredAt: at, contact: { externalId: who, ...contact }, properties })
      .expect(202);
  const get = (path: string, role: Role = 'marketer') => request(app).get(path).set('Authorization', `Bearer ${keys[role]}`);
  const put = (path: string, body: unknown) => request(app).put(path).set('Authorization', `Bearer ${keys.marketer}`).send(body as object);

  beforeAll(async () => {
    [db, temporal] = await Promise.all([createTestDatabase(), connectTestTemporal()]);
    app = buildApp({
      database: db,
      temporal: temporal.client,
      taskQueue: temporal.taskQueue,
      triggers: dbTriggerSource(db.db),
      signingSecrets: ['s'.repeat(32)],
      analytics: { currency: 'USD', rates: { CNY: 0.14 } },
    });
    for (const role of ['marketer', 'integration', 'ops', 'admin'] as const) keys[role] = (await createApiKey(db.db, { name: `k-${role}`, role })).key;

    const spring = { utm_campaign: 'spring', utm_source: 'google', utm_medium: 'cpc' };
    // A: lead Jan 5 (spring touch), MQL Jan 10, touched 30 min later, webinar touch Jan 12 (a tracked link's URL),
    //    SQL Jan 15, deal D-A (1000 USD) Jan 20 → won Feb 1, paid Feb 5; a second deal D-A2 (200 USD) lost.
    await send('page.viewed', 'A', '2026-01-05T00:00:00Z', spring, { region: 'east', industry: 'saas', ownerId: 'rep.a' });
    await send('form.submitted', 'A', '2026-01-10T00:00:00Z', {}, { lifecycleStage: 'mql' });
    await send('sales.touched', 'A', '2026-01-10T00:30:00Z');
    await send('email.clicked', 'A', '2026-01-12T00:00:00Z', { url: 'https://example.com/w?utm_campaign=webinar&utm_source=newsletter&utm_medium=email' });
    await send('crm.qualified', 'A', '2026-01-15T00:00:00Z', {}, { lifecycleStage: 'sql' });
    await send('deal.created', 'A', '2026-01-20T00:00:00Z', { deal_id: 'D-A', amount: 1000, currency: 'USD', stage: 'discovery', owner: 'rep.a' });
    await send('deal.won', 'A', '2026-02-01T00:00:00Z', { deal_id: 'D-A' });
    await send('order.paid', 'A', '2026-02-05T00:00:00Z', { deal_id: 'D-A', amount: 1000, currency: 'USD' });
    await send('deal.created', 'A', '2026-02-15T00:00:00Z', { deal_id: 'D-A2', amount: 200, currency: 'USD', owner: 'rep.a' });
    await send('deal.lost', 'A', '2026-02-20T00:00:00Z', { deal_id: 'D-A2', reason: 'timing' });
    // B: lead Jan 8 (spring), MQL Jan 9, touched 3 h later, deal D-B (7000 CNY) Jan 25 → won Feb 10 (never an SQL by write).
    await send('page.viewed', 'B', '2026-01-08T00:00:00Z', spring, { region: 'west', industry: 'retail', ownerId: 'rep.b' });
    await send('form.submitted', 'B', '2026-01-09T00:00:00Z', {}, { lifecycleStage: 'mql' });
    await send('sales.touched', 'B', '2026-01-09T03:00:00Z');
    await send('deal.created', 'B', '2026-01-25T00:00:00Z', { deal_id: 'D-B', amount: 7000, currency: 'CNY', owner: 'rep.b' });
    await send('deal.won', 'B', '2026-02-10T00:00:00Z', { deal_id: 'D-B' });
    // C: lead Feb 3 without a touch, MQL Feb 4, never touched: stuck at MQL.
    await send('lead.created', 'C', '2026-02-03T00:00:00Z', {}, { region: 'east', industry: 'saas' });
    await send('form.submitted', 'C', '2026-02-04T00:00:00Z', {}, { lifecycleStage: 'mql' });
    // D: lead Feb 6 from the webinar, nothing since: stuck at lead.
    await send('webinar.registered', 'D', '2026-02-06T00:00:00Z', { utm: { campaign: 'webinar', source: 'newsletter', medium: 'email' } }, { region: 'west', industry: 'retail' });
    // E: first known from a deal (300 EUR) Mar 2, won Mar 3: no touch, and no rate for EUR.
    await send('deal.created', 'E', '2026-03-02T00:00:00Z', { deal_id: 'D-E', amount: 300, currency: 'EUR' });
    await send('deal.won', 'E', '2026-03-03T00:00:00Z', { deal_id: 'D-E' });
    // Out of the range: a lead of 2025.
    await send('lead.created', 'Z', '2025-12-31T23:59:59Z');

    await put('/v1/campaigns/spring', { name: 'Spring search', channel: 'paid_search', budget: 2000, currency: 'USD', utmCampaign: 'spring' }).expect(200);
    await put('/v1/campaigns/webinar', { name: '=HYPERLINK("http://x")', channel: 'email', budget: 3000, currency: 'CNY', startsOn: '2026-01-01', endsOn: '2026-02-28', utmCampaign: 'webinar' }).expect(200);
    for (const [amount, day] of [[500, '2026-01-02'], [700, '2026-02-01'], [999, '2026-05-01']] as const) {
      await request(app).post('/v1/campaigns/spring/costs').set('Authorization', `Bearer ${keys.integration}`).set('Idempotency-Key', `cost-${day}`).send({ amount, currency: 'USD', incurredOn: day }).expect(201);
    }
    // A retry with the same key records nothing more.
    await request(app).post('/v1/campaigns/spring/costs').set('Authorization', `Bearer ${keys.integration}`).set('Idempotency-Key', 'cost-2026-01-02').send({ amount: 500, currency: 'USD', incurredOn: '2026-01-02' }).expect(201);
  });
  afterAll(async () => {
    await temporal?.close();
    await db?.drop();
  });

  it('funnel: reached, conversion, time in stage and stuck per stage', async () => {
    const res = await get(`/v1/analytics/funnel?${RANGE}`).expect(200);
    expect(res.body.groups).toHaveLength(1);
    const g = res.body.groups[0];
    // A, B, C, D, E entered in range (Z in 2025 does not).
    expect(g.contacts).toBe(5);
    expect(g.stages).toEqual([
      // lead → next stage: A 5 d, B 1 d, C 1 d, E 0 (its deal made it an opportunity at once); D never moved.
      // sorted [0, 1, 1, 5] d: median 1 d, p90 at 2.7 → 1 + 0.7 × 4 = 3.8 d. Stuck: D (lead since Feb 6).
      { stage: 'lead', reached: 5, conversionToNext: 0.8, medianSecondsInStage: 1 * D, p90SecondsInStage: 3.8 * D, stuck: 1 },
      // MQL or later: A, B, C, E (E passed it). A 5 d to SQL, B 16 d to opportunity: median 10.5 d, p90 5 + 0.9 × 11 = 14.9 d. Stuck: C.
      { stage: 'mql', reached: 4, conversionToNext: 0.75, medianSecondsInStage: 10.5 * D, p90SecondsInStage: 14.9 * D, stuck: 1 },
      // SQL or later: A, B, E. Only A has an SQL time: 5 d to its opportunity.
      { stage: 'sql', reached: 3, conversionToNext: 1, medianSecondsInStage: 5 * D, p90SecondsInStage: 5 * D, stuck: 0 },
      // Opportunity → customer: A 12 d, B 16 d, E 1 d: median 12 d, p90 at 1.8 → 12 + 0.8 × 4 = 15.2 d.
      { stage: 'opportunity', reached: 3, conversionToNext: 1, medianSecondsInStage: 12 * D, p90SecondsInStage: 15.2 * D, stuck: 0 },
      { stage: 'customer', reached: 3, conversionToNext: null, medianSecondsInStage: null, p90SecondsInStage: null, stuck: 0 },
    ]);
  });

  it('funnel by cohort, by first-touch source, and filtered by region', async () => {
    const byCohort = (await get(`/v1/analytics/funnel?${RANGE}&groupBy=cohort`).expect(200)).body.groups;
    expect(byCohort.map((x: { group: string; stages: { reached: number }[] }) => [x.group, x.stages.map((s) => s.reached)])).toEqual([
      ['2026-01', [2, 2, 2, 2, 2]],
      ['2026-02', [2, 1, 0, 0, 0]],
      ['2026-03', [1, 1, 1, 1, 1]],
    ]);
    const bySource = (await get(`/v1/analytics/funnel?${RANGE}&groupBy=source`).expect(200)).body.groups;
    expect(bySource.map((x: { group: string | null; contacts: number }) => [x.group, x.contacts])).toEqual([
      ['google', 2],
      ['newsletter', 1],
      [null, 2],
    ]);
    const [c] = await db.db.select().from(contacts).where(eq(contacts.externalId, 'A'));
    const east = (await get(`/v1/analytics/funnel?${RANGE}&region=${encodeURIComponent(c!.region!)}`).expect(200)).body.groups[0];
    expect(east.contacts).toBe(2);
    expect(east.stages.map((s: { reached: number }) => s.reached)).toEqual([2, 2, 1, 1, 1]);
    const campaign = (await get(`/v1/analytics/funnel?${RANGE}&campaign=webinar`).expect(200)).body.groups[0];
    expect(campaign.contacts).toBe(1);
  });

  it('response times: MQL to first sales touch against the 1 h SLA', async () => {
    const res = await get(`/v1/analytics/response-times?${RANGE}`, 'ops').expect(200);
    // A 30 min (within), B 3 h (late), C never touched (its SLA long over: not pending).
    expect(res.body.groups).toEqual([
      {
        group: null,
        mqls: 3,
        handedOff: 0,
        touched: 2,
        touchedBeforeMql: 0,
        mqlToHandoffSeconds: { median: null, p90: null, count: 0 },
        handoffToTouchSeconds: { median: null, p90: null, count: 0 },
        mqlToTouchSeconds: { median: 6300, p90: 9900, count: 2 },
        withinSla: 1,
        pending: 0,
        slaShare: 0.333333,
      },
    ]);
    // A 4 h SLA takes B in.
    const wide = await get(`/v1/analytics/response-times?${RANGE}&slaMinutes=240`).expect(200);
    expect(wide.body.groups[0]).toMatchObject({ withinSla: 2, slaShare: 0.666667 });
  });

  it('deals: won, lost, win rate and money per currency, never adding EUR without a rate', async () => {
    const res = await get(`/v1/analytics/deals?${RANGE}`).expect(200);
    expect(res.body.groups).toEqual([
      {
        group: null,
        opened: 4,
        won: 3,
        lost: 1,
        winRate: 0.75,
        // 1000 USD + 7000 CNY × 0.14 = 1980 USD, but EUR has no rate: no total.
        wonRevenue: { byCurrency: { CNY: 7000, EUR: 300, USD: 1000 }, currency: 'USD', total: null, missingRates: ['EUR'] },
        openPipeline: { byCurrency: {}, currency: 'USD', total: 0, missingRates: [] },
        paid: { byCurrency: { USD: 1000 }, currency: 'USD', total: 1000, missingRates: [] },
        // D-A 12 d, D-B 16 d, D-E 1 d.
        medianDaysToWin: 12,
        regressions: 0,
        unpriced: 0,
      },
    ]);
    const byOwner = (await get(`/v1/analytics/deals?${RANGE}&groupBy=owner`).expect(200)).body.groups;
    expect(byOwner.map((x: { group: string | null; won: number; lost: number }) => [x.group, x.won, x.lost])).toEqual([
      ['rep.a', 1, 1],
      ['rep.b', 1, 0],
      [null, 1, 0],
    ]);
  });

  it('campaigns, linear: leads, MQLs, SQLs, deals and revenue credited, spend, ROI and costs per stage', async () => {
    const res = await get(`/v1/analytics/campaigns?${RANGE}&model=linear`).expect(200);
    const [spring, webinar] = res.body.campaigns;
    expect(spring).toMatchObject({
      campaignId: 'spring',
      // Costs recorded in range replace the budget: 500 + 700 (the May cost is out of range).
      spend: { byCurrency: { USD: 1200 }, total: 1200 },
      spendSource: 'costs',
      // Leads A, B; MQLs A, B (webinar touched A after its MQL); SQLs: A half (spring and webinar before Jan 15), B whole.
      leads: 2,
      mqls: 2,
      sqls: 1.5,
      // D-A shared half and half; D-B all spring: 500 USD + 7000 CNY = 500 + 980 = 1480 USD.
      deals: 1.5,
      revenue: { byCurrency: { CNY: 7000, USD: 500 }, total: 1480, missingRates: [] },
      roi: 0.233333,
      costPerLead: 600,
      costPerMql: 600,
      costPerSql: 800,
    });
    expect(webinar).toMatchObject({
      campaignId: 'webinar',
      // No cost recorded: its budget, 3000 CNY = 420 USD.
      spend: { byCurrency: { CNY: 3000 }, total: 420 },
      spendSource: 'budget',
      leads: 1,
      mqls: 0,
      sqls: 0.5,
      deals: 0.5,
      revenue: { byCurrency: { USD: 500 }, total: 500 },
      roi: 0.190476,
      costPerLead: 420,
      costPerMql: null,
      costPerSql: 840,
    });
    expect(res.body.unattributed).toMatchObject({ leads: 2, mqls: 2, sqls: 1, deals: 1, revenue: { byCurrency: { EUR: 300 }, total: null, missingRates: ['EUR'] } });
    expect(res.body.otherTouches).toMatchObject({ leads: 0, mqls: 0, sqls: 0, deals: 0 });
    expect(res.body.totals).toMatchObject({ leads: 5, mqls: 4, sqls: 3, deals: 3, unpricedDeals: 0, revenue: { byCurrency: { CNY: 7000, EUR: 300, USD: 1000 } } });
  });

  it('counts a budget only when the campaign\'s dates overlap the range', async () => {
    const april = (await get('/v1/analytics/campaigns?from=2026-04-01T00:00:00Z&to=2026-05-01T00:00:00Z').expect(200)).body;
    expect(april.campaigns[1]).toMatchObject({ campaignId: 'webinar', spendSource: 'none', spend: { byCurrency: {}, total: 0 } });
    // spring has costs recorded: only May's is outside; April has none of them.
    expect(april.campaigns[0]).toMatchObject({ campaignId: 'spring', spendSource: 'costs', spend: { total: 0 } });
  });

  it('campaigns under first touch and time decay', async () => {
    const first = (await get(`/v1/analytics/campaigns?${RANGE}&model=first_touch`).expect(200)).body;
    expect(first.campaigns[0]).toMatchObject({ sqls: 2, deals: 2, revenue: { total: 1980 } });
    expect(first.campaigns[1]).toMatchObject({ sqls: 0, deals: 0, revenue: { byCurrency: {}, total: 0 }, roi: -1 });
    // D-A won Feb 1: spring touched 27 d before, webinar 20 d — one half-life (7 d) apart, so webinar weighs twice spring.
    const decay = (await get(`/v1/analytics/campaigns?${RANGE}&model=time_decay&halfLifeDays=7`).expect(200)).body;
    expect(decay.campaigns[0].revenue.byCurrency.USD).toBeCloseTo(333.33, 2);
    expect(decay.campaigns[1].revenue.byCurrency.USD).toBeCloseTo(666.67, 2);
  });

  it('exports CSV with formula-looking cells made text', async () => {
    const res = await get(`/v1/analytics/campaigns?${RANGE}&format=csv`).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    const lines = res.text.trimEnd().split('\r\n');
    expect(lines[0]).toBe('campaign_id,name,channel,leads,mqls,sqls,deals,revenue_total,revenue_by_currency,spend_total,spend_by_currency,spend_source,roi,cost_per_lead,cost_per_mql,cost_per_sql');
    expect(lines[2]).toMatch(/^webinar,"'=HYPERLINK\(""http:\/\/x""\)",email,1,0,0\.5,0\.5,500,/);
    expect(lines).toHaveLength(5);
    const funnel = await get(`/v1/analytics/funnel?${RANGE}&format=csv`).expect(200);
    expect(funnel.text.split('\r\n')[1]).toBe(',lead,5,0.8,86400,328320,1');
  });

  it('reads are for marketers and ops; integration keys and anonymous callers get none; bad ranges name the field', async () => {
    await get(`/v1/analytics/funnel?${RANGE}`, 'integration').expect(403);
    await request(app).get(`/v1/analytics/campaigns?${RANGE}`).expect(401);
    const bad = await get('/v1/analytics/funnel?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z').expect(400);
    expect(bad.body.errors).toEqual([{ path: 'query.from', message: 'must be before `to`' }]);
    const model = await get('/v1/analytics/campaigns?model=everyone').expect(400);
    expect(model.body.errors[0].path).toBe('query.model');
  });

  it('refuses a second campaign for a UTM value, and a journey that does not exist', async () => {
    const dup = await put('/v1/campaigns/spring-2', { name: 'Copy', channel: 'paid_search', currency: 'USD', utmCampaign: 'spring' }).expect(409);
    expect(dup.body.detail).toContain('belongs to campaign "spring"');
    const missing = await put('/v1/campaigns/x', { name: 'X', channel: 'email', currency: 'USD', journeyIds: ['nope'] }).expect(400);
    expect(missing.body.errors).toEqual([{ path: 'journeyIds.0', message: 'no journey "nope"' }]);
  });
});

describe('response time with a real hand-off', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let temporal: TestTemporal;
  let app: ReturnType<typeof buildApp>;
  const keys = {} as Record<Role, string>;

  beforeAll(async () => {
    [db, temporal] = await Promise.all([createTestDatabase(), connectTestTemporal()]);
    app = buildApp({ database: db, temporal: temporal.client, taskQueue: temporal.taskQueue, triggers: dbTriggerSource(db.db), signingSecrets: ['s'.repeat(32)] });
    for (const role of ['marketer', 'integration'] as const) keys[role] = (await createApiKey(db.db, { name: `k-${role}`, role })).key;
  });
  afterAll(async () => {
    await temporal?.close();
    await db?.drop();
  });

  it('measures MQL → hand-off → CRM feedback', async () => {
    const mqlAt = new Date(Date.now() - 2 * 3600_000);
    await request(app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${keys.integration}`)
      .send({ id: 'mql-1', type: 'form.submitted', occurredAt: mqlAt.toISOString(), contact: { externalId: 'H', lifecycleStage: 'mql' } })
      .expect(202);
    const [c] = await db.db.select().from(contacts).where(eq(contacts.externalId, 'H'));
    const sales = parseSalesConfig('teams:\n  east:\n    name: East\n    reps:\n      - { id: rep.a, name: A, capacity: 10 }\n', 'sales.yaml');
    const acts = handoffActivities({ db: db.db, sales: { directory: sales }, tracking: { baseUrl: 'http://x' } } as unknown as ActivityDeps);
    const handedAt = Date.now();
    const { handoffId } = await acts.handoffToSales({ idempotencyKey: `h:${c!.id}`, contactId: c!.id, journeyId: 'j', workflowId: `journey:j:${c!.id}`, team: 'east' });
    await request(app).post(`/v1/handoffs/${handoffId}/feedback`).set('Authorization', `Bearer ${keys.integration}`).send({ outcome: 'accepted' }).expect(200);
    const touchedAt = Date.now();
    const res = await request(app).get('/v1/analytics/response-times').set('Authorization', `Bearer ${keys.marketer}`).expect(200);
    const g = res.body.groups[0];
    expect(g).toMatchObject({ mqls: 1, handedOff: 1, touched: 1, withinSla: 0, slaShare: 0 });
    // About two hours from MQL to hand-off; the feedback came right after the hand-off.
    expect(g.mqlToHandoffSeconds.median).toBeGreaterThanOrEqual(7200 - 5);
    expect(g.mqlToHandoffSeconds.median).toBeLessThanOrEqual((handedAt - mqlAt.getTime()) / 1000 + 60);
    expect(g.handoffToTouchSeconds.median).toBeLessThanOrEqual((touchedAt - handedAt) / 1000 + 1);
    // The accepted hand-off made the contact an SQL.
    const funnel = await request(app).get('/v1/analytics/funnel').set('Authorization', `Bearer ${keys.marketer}`).expect(200);
    expect(funnel.body.groups[0].stages.map((s: { reached: number }) => s.reached)).toEqual([1, 1, 1, 0, 0]);
  });
});
