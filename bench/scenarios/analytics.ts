/**
 * Analytics (issue 18): p95 of each report over rollup tables filled at scale, and what keeping the rollups current
 * costs ingest.
 *
 * Reports: the rollups (contacts, contact_funnel, analytics_touches, deals, journey entries, campaigns) are generated
 * in SQL — the reports never read the events table, so raw events are not generated; each report then runs `runs`
 * times and its p50/p95 are taken.
 *
 * The credit rollup (src/analytics/credits.ts) is built from the generated history (every contact marked, then
 * drained; `creditsBuildSeconds`), and the campaign reports run twice in the same run: from the rollup (the API's
 * path) and computed at request time (`…_request_time`, the reference the rollup replaces).
 *
 * Ingest: events go through the one ingest path (`ingestEvent`) `concurrency` at a time, in alternating rounds without
 * rollups (no drain runs) and with them: the worker's rollup loop (src/analytics/drain.ts: the analytics drain, then
 * the credit drain) runs during the round, and the round ends when both have caught up after its last event. The cost
 * is 1 − rate with / rate without, measured for two mixes in the same run: the dataset's (events in the proportions of
 * the history generated here, DATASET_MIX, occurring after that history as new events do; the bounded figure) and the
 * worst case (every event an analytics event, late: in the middle of the history, so three of four mark their contact
 * for the credit rollup). Events of other kinds (opens, clicks without UTM, page views without UTM) are not read by
 * the drain at all (not in its index).
 */
import { performance } from 'node:perf_hooks';
import { sql } from 'drizzle-orm';
import { campaignReport } from '../../src/analytics/campaigns';
import { drainCredits, markAllDirty } from '../../src/analytics/credits';
import { catchUpAnalytics, drainAnalytics, startAnalyticsRollup } from '../../src/analytics/drain';
import { rowsOf } from '../../src/analytics/rows';
import { dealReport } from '../../src/analytics/deal-report';
import { funnelReport } from '../../src/analytics/funnel';
import { responseReport } from '../../src/analytics/response';
import { ingestEvent } from '../../src/ingest/event';
import { ingestDeps } from '../../src/wiring/ingest';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { round, type Metric } from '../lib/report';
import type { Stack } from '../lib/context';
import type { ScenarioOutput } from './types';

const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

export async function generate(stack: Pick<Stack, 'db'>, n: number): Promise<void> {
  const db = stack.db.db;
  const x = (q: string) => db.execute(sql.raw(q));
  await x(`insert into contacts (external_id, region, industry, owner_id)
    select 'an-' || g, (array['east','west','north','south'])[1 + g % 4], (array['saas','retail','finance'])[1 + g % 3], 'rep.' || (g % 50)
    from generate_series(1, ${n}) g`);
  // Stages drawn per contact: 40% become MQL, half of those SQL, 60% of those opportunities, 40% of those customers.
  await x(`insert into contact_funnel (contact_id, lead_at, entered_at, current_stage, moved_at, first_touch_at, utm_source, utm_medium, utm_campaign, mql_at, sql_at, opportunity_at, customer_at, sales_touch_at)
    select id, e, e, 'lead', e, e - interval '1 hour',
      case when u < 0.7 then (array['google','newsletter','linkedin','baidu'])[1 + (h % 4)] end,
      case when u < 0.7 then (array['cpc','email','social'])[1 + (h % 3)] end,
      case when u < 0.7 then 'c' || (h % 20) end,
      case when r1 < 0.4 then e + r2 * interval '30 days' end,
      case when r1 < 0.2 then e + r2 * interval '30 days' + r3 * interval '20 days' end,
      case when r1 < 0.12 then e + r2 * interval '30 days' + r3 * interval '20 days' + interval '5 days' end,
      case when r1 < 0.048 then e + r2 * interval '30 days' + r3 * interval '20 days' + interval '25 days' end,
      case when r1 < 0.4 then e + r2 * interval '30 days' + r3 * interval '4 hours' end
    from (select id, timestamptz '2026-01-01' + random() * interval '300 days' as e, random() as u, random() as r1, random() as r2, random() as r3, abs(hashtext(id::text)) as h
          from contacts where external_id like 'an-%') s`);
  await x(`update contact_funnel set
      current_stage = case when customer_at is not null then 'customer' when opportunity_at is not null then 'opportunity' when sql_at is not null then 'sql' when mql_at is not null then 'mql' else 'lead' end,
      moved_at = coalesce(customer_at, opportunity_at, sql_at, mql_at, lead_at)`);
  await x(`insert into analytics_touches (event_id, contact_id, occurred_at, utm_source, utm_medium, utm_campaign)
    select 't' || k || '-' || contact_id, contact_id, entered_at - interval '1 hour' + k * interval '3 days', utm_source, utm_medium, coalesce(utm_campaign, 'c' || (k * 7 % 20))
    from contact_funnel, generate_series(0, 1) k`);
  await x(`insert into deals (id, contact_id, amount, currency, stage, status, owner_id, opened_at, closed_at, last_event_at)
    select 'd-' || f.contact_id, f.contact_id, round((random() * 10000)::numeric, 2), case when random() < 0.9 then 'USD' else 'CNY' end, 'negotiation',
      case when customer_at is not null then 'won' when random() < 0.5 then 'lost' else 'open' end, c.owner_id, opportunity_at,
      case when customer_at is not null then customer_at when random() < 0.5 then opportunity_at + interval '20 days' end, coalesce(customer_at, opportunity_at)
    from contact_funnel f join contacts c on c.id = f.contact_id where opportunity_at is not null`);
  await x(`update deals set status = 'open' where status = 'lost' and closed_at is null`);
  await x(`insert into journey_run_steps (workflow_id, run_id, seq, journey_id, version, contact_id, step_id, entered_at)
    select 'journey:j' || (abs(hashtext(contact_id::text)) % 5) || ':' || contact_id, 'r', 1, 'j' || (abs(hashtext(contact_id::text)) % 5), 1, contact_id, 'welcome', entered_at - interval '2 hours'
    from contact_funnel where abs(hashtext(contact_id::text)) % 10 < 3`);
  await x(`insert into campaigns (id, name, channel, budget, currency, utm_campaign, journey_ids)
    select 'c' || g, 'Campaign ' || g, 'paid_search', 10000, 'USD', 'c' || g, case when g < 5 then array['j' || g] else '{}'::text[] end from generate_series(0, 19) g`);
  await x('analyze');
}

