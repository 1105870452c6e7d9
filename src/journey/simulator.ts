/**
 * Journey simulator: drives the interpreter core with a virtual clock and a scripted timeline, to
 * preview the path a contact would take ("what happens to a lead who clicks on day 3?") and to test
 * long-horizon behaviour (days of waits) in microseconds.
 *
 * Everything the Temporal shell does is played here by fakes: actions succeed (unless scripted to
 * fail) and update a simulated contact, timers fire at their time, events arrive at theirs.
 */
import { inInstantRange } from '../bounds';
import { formatDuration, parseSignedDuration } from './duration';
import {
  applyContactEffect,
  initialState,
  step,
  type Action,
  type ActionKind,
  type ActionOutcome,
  type Command,
  type Input,
  type JourneyEvent,
  type LogKind,
  type Outcome,
  type RunState,
} from './interpreter';
import { entryKeyOf, reachesKeyedRun } from './entry';
import type { JourneyPlan, PlanStep } from './plan';
import { applyChanges, parseChanges } from './contact-changes';
import type { Contact, MessageChannel } from './schema';
import { evaluate, resolveField } from './conditions';
import { formatLocal } from './cron';
import { localTime, resolveTimeZone } from './time';
import { isoDate, nextOccurrence, parseDateValue } from '../triggers/occurrence';
import { DATE_REACHED_EVENT, dateReachedProperties } from '../triggers/event';

export interface TimelineEntry {
  /** ISO date-time, or an offset from the start such as `+2d`, `+1d12h`, `+90m`. */
  at: string | number;
  type: string;
  properties?: Record<string, unknown>;
  id?: string;
  /**
   * Contact changes that come with the event (merged into the simulated contact first). A `contact.updated` without it
   * applies its `properties.changes` (`{ path: { from, to } }`) instead, as production does.
   */
  contact?: Partial<Contact>;
}

/** Scripted result for matching actions, e.g. `{ kind: 'send_email', outcome: 'failed', permanent: true }`. */
export interface ScriptedResult {
  kind?: ActionKind;
  stepId?: string;
  outcome: 'ok' | 'failed';
  /** @default true */
  permanent?: boolean;
  /** @default "scripted failure" */
  error?: string;
  data?: Record<string, unknown>;
  /** How many matching actions this applies to. @default every one */
  times?: number;
}

export type ResultPolicy = (action: Action, stepId: string, at: number) => ActionOutcome | undefined;

export interface SimulationOptions {
  contact: Contact;
  events?: TimelineEntry[];
  /** ISO date-time or epoch ms. @default the current time */
  start?: string | number;
  /** @default an event of the plan's first event trigger type, at the start time */
  trigger?: { type: string; properties?: Record<string, unknown> };
  /** Scripted outcomes (first match wins), or a function; unmatched actions succeed. */
  results?: ScriptedResult[] | ResultPolicy;
  /** Messages sent to the contact before the run (other journeys), for frequency caps. */
  priorMessages?: { channel: MessageChannel; at: string | number }[];
  /** Virtual time each action takes; events in between arrive while it is outstanding. @default 0 */
  actionLatencyMs?: number;
  /** Stop after this many steps entered (a journey that loops through waits never ends). @default 500 */
  maxSteps?: number;
}

export interface SimulationResult {
  outcome: {
    status: Outcome | 'waiting' | 'step_cap';
    reason: string;
    at: string;
  };
  start: string;
  /** The journey's time zone (settings.timezone): the text form shows every time in it. */
  timezone: string;
  path: { at: string; atMs: number; stepId: string; type: PlanStep['type'] }[];
  actions: { at: string; atMs: number; commandId: string; stepId: string; action: Action; result: 'ok' | 'failed' | 'not_run' }[];
  log: { at: string; atMs: number; stepId: string | null; kind: LogKind; detail: string }[];
  goals: string[];
  /** The arm taken at each split step, in order; a holdout arm's message steps are skipped (`heldOut` counts them). */
  arms: { splitId: string; arm: string; holdout: boolean }[];
  /** Message steps (email, SMS) skipped because the run is in a holdout arm. */
  heldOut: number;
  cost: { currency: string; total: number; byChannel: Record<string, number> };
  contact: Contact;
  state: RunState;
  /** For each date trigger: when this contact enters next (after the start), or why it does not. Absent without date triggers. */
  dateEntries?: DateEntry[];
}

