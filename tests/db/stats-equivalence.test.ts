import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { journeyLive } from '../../src/db/live';
import { entryCounts, messageReport, runCounts, runsByStatusOf, stepCountsOf, stepEntered, type StatsScope } from '../../src/db/stats';
import { publishJourney } from '../../src/publishing/journeys';
import { createTestDatabase } from '../helpers/db';
import * as old from './stats-reference';

/**
 * The report and the live counts read each table once (src/db/stats.ts, src/db/live.ts); the queries they replaced are
 * kept in ./stats-reference.ts. On a seeded history with the awkward cases — loops, re-entries under one workflow id, a
 * run migrated to another version, runs with no journal, messages created before any journal entry or with no step,
 * several feedback reports per message, repeated and foreign engagement events, MQL events before and after entry —
 * both must answer the same, for the whole journey and for each version.
 */
const journey = (emailCost: number) => `
id: eq
name: Equivalence
triggers: [{ type: event, event: lead.created }]
settings:
  costs: { currency: CNY, email: ${emailCost}, sms: 2, notify: 0.1 }
start: welcome
steps:
  welcome: { type: send_email, template: welcome, next: wait }
  wait: { type: wait_for_event, event: email.clicked, timeout: 2d, on_event: sms, on_timeout: pause }
  pause: { type: wait, duration: 1d, next: done }
  sms: { type: send_sms, body: "Hi", next: done }
  done: { type: exit, reason: finished }
`;

const RUNS = 900;
const CONTACTS = 300;