/**
 * 100 events in the proportions of the generated history, each kind spread evenly over the cycle (a deal's `won` right
 * after its `created`): see `benchEvent`.
 */
const DATASET_MIX: readonly string[] = (() => {
  const counts: Record<string, number> = { utm: 20, mql: 8, deal: 1, click: 5, open: 35, view: 30 };
  const placed = Object.entries(counts).flatMap(([kind, n]) => Array.from({ length: n }, (_, j) => ({ kind, at: (j + 0.5) / n })));
  return placed.sort((a, b) => a.at - b.at || a.kind.localeCompare(b.kind)).flatMap((p) => (p.kind === 'deal' ? ['deal', 'won'] : [p.kind]));
})();

export const MIXES = ['worst', 'dataset'] as const;
export type Mix = (typeof MIXES)[number];

/**
 * The i-th ingested event of a mix, for this contact (ids prefixed with `tag`). The worst case: every event an analytics
 * event (a UTM page view, a lifecycle write, a deal created, then won), late — in the middle of the stored history — so
 * three of four mark their contact for the credit rollup. The dataset's mix: events in the proportions of the history
 * this scenario describes (10 events, 2 UTM touches, 0.77 stage moves and 0.12 deals per contact: per 100 events 20 UTM
 * page views, 8 lifecycle writes, 1 deal created and won, 5 clicks; the other 65 opens and page views without UTM,
 * which the drain never reads), arriving after the stored history (which ends before T0 + 376 days) as new events do.
 */