export type DateEntry = {
  field: string;
  /** The next occurrence: its field date, instant and the contact's wall clock then. */
  next?: { date: string; at: string; local: string; timezone: string };
  /** The `date.reached` properties the run would start with. */
  event?: Record<string, unknown>;
  reason?: string;
};

/** When the contact enters each of the plan's date triggers next, after `after` (src/triggers/occurrence.ts). */
export function dateEntries(plan: JourneyPlan, contact: Contact, after: number): DateEntry[] | undefined {
  const out: DateEntry[] = [];
  for (const t of plan.triggers) {
    if (t.type !== 'date') continue;
    const field = t.field.join('.');
    const value = resolveField(contact, t.field);
    if (value === undefined || value === null || value === '') {
      out.push({ field, reason: `the contact has no ${field}` });
      continue;
    }
    const parsed = parseDateValue(value);
    if (!parsed) {
      out.push({ field, reason: `${field} is not a date (an ISO date such as 2027-03-01, or a date-time); the sweep skips this contact` });
      continue;
    }
    const tz = resolveTimeZone(contact.timezone, plan.settings.timezone);
    const occ = nextOccurrence(parsed, t, tz, after);
    if (!occ) {
      out.push({ field, reason: `its entry time has passed (a one-off date)` });
      continue;
    }
    const p = localTime(occ.at, tz);
    const local = `${isoDate(p)} ${String(p.hour).padStart(2, '0')}:${String(p.minute).padStart(2, '0')}`;
    const entry: DateEntry = { field, next: { date: occ.date, at: new Date(occ.at).toISOString(), local, timezone: tz }, event: dateReachedProperties(t, occ, tz) };
    if (t.audience && !evaluate(t.audience, { contact, now: occ.at, enteredAt: occ.at, events: [] })) entry.reason = 'not in the trigger audience now (checked again at the entry time)';
    out.push(entry);
  }
  return out.length > 0 ? out : undefined;
}

/** Epoch ms for an ISO string, epoch number, or `+2d` style offset from `base`. */
/** The last instant a JavaScript Date can show: the simulation stops before a timer or event beyond it. */
const LAST_DATE_MS = 8.64e15;

export function resolveTime(at: string | number, base: number): number {
  let t: number;
  if (typeof at === 'number') t = at;
  else if (/^[+-]/.test(at)) {
    const off = parseSignedDuration(at);
    if (off === undefined) throw new Error(`${JSON.stringify(at)} is not a time (use an ISO date-time or an offset such as +2d)`);
    t = base + off;
  } else {
    t = Date.parse(at);
    if (Number.isNaN(t)) throw new Error(`${JSON.stringify(at)} is not a time (use an ISO date-time or an offset such as +2d)`);
  }
  // Times the simulation shows as ISO date-times, as the API takes them.
  if (!inInstantRange(t)) {
    throw new Error(`${JSON.stringify(at)} is outside the years 0001 to 9999`);
  }
  return t;
}

const iso = (t: number) => new Date(t).toISOString();
/** The event every write to a contact emits (src/ingest/contact-routing.ts routes it in production). */
const CONTACT_UPDATED = 'contact.updated';
const SENDS: Partial<Record<ActionKind, MessageChannel>> = { send_email: 'email', send_sms: 'sms' };
const COST_CHANNEL: Partial<Record<ActionKind, 'email' | 'sms' | 'webhook' | 'notify'>> = { send_email: 'email', send_sms: 'sms', webhook: 'webhook', notify: 'notify' };

