/**
 * The differential harness: one case (contact, trigger, timeline) run through the simulator and through production —
 * the real workflow on the Temporal dev server, Postgres, the SMTP sink, the ingest path (POST /v1/events) — and the
 * two results compared: step path, messages, tags, attributes, score changes, goals and outcome.
 *
 * Time. Both sides run the same compiled plan, scaled by CompileOptions.timeScale so that the journey's shortest timer
 * lasts UNIT_MS. Timeline events are placed in the simulator's virtual time; production posts each one relative to
 * the step the run entered last (its step journal row), the same offset the simulator has between that step and the
 * event, so the latency of the actions before it does not move the event across a timer. Events are kept at least
 * MARGIN_MS from every instant the simulator enters a step or a timer could fire, and from each other: the order at
 * one instant (results, then events, then timers) is then never what decides.
 *
 * Calendar. Quiet hours, send windows, `until_time` and `until_date` on a contact's date cannot be scaled. A case
 * whose simulated run reaches one of them (a deferred send, a calendar wait) is compared up to that step, and then by
 * the timer production recorded in its history: it must fire when the simulator says (within CALENDAR_TOLERANCE_MS);
 * the run is then terminated. Most cases pick a zone where sending is allowed now, so later steps are reached too.
 */
import request from 'supertest';
import { and, asc, eq, inArray } from 'drizzle-orm';
import type { Client } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { applyContactEffect, type Action } from '../../src/journey/interpreter';
import { simulate, type SimulationResult } from '../../src/journey/simulator';
import type { JourneyPlan, PlanStep } from '../../src/journey/plan';
import type { Contact, Scalar } from '../../src/journey/schema';
import { toJourneyContact } from '../../src/db/contact-view';
import type { Db } from '../../src/db/client';
import { findContactById } from '../../src/db/queries';
import { contacts, conversions, journeyRunSteps, messages, scoreEvents } from '../../src/db/schema';
import type { TestStack } from '../helpers/stack';
import { scaled, TIME_SCALE } from '../helpers/timing';
import { until } from '../helpers/until';
import { startJourneyRun } from '../../src/ingest/router';
import { dateEntryKey } from '../../src/contracts';
import { DATE_REACHED_EVENT } from '../../src/triggers/event';
import { ZONES, type Case } from './cases';

/**
 * How long the shortest timer of a journey lasts in real time: 3 s on an idle machine, up to 9 s on a loaded one
 * (TIME_SCALE), because what an event must not cross is a timer shifted by the latency of the steps before it.
 */
export const UNIT_MS = Number(process.env.DIFFERENTIAL_UNIT_MS ?? 3000 * Math.min(3, TIME_SCALE));
/** Minimum distance between an event and anything else that happens (30% of a unit). */
export const MARGIN_MS = Math.round(UNIT_MS * 0.3);
/** A calendar timer fires at an absolute instant; both sides compute it from nearly the same "now". */
const CALENDAR_TOLERANCE_MS = 5_000;

export interface PreparedJourney {
  id: string;
  plan: JourneyPlan;
  /** The factor the plan's durations were divided by. */
  factor: number;
  /** The published version production runs. */
  version: number;
}

/** Durations that become timers or windows on the run's own clock (what the scale is chosen from). */
export function runDurations(plan: JourneyPlan): number[] {
  const out: number[] = [];
  for (const s of Object.values(plan.steps)) {
    if (s.type === 'wait' && s.wait.mode === 'duration') out.push(s.wait.ms);
    if (s.type === 'wait' && s.wait.mode === 'until_date' && s.wait.field[0] === 'journey') out.push(s.wait.offsetMs);
    if (s.type === 'wait_for_event') out.push(s.timeoutMs);
  }
  for (const g of plan.goals) if (g.withinMs !== undefined) out.push(g.withinMs);
  return out.filter((x) => x > 0);
}

/** The scale that makes the journey's shortest timer one unit. */
export function chooseScale(plan: JourneyPlan): number {
  const ds = runDurations(plan);
  return (ds.length ? Math.min(...ds) : 86_400_000) / UNIT_MS;
}