export function benchEvent(mix: Mix, i: number, contactId: string, tag: string): { id: string; type: string; contactId: string; occurredAt: Date; properties: Record<string, unknown> } {
  const occurredAt = new Date(T0 + (mix === 'worst' ? 200 : 380) * DAY + i * 1000);
  const id = `${tag}-${i}`;
  const kind = mix === 'worst' ? ['utm', 'mql', 'deal', 'won'][i % 4]! : DATASET_MIX[i % DATASET_MIX.length]!;
  switch (kind) {
    case 'utm':
      return { id, type: 'page.viewed', contactId, occurredAt, properties: { utm_campaign: `c${i % 20}`, utm_source: 'google', utm_medium: 'cpc' } };
    case 'mql':
      return { id, type: 'contact.updated', contactId, occurredAt, properties: { changes: { lifecycle_stage: { from: 'lead', to: 'mql' } } } };
    case 'deal':
      return { id, type: 'deal.created', contactId, occurredAt, properties: { deal_id: `${tag}-deal-${i}`, amount: 100, currency: 'USD', stage: 'discovery' } };
    case 'won':
      return { id, type: 'deal.won', contactId, occurredAt, properties: { deal_id: `${tag}-deal-${i - 1}` } };
    case 'click':
      return { id, type: 'email.clicked', contactId, occurredAt, properties: { url: 'https://acme.example/product-a', link_tag: 'product-a' } };
    case 'open':
      return { id, type: 'email.opened', contactId, occurredAt, properties: { message_id: `m-${i}` } };
    default:
      return { id, type: 'page.viewed', contactId, occurredAt, properties: { url: `https://acme.example/docs/${i % 50}` } };
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
};

export async function analyticsScenario(stack: Stack, opts: { contacts: number; runs: number; ingestEvents: number; concurrency: number; taskQueue: string }): Promise<ScenarioOutput> {
  const db = stack.db.db;
  const fx = { currency: 'USD', rates: { CNY: 0.14 } };
  let t = performance.now();
  process.stdout.write(`    analytics: generating ${opts.contacts} contacts and their rollups…\n`);
  await generate(stack, opts.contacts);
  const generateSeconds = (performance.now() - t) / 1000;
  process.stdout.write(`    analytics: building the credit rollup…\n`);
  t = performance.now();
  await markAllDirty(db);
  await drainCredits(db, { batch: 5000 });
  const creditsBuildSeconds = (performance.now() - t) / 1000;
  await db.execute(sql.raw('analyze'));
  const counts = Object.fromEntries(
    await Promise.all(['contact_funnel', 'analytics_touches', 'deals', 'journey_run_steps'].map(async (tbl) => [tbl, Number(((await db.execute(sql.raw(`select count(*)::int as n from ${tbl}`))) as unknown as { rows: { n: number }[] }).rows?.[0]?.n ?? 0)] as const)),
  );

  const range = { from: new Date(T0), to: new Date(T0 + 366 * DAY) };
  const asOf = new Date(T0 + 400 * DAY);
  const quarter = { from: new Date(T0 + 90 * DAY), to: new Date(T0 + 180 * DAY), model: 'linear' as const, halfLifeDays: 7, lookbackDays: 365 };
  const year = { ...range, model: 'time_decay' as const, halfLifeDays: 7, lookbackDays: 365 };
  const reports: Record<string, () => Promise<unknown>> = {
    funnel: () => funnelReport(db, { ...range, groupBy: 'none', stuckDays: 30, asOf }),
    funnel_by_cohort: () => funnelReport(db, { ...range, groupBy: 'cohort', stuckDays: 30, asOf }),
    funnel_by_source_east: () => funnelReport(db, { ...range, groupBy: 'source', region: 'east', stuckDays: 30, asOf }),
    response_times: () => responseReport(db, { ...range, groupBy: 'owner', slaSeconds: 3600, asOf }),
    deals: () => dealReport(db, { ...range, groupBy: 'owner' }, fx),
    campaigns_linear_quarter: () => campaignReport(db, quarter, fx),
    campaigns_time_decay_year: () => campaignReport(db, year, fx),
    campaigns_time_decay_year_partial_days: () => campaignReport(db, { ...year, from: new Date(T0 + 0.5 * DAY), to: new Date(T0 + 365.5 * DAY) }, fx),
  };
  // The same campaign reports computed at request time (the reference the rollup replaced): for comparison, no bound.
  const reference: Record<string, () => Promise<unknown>> = {
    campaigns_linear_quarter_request_time: () => campaignReport(db, quarter, fx, { credits: 'request-time' }),
    campaigns_time_decay_year_request_time: () => campaignReport(db, year, fx, { credits: 'request-time' }),
  };
  const metrics: Metric[] = [];
  const latencies: Record<string, { p50: number; p95: number }> = {};
  for (const [name, run] of [...Object.entries(reports), ...Object.entries(reference)]) {
    const bounded = name in reports;
    const ms: number[] = [];
    // The request-time references (seconds each at 1M contacts) only for comparison: three runs are enough.
    for (let i = 0; i < (bounded ? opts.runs : Math.min(3, opts.runs)); i++) {
      t = performance.now();
      await run();
      ms.push(performance.now() - t);
    }
    latencies[name] = { p50: round(pct(ms, 0.5), 1), p95: round(pct(ms, 0.95), 1) };
    metrics.push({ metric: `${name}_p95`, value: round(pct(ms, 0.95), 1), unit: 'ms', baseline: null, ratio: null, kind: bounded ? 'latency' : 'info', ...(bounded ? { targets: [{ on: 'value', op: '<=' as const, bound: 2000 }] } : {}) });
    process.stdout.write(`    ${name}: p50 ${latencies[name]!.p50} ms, p95 ${latencies[name]!.p95} ms\n`);
  }

  // Ingest without and with the rollups kept current, on fresh events of the same shape.
  const ingest = ingestDeps({ db, temporal: stack.client, taskQueue: opts.taskQueue, triggers: dbTriggerSource(db) });
  // Each side of each mix its own contacts: a side's events must not find the rollups already moved by another's (a
  // stage reached at the same time changes nothing, and marks nobody for the credit rollup).
  const SIDES = ['off', 'ing', 'ana'] as const;
  const tagOf = (mix: Mix, side: (typeof SIDES)[number]) => `${mix === 'worst' ? '' : 'd'}${side}`;
  const tags = MIXES.flatMap((m) => SIDES.map((side) => tagOf(m, side)));
  const ids = ((await db.execute(sql.raw(`select id from contacts where external_id like 'an-%' limit ${tags.length * opts.ingestEvents}`))) as unknown as { rows: { id: string }[] }).rows.map((r) => r.id);
  /** Ingests events [from, to) of a mix under a side's tag (on that side's own contacts), `concurrency` at a time; seconds taken. */
  const pool = async (mix: Mix, tag: string, from: number, to: number) => {
    const first = tags.indexOf(tag) * opts.ingestEvents;
    let next = from;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: opts.concurrency }, async () => {
        for (let i = next++; i < to; i = next++) await ingestEvent(ingest, { ...benchEvent(mix, i, ids[(first + i) % ids.length]!, tag), source: 'api' });
      }),
    );
    return (performance.now() - t0) / 1000;
  };
  const rounds = 4;
  /** Ingest of `ingestEvents` events of one mix without and with the rollups, in alternating rounds (see the header). */
  const measureIngest = async (mix: Mix) => {
    const tag = (side: (typeof SIDES)[number]) => tagOf(mix, side);
    process.stdout.write(`    analytics: ingesting ${opts.ingestEvents} events (${mix} mix) in ${rounds} rounds each without rollups, with them kept current, and with all but the credit rollup…\n`);
    let withoutSeconds = 0;
    let withSeconds = 0;
    let catchUpSeconds = 0;
    let creditSeconds = 0;
    let drained = 0;
    const without = async (from: number, to: number) => {
      withoutSeconds += await pool(mix, tag('off'), from, to);
      // The events stored without rollups are analytics events too: taken in here, untimed, so that the rounds with
      // rollups drain only their own.
      await catchUpAnalytics(db, { currency: 'USD' });
    };
    const withRollups = async (from: number, to: number) => {
      // The worker's rollup loop (its production interval) runs while the events arrive; the round ends when the rollups
      // are current: every event of the round applied and the credit rollup drained.
      const t0 = performance.now();
      const rollup = startAnalyticsRollup(db, { currency: 'USD' });
      await pool(mix, tag('ing'), from, to);
      const t1 = performance.now();
      await rollup.stop();
      drained += await drainAnalytics(db, { currency: 'USD' });
      const tc = performance.now();
      await drainCredits(db);
      const t2 = performance.now();
      creditSeconds += (t2 - tc) / 1000;
      withSeconds += (t2 - t0) / 1000;
      catchUpSeconds += (t2 - t1) / 1000;
    };
    // For the split, not a bound: the analytics drain alone (deals, funnel, touches current; the credit rollup left to the
    // campaign report, which drains it first), in a loop of the same interval.
    let analyticsOnlySeconds = 0;
    let analyticsIngestSeconds = 0;
    let analyticsDrainSeconds = 0;
    const analyticsOnly = async (from: number, to: number) => {
      const t0 = performance.now();
      let stop = false;
      let wake = () => {};
      const loop = (async () => {
        while (!stop) {
          const d0 = performance.now();
          await drainAnalytics(db, { currency: 'USD' });
          analyticsDrainSeconds += (performance.now() - d0) / 1000;
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, 250);
          });
        }
      })();
      analyticsIngestSeconds += await pool(mix, tag('ana'), from, to);
      stop = true;
      // Not the rest of the pause: the catch-up starts now, as with the worker's loop (`stop` clears its timer).
      wake();
      await loop;
      const d0 = performance.now();
      await drainAnalytics(db, { currency: 'USD' });
      analyticsDrainSeconds += (performance.now() - d0) / 1000;
      analyticsOnlySeconds += (performance.now() - t0) / 1000;
      await drainCredits(db);
    };
    const sides = [without, withRollups, analyticsOnly];
    for (let r = 0; r < rounds; r++) {
      const from = Math.floor((r * opts.ingestEvents) / rounds);
      const to = Math.floor(((r + 1) * opts.ingestEvents) / rounds);
      // The sides take turns going first: none has the warm-up or another's leftovers more often.
      for (let k = 0; k < sides.length; k++) await sides[(r + k) % sides.length]!(from, to);
    }
    const applied = Number(rowsOf(await db.execute(sql`select count(*)::int as n from analytics_touches where event_id like ${`${tag('ing')}-%`}`))[0]?.n ?? 0);
    const withRate = opts.ingestEvents / withSeconds;
    const withoutRate = opts.ingestEvents / withoutSeconds;
    const cost = 1 - withRate / withoutRate;
    const analyticsOnlyCost = 1 - opts.ingestEvents / analyticsOnlySeconds / withoutRate;
    process.stdout.write(
      `    ingest, ${mix} mix: ${Math.round(withoutRate)} events/s without rollups, ${Math.round(withRate)} with them current (catch-up after the last event ${round(catchUpSeconds, 2)} s — credit drain ${round(creditSeconds, 2)} s of it — ${drained} events left for it; ${applied} UTM touches rolled up): cost ${round(cost * 100, 1)} %; deals, funnel and touches alone (no credit drain) ${Math.round(opts.ingestEvents / analyticsOnlySeconds)} events/s: ${round(analyticsOnlyCost * 100, 1)} % (its ingest ${round(analyticsIngestSeconds, 2)} s, its drains ${round(analyticsDrainSeconds, 2)} s, without ${round(withoutSeconds, 2)} s)\n`,
    );
    return { withRate, withoutRate, cost, analyticsOnlyCost, params: { withoutSeconds: round(withoutSeconds, 2), withSeconds: round(withSeconds, 2), analyticsOnlySeconds: round(analyticsOnlySeconds, 2), analyticsOnlyIngestSeconds: round(analyticsIngestSeconds, 2), analyticsOnlyDrainSeconds: round(analyticsDrainSeconds, 2), catchUpSeconds: round(catchUpSeconds, 2), creditCatchUpSeconds: round(creditSeconds, 2), drainedAtCatchUp: drained, appliedTouches: applied } };
  };
  const dataset = await measureIngest('dataset');
  const worst = await measureIngest('worst');
  metrics.push(
    { metric: 'ingest_with_rollups', value: Math.round(dataset.withRate), unit: 'events/s', baseline: Math.round(dataset.withoutRate), ratio: round(dataset.withRate / dataset.withoutRate, 3), kind: 'throughput', baselineName: 'without rollups (no drain running), the dataset\'s mix' },
    { metric: 'rollup_cost', value: round(dataset.cost * 100, 1), unit: '% of ingest throughput', baseline: null, ratio: null, kind: 'info', targets: [{ on: 'value', op: '<=', bound: 10 }] },
    { metric: 'rollup_cost_without_credits', value: round(dataset.analyticsOnlyCost * 100, 1), unit: '% of ingest throughput', baseline: null, ratio: null, kind: 'info' },
    { metric: 'ingest_with_rollups_worst_case', value: Math.round(worst.withRate), unit: 'events/s', baseline: Math.round(worst.withoutRate), ratio: round(worst.withRate / worst.withoutRate, 3), kind: 'info', baselineName: 'without rollups, every event an analytics event' },
    { metric: 'rollup_cost_worst_case', value: round(worst.cost * 100, 1), unit: '% of ingest throughput', baseline: null, ratio: null, kind: 'info' },
  );
  return {
    metrics,
    params: { contacts: opts.contacts, rows: counts, generateSeconds: round(generateSeconds, 1), creditsBuildSeconds: round(creditsBuildSeconds, 1), runs: opts.runs, latencies, ingestEvents: opts.ingestEvents, concurrency: opts.concurrency, rounds, datasetMix: dataset.params, worstCaseMix: worst.params, database: stack.db.kind },
    notes: [
      'reports read rollup tables generated in SQL; the events table is not filled (no report reads it)',
      'campaign reports: from the credit rollup (whole UTC days; partial days at request time) and, for comparison, computed at request time (…_request_time)',
      'ingest with and without rollups measured directly in alternating rounds: "without" runs no drain; "with" runs the worker\'s rollup loop (analytics drain, then credit drain, 250 ms after each drain ends) during the round and counts the time until both have caught up after its last event; rollup_cost (bounded) on the dataset\'s mix (per 100 events: 20 UTM page views, 8 lifecycle writes, a deal created and won, 5 clicks, 65 opens and page views without UTM), rollup_cost_worst_case with every event an analytics event',
    ],
  };
}