export function simulate(plan: JourneyPlan, opts: SimulationOptions): SimulationResult {
  const startAt = opts.start === undefined ? Date.now() : resolveTime(opts.start, 0);
  const latency = opts.actionLatencyMs ?? 0;
  const maxSteps = opts.maxSteps ?? 500;
  let contact: Contact = opts.contact;

  // A keyed journey's run hears only its key's events (and the contact's keyless ones), as the router delivers them.
  const keyPath = plan.entry.key;
  const runKey = keyPath ? entryKeyOf(keyPath, { properties: opts.trigger?.properties ?? {} }) : undefined;
  const keyedTypes = plan.triggers.flatMap((t) => (t.type === 'event' ? [t.event] : []));
  const timeline = (opts.events ?? [])
    .filter((e) => !keyPath || runKey === undefined || reachesKeyedRun(keyPath, keyedTypes, runKey, { type: e.type, properties: e.properties ?? {} }))
    .map((e, i) => ({ ...e, atMs: resolveTime(e.at, startAt), id: e.id ?? `sim-event-${i + 1}` }))
    .sort((a, b) => a.atMs - b.atMs);
  const toEvent = (e: (typeof timeline)[number]): JourneyEvent => ({ id: e.id, type: e.type, properties: e.properties ?? {}, occurredAt: e.atMs });
  const history = timeline.filter((e) => e.atMs < startAt).map(toEvent);
  const upcoming = timeline.filter((e) => e.atMs >= startAt);

  const sent: { channel: MessageChannel; at: number }[] = (opts.priorMessages ?? []).map((m) => ({ channel: m.channel, at: resolveTime(m.at, startAt) }));
  const scripted = Array.isArray(opts.results) ? opts.results.map((r) => ({ ...r, left: r.times ?? Infinity })) : [];
  const policy = typeof opts.results === 'function' ? opts.results : undefined;

  const result: SimulationResult = {
    outcome: { status: 'waiting', reason: '', at: iso(startAt) },
    start: iso(startAt),
    timezone: plan.settings.timezone,
    path: [],
    actions: [],
    log: [],
    goals: [],
    arms: [],
    heldOut: 0,
    cost: { currency: plan.settings.costs.currency, total: 0, byChannel: {} },
    contact,
    state: initialState(plan),
  };
  // From just before the start: a simulation started at the entry instant shows that entry.
  const dates = dateEntries(plan, contact, startAt - 1);
  if (dates) result.dateEntries = dates;

  let state = result.state;
  let now = startAt;
  const timers = new Map<string, number>();
  const actionQueue: Extract<Command, { type: 'action' }>[] = [];
  let inflight: { cmd: Extract<Command, { type: 'action' }>; at: number } | undefined;

  const outcomeFor = (cmd: Extract<Command, { type: 'action' }>): ActionOutcome => {
    const custom = policy?.(cmd.action, cmd.stepId, now);
    if (custom) return custom;
    const rule = scripted.find((r) => r.left > 0 && (r.kind === undefined || r.kind === cmd.action.kind) && (r.stepId === undefined || r.stepId === cmd.stepId));
    if (rule) {
      rule.left -= 1;
      if (rule.outcome === 'failed') return { status: 'failed', permanent: rule.permanent ?? true, error: rule.error ?? 'scripted failure' };
      return { status: 'ok', ...(rule.data ? { data: rule.data } : {}) };
    }
    const a = cmd.action;
    switch (a.kind) {
      case 'load_contact':
        return { status: 'ok', contact };
      case 'count_messages':
        return { status: 'ok', data: { sentAt: sent.filter((m) => m.channel === a.channel && m.at >= a.since).map((m) => m.at) } };
      case 'handoff_to_sales':
        return { status: 'ok', data: { ownerId: a.owner ?? `${a.team}-rep-1` } };
      default:
        return { status: 'ok' };
    }
  };

  const feed = (input: Input) => {
    const r = step(plan, state, input);
    state = r.state;
    for (const c of r.commands) {
      switch (c.type) {
        case 'enter_step':
          result.path.push({ at: iso(c.at), atMs: c.at, stepId: c.stepId, type: c.stepType });
          break;
        case 'action':
          if (c.action.kind === 'record_goal' || c.action.kind === 'record_arm') {
            // Fire-and-forget, as in the workflow: nothing to wait for.
            if (c.action.kind === 'record_goal') result.goals.push(c.action.goalId);
            else result.arms.push({ splitId: c.action.splitId, arm: c.action.arm, holdout: c.action.holdout });
            result.actions.push({ at: iso(now), atMs: now, commandId: c.commandId, stepId: c.stepId, action: c.action, result: 'ok' });
          } else actionQueue.push(c);
          break;
        case 'start_timer':
          timers.set(c.timerId, c.at);
          break;
        case 'cancel_timer':
          timers.delete(c.timerId);
          break;
        case 'log':
          result.log.push({ at: iso(c.at), atMs: c.at, stepId: c.stepId, kind: c.kind, detail: c.detail });
          break;
        case 'complete':
          result.outcome = { status: c.outcome, reason: c.reason, at: iso(c.at) };
          break;
      }
    }
  };

  // A run started by a contact change loads the contact after it (production reads it from the database).
  const triggerChanges = opts.trigger?.type === CONTACT_UPDATED ? parseChanges(opts.trigger.properties ?? {}) : undefined;
  if (triggerChanges) result.contact = contact = applyChanges(contact, triggerChanges, 'to');
  feed({
    type: 'start',
    at: startAt,
    contact,
    ...(history.length > 0 ? { history } : {}),
    trigger: {
      id: 'sim-trigger',
      type:
        opts.trigger?.type ??
        plan.triggers.find((t) => t.type === 'event')?.event ??
        (plan.triggers.some((t) => t.type === 'change') ? CONTACT_UPDATED : plan.triggers[0]?.type === 'date' ? DATE_REACHED_EVENT : 'simulation.start'),
      properties: opts.trigger?.properties ?? (!opts.trigger && !plan.triggers.some((t) => t.type === 'event') ? result.dateEntries?.find((d) => d.event)?.event : undefined) ?? {},
      occurredAt: startAt,
    },
  });

  let next = 0;
  while (state.status !== 'done') {
    if (state.stepCount >= maxSteps) {
      result.outcome = { status: 'step_cap', reason: `stopped after ${maxSteps} steps (the journey may loop forever)`, at: iso(now) };
      break;
    }
    if (!inflight && actionQueue.length > 0) inflight = { cmd: actionQueue.shift()!, at: now + latency };
    let timerId: string | undefined;
    let timerAt = Infinity;
    for (const [id, at] of timers) if (at < timerAt) [timerId, timerAt] = [id, at];
    const eventAt = upcoming[next]?.atMs ?? Infinity;
    const actionAt = inflight?.at ?? Infinity;
    const t = Math.min(actionAt, eventAt, timerAt);
    if (t === Infinity) {
      result.outcome = { status: 'waiting', reason: `waiting at ${state.stepId ?? '(start)'} with nothing scheduled`, at: iso(now) };
      break;
    }
    if (t > LAST_DATE_MS) {
      // A wait of millions of days: what comes next has no date to show, so the preview ends here.
      result.outcome = { status: 'waiting', reason: `waiting at ${state.stepId ?? '(start)'} until after the last date a clock can show`, at: iso(now) };
      break;
    }
    now = Math.max(now, t);
    // Same instant: action results first (they are immediate), then events, then timers, so an
    // event arriving exactly at a timeout still counts.
    if (actionAt === t && inflight) {
      const { cmd } = inflight;
      inflight = undefined;
      const outcome = outcomeFor(cmd);
      if (outcome.status === 'ok') {
        const channel = SENDS[cmd.action.kind];
        if (channel) sent.push({ channel, at: now });
        const costKey = COST_CHANNEL[cmd.action.kind];
        if (costKey) {
          const cost = plan.settings.costs[costKey];
          result.cost.byChannel[costKey] = (result.cost.byChannel[costKey] ?? 0) + cost;
          result.cost.total += cost;
        }
        if (!outcome.contact) {
          contact = applyContactEffect(contact, cmd.action, outcome.data);
        }
      }
      result.actions.push({ at: iso(now), atMs: now, commandId: cmd.commandId, stepId: cmd.stepId, action: cmd.action, result: outcome.status });
      const withContact: ActionOutcome = outcome.status === 'ok' && !outcome.contact && cmd.action.kind !== 'count_messages' ? { ...outcome, contact } : outcome;
      feed({ type: 'action_result', at: now, commandId: cmd.commandId, outcome: withContact });
    } else if (eventAt === t) {
      const e = upcoming[next++]!;
      // A contact.updated carries its changes as production's does; the run gets the contact after them.
      const changes = e.type === CONTACT_UPDATED && !e.contact ? parseChanges(e.properties ?? {}) : undefined;
      if (e.contact) contact = { ...contact, ...e.contact };
      else if (changes) contact = applyChanges(contact, changes, 'to');
      feed({ type: 'event', at: now, event: toEvent(e), ...(e.contact || changes ? { contact } : {}) });
    } else if (timerId !== undefined) {
      timers.delete(timerId);
      feed({ type: 'timer_fired', at: now, timerId });
    }
  }
  for (const cmd of [...(inflight ? [inflight.cmd] : []), ...actionQueue]) {
    result.actions.push({ at: iso(now), atMs: now, commandId: cmd.commandId, stepId: cmd.stepId, action: cmd.action, result: 'not_run' });
  }
  result.cost.total = Math.round(result.cost.total * 1e6) / 1e6;
  result.contact = contact;
  result.state = state;
  result.heldOut = state.heldOut ?? 0;
  return result;
}