// --- the simulated side ----------------------------------------------------------------------------------------------

type PlacedEvent = { atMs: number; type: string; properties: Record<string, unknown> };

export interface Expectation {
  sim: SimulationResult;
  events: PlacedEvent[];
  /** Index in sim.path of a calendar step the comparison stops at, with the time its timer fires. */
  cut?: { index: number; at: number; firesAt?: number };
}

const SEND_KINDS: Partial<Record<Action['kind'], string>> = { send_email: 'email', send_sms: 'sms', webhook: 'webhook', notify: 'chat' };

function calendarCut(plan: JourneyPlan, sim: SimulationResult): Expectation['cut'] {
  for (let i = 0; i < sim.path.length; i++) {
    const p = sim.path[i]!;
    const step: PlanStep = plan.steps[p.stepId]!;
    const calendarWait = step.type === 'wait' && (step.wait.mode === 'until_time' || (step.wait.mode === 'until_date' && step.wait.field[0] !== 'journey'));
    const deferred = sim.log.some((l) => l.stepId === p.stepId && l.atMs === p.atMs && l.kind === 'deferred_quiet_hours');
    const later = [...sim.path.slice(i + 1).map((x) => x.atMs), ...sim.actions.filter((a) => a.atMs > p.atMs).map((a) => a.atMs)];
    const firesAt = later.length ? Math.min(...later) : undefined;
    if (deferred || (calendarWait && (firesAt === undefined || firesAt > p.atMs) && sim.path[i + 1]?.atMs !== p.atMs)) {
      return { index: i, at: p.atMs, ...(firesAt !== undefined && firesAt > p.atMs ? { firesAt } : {}) };
    }
  }
  return undefined;
}

/** Instants an event must keep away from: step entries and every timer or window the simulated run armed. */
function criticalInstants(plan: JourneyPlan, sim: SimulationResult, start: number): number[] {
  const out = [start];
  for (const p of sim.path) {
    out.push(p.atMs);
    const s = plan.steps[p.stepId]!;
    if (s.type === 'wait' && s.wait.mode === 'duration') out.push(p.atMs + s.wait.ms);
    if (s.type === 'wait' && s.wait.mode === 'until_date' && s.wait.field[0] === 'journey') out.push(start + s.wait.offsetMs);
    if (s.type === 'wait_for_event') out.push(p.atMs + s.timeoutMs);
  }
  for (const g of plan.goals) if (g.withinMs !== undefined) out.push(start + g.withinMs);
  for (const a of sim.actions) out.push(a.atMs);
  return out;
}

/**
 * The trigger event a run starts with: the first event trigger's type, or `date.reached` for a date-triggered journey
 * (production starts those as the sweep does, below).
 */
function triggerTypeOf(plan: JourneyPlan): string {
  const event = plan.triggers.find((t) => t.type === 'event');
  if (event?.type === 'event') return event.event;
  return plan.triggers.some((t) => t.type === 'date') ? DATE_REACHED_EVENT : 'differential.start';
}

const simulateWith = (plan: JourneyPlan, contact: Contact, start: number, trigger: Record<string, unknown>, events: PlacedEvent[]) =>
  simulate(plan, {
    contact,
    start,
    trigger: { type: triggerTypeOf(plan), properties: trigger },
    events: events.map((e, i) => ({ at: e.atMs, type: e.type, properties: e.properties, id: `ev-${i}` })),
    maxSteps: 200,
  });

/**
 * Simulates the case. Each event in turn is checked against the run as simulated with the events before it: it moves
 * later (by MARGIN_MS steps) while it is within MARGIN_MS of a step entry, an action, a timer or window of that run,
 * or another event, and is dropped when the run has ended or reached a calendar step by then.
 */
