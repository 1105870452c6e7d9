/**
 * Profile of the analytics drain (src/analytics/drain.ts) and the credit drain after it, on the analytics bench's
 * generated history: its ingest mix (MIX=worst, the default, or MIX=dataset: bench/scenarios/analytics.ts
 * `benchEvent`) stored straight into the events table (20 events per transaction, as ingest's group commit does), then
 * drained, every statement timed by shape. `EXPLAIN=1` prints the plan of the drain's scan,
 * `EXPLAIN_CREDITS=1` that of a credit recompute of 500 marked contacts (it runs it: the timed credit drain after it
 * then finds those contacts unchanged).
 *   DATABASE_URL=… npx tsx bench/drain-profile.ts [events=2000] [contacts=20000]
 */
import { performance } from 'node:perf_hooks';
import { sql } from 'drizzle-orm';
import { drainCredits, markAllDirty, recomputeSql } from '../src/analytics/credits';
import { drainAnalytics } from '../src/analytics/drain';
import { rowsOf } from '../src/analytics/rows';
import { ANALYTICS_EVENTS } from '../src/db/schema';
import { createTestDatabase } from '../tests/helpers/db';
import { installStatementTimer } from './lib/statement-timer';
import { benchEvent, generate, MIXES, type Mix } from './scenarios/analytics';

const events = Number(process.argv[2] ?? 2000);
const contacts = Number(process.argv[3] ?? 20000);
const MIX = (process.env.MIX ?? 'worst') as Mix;
if (!MIXES.includes(MIX)) throw new Error(`MIX is "${MIX}": expected one of ${MIXES.join(', ')}`);
const timer = installStatementTimer({ shapeLength: 110, counting: false });
const db = await createTestDatabase({ prefix: 'itinera_prof' });
try {
  const x = (q: string) => db.db.execute(sql.raw(q));
  // The analytics bench's history (bench/scenarios/analytics.ts): contacts with funnel rows, touches, deals, journey entries.
  await generate({ db } as Parameters<typeof generate>[0], contacts);
  await markAllDirty(db.db);
  await drainCredits(db.db, { batch: 5000 });
  await drainAnalytics(db.db, { currency: 'USD' });
  await x('analyze');
  const ids = rowsOf(await x(`select id from contacts where external_id like 'an-%' limit ${events}`)).map((r) => String(r.id));
  const mix = (i: number) => {
    const e = benchEvent(MIX, i, ids[i % ids.length]!, 'e');
    return { id: e.id, type: e.type, contact_id: e.contactId, occurred_at: e.occurredAt.toISOString(), properties: e.properties };
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
    const plan = rowsOf(await db.db.execute(sql`explain analyze with bound as materialized (select max(xid) as upper_xid, count(*) as n from (select xid from events where ${scope} order by xid limit 2000) b)
      select e.id, e.type, e.contact_id, e.properties, e.occurred_at, (select upper_xid::text from bound) as upper_xid, (select n from bound) as n
      from events e where ${scope} and e.xid <= (select upper_xid from bound)
      order by e.contact_id, e.occurred_at, e.xid, e.id`));
    process.stdout.write(plan.map((r) => r['QUERY PLAN']).join('\n') + '\n');
  }
  timer.counting = true;
  let t = performance.now();
  const n = await drainAnalytics(db.db, { currency: 'USD' });
  const analyticsMs = performance.now() - t;
  if (process.env.EXPLAIN_CREDITS) {
    const marked = rowsOf(await x(`select contact_id, (since at time zone 'UTC')::date::text as since_day from attribution_dirty order by contact_id limit 500`)).map((r) => ({
      id: String(r.contact_id),
      sinceDay: r.since_day === null ? null : String(r.since_day),
    }));
    const plan = rowsOf(await db.db.execute(sql`explain (analyze, buffers) ${recomputeSql(marked)}`));
    process.stdout.write(plan.map((r) => String(r['QUERY PLAN'])).filter((l) => l.length < 400).join('\n') + '\n');
  }
  t = performance.now();
  const c = await drainCredits(db.db);
  const creditMs = performance.now() - t;
  timer.counting = false;
  process.stdout.write(`analytics drain: ${n} events in ${analyticsMs.toFixed(0)} ms (${((analyticsMs / n) * 1000).toFixed(0)} µs/event); credit drain: ${c} contacts in ${creditMs.toFixed(0)} ms\n`);
  for (const [k, v] of [...timer.bySql.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 14)) process.stdout.write(`${v.ms.toFixed(0).padStart(7)} ms ${String(v.n).padStart(4)}×  ${k}\n`);
} finally {
  await db.drop();
}