function describeAction(a: Action): string {
  switch (a.kind) {
    case 'send_email':
      return `email ${a.template} (${a.locale})`;
    case 'send_sms':
      return `sms ${a.template ?? JSON.stringify(a.body)} (${a.locale})`;
    case 'webhook':
      return `webhook ${a.method} ${a.url}`;
    case 'notify':
      return `notify ${a.channel} → ${typeof a.to === 'string' ? a.to : 'user' in a.to ? `user ${a.to.user}` : `group ${a.to.group}`}`;
    case 'update_score':
      return `score ${a.delta > 0 ? '+' : ''}${a.delta} (${a.reason})`;
    case 'tag':
      return `tag ${a.tags.join(', ')}`;
    case 'untag':
      return `untag ${a.tags.join(', ')}`;
    case 'set_attribute':
      return `set ${a.field} = ${JSON.stringify(a.value)}`;
    case 'set_lifecycle_stage':
      return `lifecycle → ${a.stage}`;
    case 'handoff_to_sales':
      return `handoff to ${a.owner !== undefined ? `owner ${a.owner}` : `team ${a.team}`}${a.task ? `, task due ${iso(a.task.dueAt)}` : ''}`;
    case 'record_goal':
      return `goal ${a.goalId}`;
    case 'record_arm':
      return `arm ${a.arm} of split ${a.splitId}${a.holdout ? ' (holdout: no messages)' : ''}`;
    case 'load_contact':
      return 'load contact';
    case 'count_messages':
      return `count ${a.channel} messages`;
  }
}