export function expect_(plan: JourneyPlan, contact: Contact, start: number, kase: Case): Expectation {
  const endOf = (sim: SimulationResult, cut: Expectation['cut']) =>
    cut ? cut.at : sim.outcome.status === 'waiting' || sim.outcome.status === 'step_cap' ? Infinity : Date.parse(sim.outcome.at);
  // Event times are fractions of the run's length without events (up to the calendar step it stops at, if any).
  const bare = simulateWith(plan, contact, start, kase.trigger, []);
  const bareEnd = endOf(bare, calendarCut(plan, bare));
  const length = Number.isFinite(bareEnd) ? Math.max(0, bareEnd - start) : UNIT_MS;
  const placed: PlacedEvent[] = [];
  let sim = bare;
  for (const e of [...kase.events].sort((a, b) => a.at - b.at)) {
    const end = endOf(sim, calendarCut(plan, sim));
    const critical = [...criticalInstants(plan, sim, start), ...placed.map((x) => x.atMs)];
    const near = (t: number) => critical.some((c) => Math.abs(c - t) < MARGIN_MS);
    // Never before the event placed last: one moved later past its neighbours keeps the timeline in order, so each
    // event is judged against the run with every earlier event (and production is sent them in that order).
    let at = Math.max(start + Math.round(e.at * length), (placed.at(-1)?.atMs ?? -Infinity) + MARGIN_MS);
    for (let k = 0; k < 20 && near(at); k++) at += MARGIN_MS;
    // Past the end the run no longer listens.
    if (near(at) || at > end - MARGIN_MS) continue;
    placed.push({ atMs: at, type: e.type, properties: e.properties });
    sim = simulateWith(plan, contact, start, kase.trigger, placed);
  }
  const cut = calendarCut(plan, sim);
  return { sim, events: placed, ...(cut ? { cut } : {}) };
}

// --- the comparable view of a run --------------------------------------------------------------------------------------

export interface Observed {
  path: string[];
  outcome: string;
  messages: string[];
  emailsDelivered: number;
  tags: string[];
  attributes: Record<string, unknown>;
  score: number;
  lifecycleStage: string | null;
  scoreChanges: number[];
  goals: string[];
  /** Calendar cut: when the timer production armed at the cut step fires. */
  calendarTimer?: number;
}

/**
 * What the simulator says production must show (up to the calendar cut, if any). `salesDirectory`: production assigns
 * hand-offs from sales teams, and each assignment records its CRM webhook as a `crm` message (sent, or skipped
 * without CRM_WEBHOOK_URL); without teams a hand-off is only recorded.
 */
export function expectedView(exp: Expectation, start: Contact, opts: { salesDirectory?: boolean } = {}): Observed {
  const { sim, cut } = exp;
  const upTo = cut ? cut.at : Infinity;
  const path = cut ? sim.path.slice(0, cut.index + 1) : sim.path;
  // After the cut the run waits for the calendar: everything up to that instant happened before it.
  const actions = sim.actions.filter((a) => a.result === 'ok' && a.atMs <= upTo);
  let contact = start;
  for (const a of actions) contact = applyContactEffect(contact, a.action, undefined);
  return {
    path: path.map((p) => p.stepId),
    outcome: cut ? `waiting at ${path[path.length - 1]!.stepId}` : `${sim.outcome.status}:${sim.outcome.reason}`,
    messages: actions.flatMap((a) => {
      const kind = a.action.kind === 'handoff_to_sales' && opts.salesDirectory ? 'crm' : SEND_KINDS[a.action.kind];
      return kind ? [`${a.stepId}:${kind}`] : [];
    }),
    emailsDelivered: actions.filter((a) => a.action.kind === 'send_email').length,
    tags: [...contact.tags].sort(),
    attributes: contact.attributes,
    score: contact.score,
    lifecycleStage: contact.lifecycle_stage ?? null,
    scoreChanges: actions.flatMap((a) => (a.action.kind === 'update_score' ? [a.action.delta] : [])),
    goals: [...new Set(actions.flatMap((a) => (a.action.kind === 'record_goal' ? [a.action.goalId] : [])))].sort(),
    ...(cut?.firesAt !== undefined ? { calendarTimer: cut.firesAt } : {}),
  };
}