describe('journey statistics: one pass per table answers as the separate queries did', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;

  beforeAll(async () => {
    db = await createTestDatabase();
    for (const cost of [0.5, 1, 2]) await publishJourney(db.db, journey(cost), {});
    await publishJourney(db.db, journey(3).replace('id: eq', 'id: eq-other'), {});
    const x = db.db;
    // Contacts c1..c300 (events reference them).
    await x.execute(sql`insert into contacts (id, external_id) select md5('c' || i)::uuid, 'c' || i from generate_series(1, ${CONTACTS}) i`);
    // Run projection: versions 1..3, every status, current steps of the plan, one no plan has, and none.
    await x.execute(sql`
      insert into journey_runs (workflow_id, run_id, journey_id, version, contact_id, current_step, status, started_at)
      select 'wf' || i, 'run' || i, case when i % 41 = 0 then 'eq-other' else 'eq' end, 1 + i % 3, md5('c' || (1 + i % ${CONTACTS}))::uuid,
        (array['welcome', 'wait', 'pause', 'sms', 'done', 'gone', null])[1 + (i * 7) % 7],
        (array['running', 'completed', 'failed', 'exited', 'running', 'cancelled', 'goal'])[1 + (i * 5) % 7],
        timestamptz '2025-01-01' + i * interval '1 hour'
      from generate_series(1, ${RUNS}) i`);
    // Journal: 1..5 steps per run along a path that loops on wait; every 13th run has none (journaled before the
    // journal existed); some runs also entered in the last 7 days.
    await x.execute(sql`
      insert into journey_run_steps (workflow_id, run_id, seq, journey_id, version, contact_id, step_id, entered_at)
      select r.workflow_id, r.run_id, s.seq, r.journey_id, r.version, r.contact_id,
        (array['welcome', 'wait', 'wait', 'sms', 'done'])[s.seq],
        case when n % 10 = 0 then now() - interval '1 day' else r.started_at end + s.seq * interval '1 minute'
      from journey_runs r, lateral (select substring(r.workflow_id from 3)::int as n) w,
        lateral generate_series(1, 1 + n % 5) s(seq)
      where n % 13 <> 0`);
    // Re-entries: an earlier run under the same workflow id (its own run id, seq from 1).
    await x.execute(sql`
      insert into journey_run_steps (workflow_id, run_id, seq, journey_id, version, contact_id, step_id, entered_at)
      select r.workflow_id, r.run_id || '-earlier', s.seq, r.journey_id, 1, r.contact_id, (array['welcome', 'wait'])[s.seq], r.started_at - interval '30 days' + s.seq * interval '1 minute'
      from journey_runs r, generate_series(1, 2) s(seq)
      where substring(r.workflow_id from 3)::int % 7 = 0`);
    // Migrated runs: the same run journaled on version 3 after version 1 (seq continues).
    await x.execute(sql`
      insert into journey_run_steps (workflow_id, run_id, seq, journey_id, version, contact_id, step_id, entered_at)
      select r.workflow_id, r.run_id, 10, r.journey_id, 3, r.contact_id, 'wait', r.started_at + interval '2 days'
      from journey_runs r where r.version = 1 and substring(r.workflow_id from 3)::int % 11 = 0`);
    // Messages: one per run at welcome (some created before any entry, some with no step, some SMS or chat), a second
    // at wait for every 4th run, and messages of workflows never journaled.
    await x.execute(sql`
      insert into messages (idempotency_key, channel, contact_id, journey_id, workflow_id, step_id, recipient, status, created_at)
      select r.workflow_id || ':' || k.step, case when n % 6 = 0 then 'sms' when n % 19 = 0 then 'chat' else 'email' end,
        case when n % 37 = 0 then null else r.contact_id end, r.journey_id, r.workflow_id,
        case when n % 23 = 0 then null else k.step end, 'x',
        (array['sent', 'delivered', 'bounced', 'failed', 'suppressed', 'skipped', 'reserved'])[1 + (n * 3) % 7],
        case when n % 17 = 0 then r.started_at - interval '1 day' else r.started_at + k.after end
      from journey_runs r, lateral (select substring(r.workflow_id from 3)::int as n) w,
        lateral (values ('welcome', interval '30 seconds'), ('wait', interval '3 minutes')) k(step, after)
      where k.step = 'welcome' or n % 4 = 0`);
    await x.execute(sql`
      insert into messages (idempotency_key, channel, contact_id, journey_id, workflow_id, step_id, recipient, status, created_at)
      select 'legacy' || i, 'email', md5('c' || i)::uuid, 'eq', 'legacy' || i, 'welcome', 'x', 'sent', timestamptz '2025-01-01'
      from generate_series(1, 20) i`);
    // Feedback: bounces of each class, a second report of the same message, complaints.
    await x.execute(sql`
      insert into email_feedback (source, event_id, kind, bounce_class, code, message_id, contact_id, journey_id, step_id, outcome, occurred_at)
      select 'dsn', m.idempotency_key || ':' || k, case when (h + k) % 5 = 0 then 'complaint' else 'bounce' end,
        case when (h + k) % 5 = 0 then null else (array['hard', 'soft', 'policy'])[1 + (h / 3 + k) % 3] end,
        '5.1.1', m.id, m.contact_id, m.journey_id, m.step_id, 'counted', m.created_at + interval '1 hour'
      from messages m, lateral (select abs(hashtext(m.idempotency_key)) as h) hh, generate_series(1, 2) k
      where m.channel = 'email' and (h % 3 = 0 and (k = 1 or h % 2 = 0))`);
    // Engagement: opens (some twice), clicks, unsubscribes with the message key; one on another contact's message; one
    // with no key; MQL events before and after entries.
    await x.execute(sql`
      insert into events (id, type, contact_id, properties, occurred_at)
      select m.idempotency_key || ':' || t.type || ':' || k, t.type,
        case when h % 31 = 0 then md5('c' || (1 + h % ${CONTACTS}))::uuid else m.contact_id end,
        case when h % 29 = 0 then '{}'::jsonb else jsonb_build_object('message_key', m.idempotency_key) end,
        m.created_at + interval '5 minutes'
      from messages m, lateral (select abs(hashtext(m.idempotency_key)) as h) hh,
        (values ('email.opened', 2), ('email.clicked', 3), ('email.unsubscribed', 11)) t(type, every), generate_series(1, 2) k
      where m.contact_id is not null and h % t.every = 0 and (k = 1 or h % 4 = 0)`);
    await x.execute(sql`
      insert into events (id, type, contact_id, occurred_at)
      select 'mql' || i, 'lead.mql', md5('c' || i)::uuid, timestamptz '2025-01-01' + (i % 60 - 10) * interval '1 day'
      from generate_series(1, ${CONTACTS}, 2) i`);
    await x.execute(sql`
      insert into sales_handoffs (idempotency_key, contact_id, journey_id)
      select 'h' || i, md5('c' || i)::uuid, case when i % 5 = 0 then 'eq-other' else 'eq' end from generate_series(1, ${CONTACTS + 40}, 3) i`);
    await x.execute(sql`
      insert into conversions (idempotency_key, journey_id, version, contact_id, goal)
      select 'wf' || i || ':goal:g', 'eq', 1 + i % 3, md5('c' || (1 + i % ${CONTACTS}))::uuid, 'g' from generate_series(1, ${RUNS}, 4) i`);
  });
  afterAll(async () => {
    await db?.drop();
  });

  const scopes: StatsScope[] = [{ journeyId: 'eq' }, { journeyId: 'eq', version: 1 }, { journeyId: 'eq', version: 2 }, { journeyId: 'eq', version: 3 }, { journeyId: 'eq-other' }];
  const byStep = <T extends { stepId: string }>(xs: T[]) => [...xs].sort((a, b) => (a.stepId < b.stepId ? -1 : a.stepId > b.stepId ? 1 : 0));

  it('the history has the cases it is meant to have', async () => {
    const [r] = (
      (await db.db.execute(sql`
        select
          (select count(*) from (select workflow_id, run_id, step_id from journey_run_steps group by 1, 2, 3 having count(*) > 1) l)::int as loops,
          (select count(*) from (select workflow_id from journey_run_steps group by 1 having count(distinct run_id) > 1) e)::int as reentries,
          (select count(*) from (select workflow_id, run_id from journey_run_steps group by 1, 2 having count(distinct version) > 1) m)::int as migrated,
          (select count(*) from email_feedback f group by message_id order by 1 desc limit 1)::int as most_reports,
          (select count(*) from events where type = 'email.opened' and properties->>'message_key' is null)::int as keyless`)) as unknown as { rows: Record<string, number>[] }
    ).rows;
    expect(r!.loops).toBeGreaterThan(0);
    expect(r!.reentries).toBeGreaterThan(0);
    expect(r!.migrated).toBeGreaterThan(0);
    expect(r!.most_reports).toBeGreaterThan(1);
    expect(r!.keyless).toBeGreaterThan(0);
  });

  it.each(scopes)('steps, runs, entries and MQLs: %o', async (scope) => {
    const [entered, runs, entries] = await Promise.all([stepEntered(db.db, scope), runCounts(db.db, scope), entryCounts(db.db, scope)]);
    expect(byStep(stepCountsOf(entered, runs))).toEqual(byStep(await old.stepCounts(db.db, scope)));
    // Same statuses in the same (status) order.
    expect(Object.entries(runsByStatusOf(runs))).toEqual(Object.entries(await old.runsByStatus(db.db, scope)));
    expect(entries).toEqual({ ...(await old.entryCounts(db.db, scope)), mqls: await old.mqlCounts(db.db, scope) });
    expect(entries.runs).toBeGreaterThan(0);
  });

  it.each(scopes)('messages, engagement and deliverability: %o', async (scope) => {
    const report = await messageReport(db.db, scope);
    const counts = await old.messageCounts(db.db, scope);
    // The old query ordered by channel and status only; versions within them came in any order.
    const key = (m: { channel: string; status: string; version: number | null }) => `${m.channel}\u0000${m.status}\u0000${m.version ?? -1}`;
    expect([...report.counts].sort((a, b) => (key(a) < key(b) ? -1 : 1))).toEqual([...counts].sort((a, b) => (key(a) < key(b) ? -1 : 1)));
    expect(report.counts.map((m) => [m.channel, m.status])).toEqual(counts.map((m) => [m.channel, m.status]));
    expect(report.engagement).toEqual(await old.engagementCounts(db.db, scope));
    expect(report.deliverability).toEqual(await old.deliverabilityCounts(db.db, scope));
    if (scope.journeyId === 'eq') {
      expect(report.counts.length).toBeGreaterThan(3);
      expect(report.engagement.opened).toBeGreaterThan(0);
      expect(report.deliverability.some((d) => d.hard > 0 && d.soft > 0 && d.complained > 0)).toBe(true);
    }
  });

  it.each(scopes)('live counts: %o', async (scope) => {
    const live = await journeyLive(db.db, scope);
    const was = await old.oldJourneyLive(db.db, scope);
    expect(live).toEqual(was);
    expect(live!.steps.some((s) => s.failed > 0)).toBe(true);
  });
});
