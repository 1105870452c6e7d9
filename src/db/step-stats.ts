/**
 * One step of one journey version, as the console's node panel shows it: runs that entered it, the messages it sent
 * (by channel and status, with opens and clicks), and the goal conversions of contacts after they entered it.
 * Everything from indexed tables (journal, messages, events, conversions), never from Temporal.
 */
import { sql } from 'drizzle-orm';
import type { DbOrTx } from './client';
import { MESSAGE_STATUSES } from './stats';

type Row = Record<string, unknown>;
const rowsOf = (r: unknown): Row[] => ((r as { rows?: Row[] }).rows ?? (r as Row[]));
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

export type StepScope = { journeyId: string; version: number; stepId: string };

export type StepDetail = {
  /** Distinct runs that entered the step. */
  entered: number;
  /** Distinct contacts that entered the step. */
  contacts: number;
  messages: {
    total: number;
    /** Channel → status → messages; the usual statuses always present (zeros included). */
    byChannel: Record<string, Record<string, number>>;
    /** Distinct email messages opened, clicked (a message opened five times is one open). */
    opened: number;
    clicked: number;
  };
  /** Per goal: conversions of contacts after they entered the step, and how many contacts converted. */
  conversions: { goal: string; conversions: number; contacts: number }[];
};

/**
 * Messages carry no version: a message belongs to the version of the journal entry into its step that precedes it
 * (the same rule as the journey report, src/db/stats.ts).
 */
const stepMessages = (s: StepScope) => sql`msgs as (
  select m.id, m.idempotency_key, m.contact_id, m.channel, m.status
  from messages m
  join lateral (
    select j.version from journey_run_steps j
    where j.workflow_id = m.workflow_id and j.step_id = m.step_id and j.entered_at <= m.created_at
    order by j.entered_at desc limit 1
  ) v on true
  where m.journey_id = ${s.journeyId} and m.step_id = ${s.stepId} and v.version = ${s.version}
)`;

export async function stepDetail(db: DbOrTx, s: StepScope): Promise<StepDetail> {
  const [entered, msgs, engagement, conv] = await Promise.all([
    db.execute(sql`
      select count(distinct (workflow_id, run_id))::int as runs, count(distinct contact_id)::int as contacts
      from journey_run_steps
      where journey_id = ${s.journeyId} and version = ${s.version} and step_id = ${s.stepId}`),
    db.execute(sql`with ${stepMessages(s)} select channel, status, count(*)::int as n from msgs group by channel, status`),
    db.execute(sql`
      with ${stepMessages(s)}
      select e.type, count(distinct m.id)::int as n
      from msgs m
      join events e on e.contact_id = m.contact_id and e.type in ('email.opened', 'email.clicked') and e.properties->>'message_key' = m.idempotency_key
      where m.channel = 'email'
      group by e.type`),
    db.execute(sql`
      with entered as (
        select contact_id, min(entered_at) as at
        from journey_run_steps
        where journey_id = ${s.journeyId} and version = ${s.version} and step_id = ${s.stepId}
        group by contact_id
      )
      select c.goal, count(*)::int as n, count(distinct c.contact_id)::int as contacts
      from conversions c
      join entered e on e.contact_id = c.contact_id and c.created_at >= e.at
      where c.journey_id = ${s.journeyId} and c.version = ${s.version}
      group by c.goal order by c.goal`),
  ]);
  const e = rowsOf(entered)[0] ?? {};
  const byChannel: Record<string, Record<string, number>> = {};
  let total = 0;
  for (const r of rowsOf(msgs)) {
    const statuses = (byChannel[String(r.channel)] ??= Object.fromEntries(MESSAGE_STATUSES.map((x) => [x, 0])));
    statuses[String(r.status)] = (statuses[String(r.status)] ?? 0) + num(r.n);
    total += num(r.n);
  }
  const by = Object.fromEntries(rowsOf(engagement).map((r) => [String(r.type), num(r.n)]));
  return {
    entered: num(e.runs),
    contacts: num(e.contacts),
    messages: { total, byChannel, opened: by['email.opened'] ?? 0, clicked: by['email.clicked'] ?? 0 },
    conversions: rowsOf(conv).map((r) => ({ goal: String(r.goal), conversions: num(r.n), contacts: num(r.contacts) })),
  };
}
