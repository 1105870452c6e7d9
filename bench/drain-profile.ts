/**
 * Profile of the analytics drain (src/analytics/drain.ts) and the credit drain after it: the bench's ingest mix stored
 * straight into the events table, then drained in batches, every statement timed by shape.
 *   npx tsx bench/drain-profile.ts [events] [contacts]
 */
import { performance } from 'node:perf_hooks';
import { sql } from 'drizzle-orm';
import { drainCredits, markAllDirty } from '../src/analytics/credits';
import { drainAnalytics } from '../src/analytics/drain';
import { rowsOf } from '../src/analytics/rows';
import { ANALYTICS_EVENTS } from '../src/db/schema';
import { createTestDatabase } from '../tests/helpers/db';
import { installStatementTimer } from './lib/statement-timer';

const events = Number(process.argv[2] ?? 2000);
const contacts = Number(process.argv[3] ?? 20000);
const T0 = Date.parse('2026-07-20T00:00:00Z');
const timer = installStatementTimer({ shapeLength: 110, counting: false });
const db = await createTestDatabase({ prefix: 'rollupasync_prof' });
try {
  const x = (q: string) => db.db.execute(sql.raw(q));
  await x(`insert into contacts (external_id) select 'p-' || g from generate_series(1, ${contacts}) g`);
  await x(`insert into contact_funnel (contact_id, lead_at, entered_at, current_stage, moved_at) select id, now() - interval '100 days', now() - interval '100 days', 'lead', now() - interval '100 days' from contacts`);
  await x(`insert into analytics_touches (event_id, contact_id, occurred_at, utm_campaign) select 't-' || id, id, now() - interval '101 days', 'c1' from contacts`);
  await markAllDirty(db.db);
  await drainCredits(db.db, { batch: 5000 });
  await drainAnalytics(db.db, { currency: 'USD' });
  await x('analyze');
  const ids = rowsOf(await x(`select id from contacts order by external_id limit ${events}`)).map((r) => String(r.id));
  const mix = (i: number) => {
    const contactId = ids[i % ids.length]!;
    const occurredAt = new Date(T0 + i * 1000).toISOString();
    switch (i % 4) {
      case 0:
        return { id: `e-${i}`, type: 'page.viewed', contact_id: contactId, occurred_at: occurredAt, properties: { utm_campaign: `c${i % 20}`, utm_source: 'google', utm_medium: 'cpc' } };
      case 1:
        return { id: `e-${i}`, type: 'contact.updated', contact_id: contactId, occurred_at: occurredAt, properties: { changes: { lifecycle_stage: { from: 'lead', to: 'mql' } } } };
      case 2:
        return { id: `e-${i}`, type: 'deal.created', contact_id: contactId, occurred_at: occurredAt, properties: { deal_id: `deal-${i}`, amount: 100, currency: 'USD', stage: 'discovery' } };
      default:
        return { id: `e-${i}`, type: 'deal.won', contact_id: contactId, occurred_at: occurredAt, properties: { deal_id: `deal-${i - 1}` } };
    }
  };
  // Stored as ingest's group commit does: 20 events per transaction.
  for (let i = 0; i < events; i += 20) {
    const batch = Array.from({ length: Math.min(20, events - i) }, (_, k) => mix(i + k));
    await db.db.execute(sql`insert into events (id, type, contact_id, properties, occurred_at) select id, type, contact_id, properties, occurred_at from jsonb_populate_recordset(null::events, ${JSON.stringify(batch)}::jsonb)`);
  }
  if (process.env.EXPLAIN) {
    const seen = String(rowsOf(await x(`select seen from analytics_rollup_state where name = 'analytics_events'`))[0]!.seen);
    const upto = String(rowsOf(await x(`select pg_current_snapshot()::text as s`))[0]!.s);
    const scope = sql.join([sql.raw(ANALYTICS_EVENTS), sql`xid >= pg_snapshot_xmin(${seen}::pg_snapshot) and not pg_visible_in_snapshot(xid, ${seen}::pg_snapshot)`, sql`xid < pg_snapshot_xmax(${upto}::pg_snapshot) and pg_visible_in_snapshot(xid, ${upto}::pg_snapshot)`], sql` and `);
    const plan = rowsOf(await db.db.execute(sql`explain analyze with bound as (select max(xid) as upper_xid, count(*) as n from (select xid from events where ${scope} order by xid limit 2000) b)
      select e.id, e.type, e.contact_id, e.properties, e.occurred_at, bound.upper_xid::text as upper_xid, bound.n
      from events e, bound where ${scope} and e.xid <= bound.upper_xid
      order by e.contact_id, e.occurred_at, e.xid, e.id`));
    process.stdout.write(plan.map((r) => r['QUERY PLAN']).join('\n') + '\n');
  }
  timer.counting = true;
  let t = performance.now();
  const n = await drainAnalytics(db.db, { currency: 'USD' });
  const analyticsMs = performance.now() - t;
  t = performance.now();
  const c = await drainCredits(db.db);
  const creditMs = performance.now() - t;
  timer.counting = false;
  process.stdout.write(`analytics drain: ${n} events in ${analyticsMs.toFixed(0)} ms (${((analyticsMs / n) * 1000).toFixed(0)} µs/event); credit drain: ${c} contacts in ${creditMs.toFixed(0)} ms\n`);
  for (const [k, v] of [...timer.bySql.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 14)) process.stdout.write(`${v.ms.toFixed(0).padStart(7)} ms ${String(v.n).padStart(4)}×  ${k}\n`);
} finally {
  await db.drop();
}