/** Human-readable path: one line per step, action and notable decision, offsets from the start. */
export function formatSimulation(r: SimulationResult): string {
  const start = Date.parse(r.start);
  const rel = (t: number) => (t === start ? '+0s' : `+${formatDuration(t - start)}`);
  type Line = { t: number; order: number; text: string };
  const lines: Line[] = [];
  r.path.forEach((p, i) => lines.push({ t: p.atMs, order: i * 3, text: `→ ${p.stepId} (${p.type})` }));
  const stepOrder = (stepId: string | null, t: number) => {
    let idx = -1;
    r.path.forEach((p, i) => {
      if (p.stepId === stepId && p.atMs <= t) idx = i;
    });
    return idx * 3;
  };
  for (const a of r.actions) {
    // The split_assigned line already shows the arm.
    if (a.action.kind === 'load_contact' || a.action.kind === 'count_messages' || a.action.kind === 'record_arm') continue;
    lines.push({ t: a.atMs, order: stepOrder(a.stepId, a.atMs) + 1, text: `    ${describeAction(a.action)}${a.result === 'ok' ? '' : ` [${a.result}]`}` });
  }
  for (const l of r.log) {
    if (l.kind === 'branch_taken' || l.kind === 'split_assigned' || l.kind === 'held_out' || l.kind.startsWith('deferred') || l.kind.startsWith('skipped') || l.kind === 'matched_earlier_event' || l.kind === 'wait_timed_out' || l.kind === 'event_matched') {
      lines.push({ t: l.atMs, order: stepOrder(l.stepId, l.atMs) + 2, text: `    ${l.kind.replace(/_/g, ' ')}: ${l.detail}` });
    }
  }
  lines.sort((a, b) => a.t - b.t || a.order - b.order);
  const out = (r.dateEntries ?? []).map((d) =>
    d.next ? `date trigger ${d.field}: enters next ${d.next.local} ${d.next.timezone} (${d.next.at}, for ${d.next.date})${d.reason ? ` — ${d.reason}` : ''}` : `date trigger ${d.field}: does not enter: ${d.reason}`,
  );
  // Wall-clock times in the journey's zone (quiet hours and send windows read in it), the offset from the start beside.
  const local = (t: number) => formatLocal(t, r.timezone, { seconds: true });
  out.push(`times in ${r.timezone} (the journey's time zone)`);
  out.push(...lines.map((l) => `${local(l.t)}  ${rel(l.t).padEnd(10)} ${l.text}`));
  out.push(`outcome: ${r.outcome.status}${r.outcome.reason ? ` (${r.outcome.reason})` : ''} at ${local(Date.parse(r.outcome.at))} (${r.outcome.at})`);
  if (r.cost.total > 0) out.push(`cost: ${r.cost.total} ${r.cost.currency}`);
  if (r.arms.length > 0) {
    out.push(`arms: ${r.arms.map((a) => `${a.splitId} → ${a.arm}${a.holdout ? ' (holdout)' : ''}`).join(', ')}${r.heldOut > 0 ? `; ${r.heldOut} message${r.heldOut === 1 ? '' : 's'} held back` : ''}`);
  }
  return out.join('\n');
}