/** Field-by-field differences; empty when the two agree. */
export function differences(expected: Observed, actual: Observed): string[] {
  const out: string[] = [];
  for (const k of Object.keys(expected) as (keyof Observed)[]) {
    if (k === 'calendarTimer') continue;
    if (JSON.stringify(expected[k]) !== JSON.stringify(actual[k])) out.push(`${k}: simulator ${JSON.stringify(expected[k])} ≠ production ${JSON.stringify(actual[k])}`);
  }
  if (expected.calendarTimer !== undefined) {
    if (actual.calendarTimer === undefined) out.push(`calendar timer: simulator fires at ${new Date(expected.calendarTimer).toISOString()}, production armed none`);
    else if (Math.abs(actual.calendarTimer - expected.calendarTimer) > CALENDAR_TOLERANCE_MS) {
      out.push(`calendar timer: simulator ${new Date(expected.calendarTimer).toISOString()} ≠ production ${new Date(actual.calendarTimer).toISOString()}`);
    }
  }
  return out;
}

// --- the production side ----------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Polls the step journal of every run being driven with one query, instead of one per run. */
export class JournalPoller {
  private readonly rows = new Map<string, { stepId: string; enteredAt: number }[]>();
  private readonly watched = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly db: Db) {}

  watch(workflowId: string) {
    this.watched.add(workflowId);
    this.timer ??= setInterval(() => void this.poll(), 150);
  }
  unwatch(workflowId: string) {
    this.watched.delete(workflowId);
    this.rows.delete(workflowId);
    if (this.watched.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
  get(workflowId: string) {
    return this.rows.get(workflowId) ?? [];
  }
  private polling = false;
  private async poll() {
    if (this.polling || this.watched.size === 0) return;
    this.polling = true;
    try {
      const rows = await this.db
        .select({ workflowId: journeyRunSteps.workflowId, seq: journeyRunSteps.seq, stepId: journeyRunSteps.stepId, enteredAt: journeyRunSteps.enteredAt })
        .from(journeyRunSteps)
        .where(inArray(journeyRunSteps.workflowId, [...this.watched]))
        .orderBy(asc(journeyRunSteps.workflowId), asc(journeyRunSteps.seq));
      const next = new Map<string, { stepId: string; enteredAt: number }[]>();
      for (const r of rows) {
        if (!next.has(r.workflowId)) next.set(r.workflowId, []);
        next.get(r.workflowId)!.push({ stepId: r.stepId, enteredAt: r.enteredAt.getTime() });
      }
      for (const id of this.watched) this.rows.set(id, next.get(id) ?? []);
    } catch {
      // A slow or failed poll is retried on the next tick.
    } finally {
      this.polling = false;
    }
  }
}

/**
 * Production as the harness sees it: the REST API it posts contacts and events to, itinera's database and the
 * Temporal server it reads runs from, and the SMTP server the workers deliver to. Either the in-process test stack on
 * the dev server (stackProduction) or API and worker processes on the cluster (tests/cluster/differential.test.ts).
 */
export interface Production {
  db: Db;
  temporal: { client: Client; taskQueue: string };
  /** A JSON request with the integration key (alternately to each API process where there are several). */
  request(method: 'PUT' | 'POST', path: string, body: object): Promise<{ status: number; body: unknown }>;
  /** Messages the SMTP server accepted for this address. */
  emailsTo(address: string): number;
  /** Whether hand-offs are assigned from sales teams (journeys/sales/teams.yaml), as the production worker does. */
  salesDirectory: boolean;
}

/** The in-process stack (its express app through supertest, its worker on the dev server) as the production side. */
export function stackProduction(stack: TestStack): Production {
  return {
    db: stack.db.db,
    temporal: { client: stack.temporal.client, taskQueue: stack.temporal.taskQueue },
    async request(method, path, body) {
      const r = await (method === 'PUT' ? request(stack.app).put(path) : request(stack.app).post(path)).set('Authorization', `Bearer ${stack.keys.integration}`).send(body);
      return { status: r.status, body: r.body };
    },
    emailsTo: (address) => stack.smtp.messages.filter((m) => m.envelopeTo.includes(address)).length,
    salesDirectory: false,
  };
}

export interface Driver {
  production: Production;
  journal: JournalPoller;
  /** Tells this run's contacts apart from other runs' (external ids and emails). */
  runTag: string;
}

const toMs = (d: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(d?.seconds ?? 0) * 1000 + Math.floor((d?.nanos ?? 0) / 1e6);

/** When the run's first workflow task started (the time the workflow's Date.now() had at entry). */
async function firstTaskStarted(client: Client, workflowId: string): Promise<number | undefined> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const e = (history.events ?? []).find((x) => x.eventType === proto.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED);
  return e ? toMs(e.eventTime) : undefined;
}

/**
 * The timers the run started, from its history. A timer's duration was computed from the workflow's "now", which is
 * when its workflow task started, not when the task completed and the TimerStarted event was written (seconds apart
 * on a busy server): it fires at that task's start plus the duration.
 */
async function timersOf(client: Client, workflowId: string): Promise<{ startedAt: number; firesAt: number }[]> {
  const { EventType } = proto.api.enums.v1;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  let taskStarted = 0;
  return (history.events ?? []).flatMap((e) => {
    if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED) taskStarted = toMs(e.eventTime);
    if (e.eventType !== EventType.EVENT_TYPE_TIMER_STARTED) return [];
    return [{ startedAt: toMs(e.eventTime), firesAt: taskStarted + toMs(e.timerStartedEventAttributes!.startToFireTimeout) }];
  });
}

function zoneFor(plan: JourneyPlan, contact: Contact, start: number, kase: Case, index: number): string {
  if (kase.zone !== 'allowed') return kase.zone;
  for (let k = 0; k < ZONES.length; k++) {
    const zone = ZONES[(index + k) % ZONES.length]!;
    const exp = expect_(plan, { ...contact, timezone: zone }, start, kase);
    if (!exp.cut) return zone;
  }
  return ZONES[index % ZONES.length]!;
}

let phoneSeq = Math.floor(Math.random() * 1e8);

export interface CaseOutcome {
  workflowId?: string;
  expected: Observed;
  actual: Observed;
  diffs: string[];
  /** An event could not be posted on time (the machine was too slow): the case says nothing either way. */
  late: boolean;
  placed: PlacedEvent[];
  start: number;
  contact: Contact;
  /** Production's history in brief, when the case diverged. */
  history?: string[];
}

/** The run's history in brief (signals, timers, activities), for the report of a divergent case. */
async function historyLines(client: Client, workflowId: string, start: number): Promise<string[]> {
  const { EventType } = proto.api.enums.v1;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const rel = (t: number) => `+${((t - start) / UNIT_MS).toFixed(2)}u`;
  return (history.events ?? []).flatMap((e) => {
    const at = rel(toMs(e.eventTime));
    switch (e.eventType) {
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: {
        const p = e.workflowExecutionSignaledEventAttributes?.input?.payloads?.[0];
        const ev = p?.data ? (JSON.parse(Buffer.from(p.data).toString()) as { type: string; id: string; occurredAt: number }) : undefined;
        return [`${at} signal ${ev?.type} ${ev?.id} occurred ${ev ? rel(ev.occurredAt) : '?'}`];
      }
      case EventType.EVENT_TYPE_TIMER_STARTED:
        return [`${at} timer ${e.timerStartedEventAttributes?.timerId} for ${toMs(e.timerStartedEventAttributes?.startToFireTimeout)} ms`];
      case EventType.EVENT_TYPE_TIMER_FIRED:
        return [`${at} timer fired ${e.timerFiredEventAttributes?.timerId}`];
      case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        return [`${at} activity ${e.activityTaskScheduledEventAttributes?.activityType?.name}`];
      case EventType.EVENT_TYPE_MARKER_RECORDED:
        return [`${at} marker ${e.markerRecordedEventAttributes?.markerName}`];
      case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        return [`${at} workflow task completed`];
      default:
        return [];
    }
  });
}

/** Runs one case on both sides and compares them. */
export async function runCase(d: Driver, j: PreparedJourney, kase: Case, index: number): Promise<CaseOutcome> {
  const p = d.production;
  const client = p.temporal.client;
  const externalId = `diff-${d.runTag}-${j.id}-${index}-${Math.random().toString(36).slice(2, 8)}`;
  const email = `${externalId}@diff.example.com`;
  // Contacts sharing a phone are merged into one: every case gets its own number.
  const phone = `+86139${String((phoneSeq = (phoneSeq + 1) % 1e8)).padStart(8, '0')}`;
  const attributes: Record<string, unknown> = {};
  const body: Record<string, unknown> = {};
  const API: Record<string, string> = { first_name: 'firstName', last_name: 'lastName', company: 'company', job_title: 'jobTitle', industry: 'industry', region: 'region', lifecycle_stage: 'lifecycleStage' };
  for (const [path, v] of Object.entries(kase.fields) as [string, Scalar | null][]) {
    if (v === null) continue;
    if (path.startsWith('attributes.')) attributes[path.slice('attributes.'.length)] = v;
    else if (API[path]) body[API[path]] = String(v);
  }
  const provisional: Contact = { id: `provisional-${index}`, email, phone, tags: kase.tags, attributes, score: 0, locale: kase.locale,
    ...Object.fromEntries(Object.entries(kase.fields).filter(([p]) => !p.startsWith('attributes.'))) } as Contact;
  const zone = zoneFor(j.plan, provisional, Date.now(), kase, index);
  const put = await p.request('PUT', `/v1/contacts/${externalId}`, {
    email, phone, firstName: 'Lin', locale: kase.locale, timezone: zone, tags: kase.tags, attributes,
    consent: { email: 'opted_in', sms: 'opted_in' }, ...body,
  });
  if (put.status !== 200 && put.status !== 201) throw new Error(`PUT contact: ${put.status} ${JSON.stringify(put.body)}`);
  const contactId = (put.body as { id: string }).id;
  const contact = toJourneyContact((await findContactById(p.db, contactId))!);

  const trigger = j.plan.triggers.find((t) => t.type === 'event' || t.type === 'date');
  if (!trigger || (trigger.type !== 'event' && trigger.type !== 'date')) throw new Error(`${j.id} has neither an event nor a date trigger`);
  let posted: { status: number; body: { accepted: { runs: string[] }[] } };
  if (trigger.type === 'event') {
    posted = (await p.request('POST', '/v1/events', { id: `${externalId}-trigger`, type: trigger.event, contact: { externalId }, properties: kase.trigger })) as typeof posted;
    if (posted.status !== 202) throw new Error(`POST trigger: ${posted.status} ${JSON.stringify(posted.body)}`);
  } else {
    // A date trigger: the run starts as the sweep starts it (startJourneyRun with the occurrence's key and a
    // date.reached event). Which contacts and occurrences the sweep picks is tests/e2e/date-triggers.test.ts's business.
    const date = new Date().toISOString().slice(0, 10);
    const field = trigger.field.join('.');
    const r = await startJourneyRun(
      { temporal: client, taskQueue: p.temporal.taskQueue },
      {
        journeyId: j.id, version: j.version, entry: j.plan.entry, contactId, entryKey: dateEntryKey(field, date),
        event: { id: `${externalId}-trigger`, type: DATE_REACHED_EVENT, properties: kase.trigger, occurredAt: Date.now() },
      },
    );
    posted = { status: 202, body: { accepted: [{ runs: r.started ? [r.workflowId] : [] }] } };
  }
  const workflowId = posted.body.accepted[0]!.runs.find((r) => r.startsWith(`journey:${j.id}:`));
  if (!workflowId) {
    const exp = expect_(j.plan, contact, Date.now(), kase);
    const expected = expectedView(exp, contact, { salesDirectory: p.salesDirectory });
    return { expected, placed: exp.events, start: Date.now(), contact, actual: { ...expected, path: [], outcome: `not started: ${JSON.stringify(posted.body.accepted[0])}` }, diffs: ['production started no run'], late: false };
  }
  // The simulated run starts when the real one did (its first workflow task: the run's "now" at entry), so the
  // first task's queueing on a busy server does not shift the run's absolute instants (goal windows, until_date).
  const start = await until(`${workflowId} to start`, () => firstTaskStarted(client, workflowId));
  const exp = expect_(j.plan, contact, start, kase);
  const expected = expectedView(exp, contact, { salesDirectory: p.salesDirectory });
  const base = { expected, placed: exp.events, start, contact };
  d.journal.watch(workflowId);
  let late = false;
  try {
    const deadline = (extraMs: number) => Date.now() + scaled(30_000) + extraMs;
    let posting = true;
    for (const [i, e] of exp.events.entries()) {
      if (!posting) break;
      // The step the run waits at when the event comes (the steps the event itself leads to are entered at its time).
      const k = exp.sim.path.findLastIndex((p) => p.atMs < e.atMs);
      const anchorSim = exp.sim.path[k]!;
      const limit = deadline(e.atMs - start);
      let anchor: { stepId: string; enteredAt: number } | undefined;
      for (;;) {
        const rows = d.journal.get(workflowId);
        const prefixOk = rows.slice(0, k + 1).every((r, x) => r.stepId === exp.sim.path[x]!.stepId);
        if (!prefixOk) break;
        if (rows.length > k) {
          anchor = rows[k];
          break;
        }
        if (Date.now() > limit) break;
        await sleep(50);
      }
      if (!anchor) {
        // Production went elsewhere (or stalled): the comparison below shows where.
        posting = false;
        break;
      }
      // Production runs behind the simulator by the latency of the steps before (and a step's journal row is written
      // after the fire-and-forget actions before it, later than the run's clock entered it). Instants fixed from the
      // start (goal windows, until_date on journey.entered_at) keep their distance from the start; timers of the step
      // keep theirs from when the run entered it, which is no earlier than the start's share. The earlier of the two
      // keeps the event before both, and never before production entered the step it waits at.
      const byStart = start + (e.atMs - exp.sim.path[0]!.atMs);
      const byStep = anchor.enteredAt + (e.atMs - anchorSim.atMs);
      const postAt = Math.max(anchor.enteredAt, Math.min(byStart, byStep));
      await sleep(postAt - Date.now());
      // Late also when production entered the waiting step so long after the simulator did that the event goes out
      // more than half a margin after its distance from the start: an instant fixed from the start (a goal window)
      // may then lie between where the simulator put the event and where production got it (seen under load).
      if (Date.now() - postAt > MARGIN_MS / 2 || postAt < anchor.enteredAt || postAt - byStart > MARGIN_MS / 2) late = true;
      const r = await p.request('POST', '/v1/events', { id: `${externalId}-e${i}`, type: e.type, contact: { externalId }, properties: e.properties });
      if (r.status !== 202) throw new Error(`POST event: ${r.status} ${JSON.stringify(r.body)}`);
    }

    const handle = client.workflow.getHandle(workflowId);
    let outcome: string;
    let calendarTimer: number | undefined;
    const simEnd = exp.cut ? exp.cut.at : Date.parse(exp.sim.outcome.at);
    const limit = deadline(Math.max(0, simEnd - start));
    if (exp.cut) {
      const cutIndex = exp.cut.index;
      for (;;) {
        const rows = d.journal.get(workflowId);
        const desc = await handle.describe();
        if (desc.status.name !== 'RUNNING') break;
        if (rows.length > cutIndex) {
          const timers = (await timersOf(client, workflowId)).filter((t) => t.startedAt >= rows[cutIndex]!.enteredAt - 50);
          if (timers.length > 0) {
            calendarTimer = timers[timers.length - 1]!.firesAt;
            break;
          }
        }
        if (rows.length > cutIndex + 1 || Date.now() > limit) break;
        await sleep(200);
      }
      const desc = await handle.describe();
      if (desc.status.name === 'RUNNING') {
        outcome = `waiting at ${d.journal.get(workflowId).at(-1)?.stepId ?? '(none)'}`;
        await handle.terminate('differential: compared up to a calendar step');
      } else {
        const r = (await handle.result()) as { status: string; reason: string };
        outcome = `${r.status}:${r.reason}`;
      }
    } else {
      const result = await Promise.race([
        handle.result() as Promise<{ status: string; reason: string }>,
        sleep(limit - Date.now()).then(() => undefined),
      ]);
      if (result) outcome = `${result.status}:${result.reason}`;
      else {
        outcome = `still running at ${d.journal.get(workflowId).at(-1)?.stepId ?? '(none)'}`;
        await handle.terminate('differential: did not end when the simulator did');
      }
    }

    // The projection may trail the workflow by a poll; read the journal directly now.
    const path = (await p.db.select().from(journeyRunSteps).where(eq(journeyRunSteps.workflowId, workflowId)).orderBy(asc(journeyRunSteps.seq))).map((r) => r.stepId);
    const sent = await p.db.select().from(messages).where(eq(messages.workflowId, workflowId)).orderBy(asc(messages.createdAt));
    const [row] = await p.db.select().from(contacts).where(eq(contacts.id, contactId));
    const after = toJourneyContact(row!);
    const scores = await p.db.select().from(scoreEvents).where(and(eq(scoreEvents.contactId, contactId), eq(scoreEvents.source, 'journey'))).orderBy(asc(scoreEvents.id));
    const goals = await p.db.select().from(conversions).where(and(eq(conversions.contactId, contactId), eq(conversions.journeyId, j.id)));
    const actual: Observed = {
      path,
      outcome,
      messages: sent.map((m) => `${m.stepId}:${m.channel}`),
      emailsDelivered: p.emailsTo(email),
      tags: [...after.tags].sort(),
      attributes: after.attributes,
      score: after.score,
      lifecycleStage: after.lifecycle_stage ?? null,
      scoreChanges: scores.map((s) => s.delta),
      goals: [...new Set(goals.map((g) => g.goal))].sort(),
      ...(calendarTimer !== undefined ? { calendarTimer } : {}),
    };
    const diffs = differences(expected, actual);
    return { ...base, workflowId, actual, diffs, late, ...(diffs.length ? { history: await historyLines(client, workflowId, start) } : {}) };
  } finally {
    d.journal.unwatch(workflowId);
  }
}

/** A readable account of a divergent case: the journey, the contact, the timeline and both sides. */
export function describeCase(j: PreparedJourney, kase: Case, out: CaseOutcome): string {
  const rel = (t: number) => `+${((t - out.start) / UNIT_MS).toFixed(2)}u`;
  const steps = Object.values(j.plan.steps).map((s) => JSON.stringify(s));
  return [
    `journey ${j.id} (durations ÷ ${j.factor.toFixed(0)}, 1 unit = ${UNIT_MS} ms)${out.workflowId ? `, run ${out.workflowId}` : ''}`,
    ...(j.id.startsWith('gen-') ? [`steps (scaled plan): ${steps.join(' ')}`, `rules: ${JSON.stringify({ exit: j.plan.exitRules, goals: j.plan.goals, entry: j.plan.entry })}`] : []),
    `contact: ${JSON.stringify({ ...out.contact, created_at: undefined })}`,
    `trigger properties: ${JSON.stringify(kase.trigger)}`,
    `timeline: ${out.placed.length ? out.placed.map((e) => `${rel(e.atMs)} ${e.type} ${JSON.stringify(e.properties)}`).join('; ') : '(no events)'}`,
    ...out.diffs.map((x) => `  ${x}`),
    `simulator: ${JSON.stringify(out.expected)}`,
    `production: ${JSON.stringify(out.actual)}`,
    ...(out.late ? ['(an event was posted late: the machine was too slow to hold the margin)'] : []),
    ...(out.history ? ['production history:', ...out.history.map((l) => `  ${l}`)] : []),
  ].join('\n');
}
