/**
 * The interpreter core: `step(plan, state, input) → { state, commands }`.
 *
 * Pure and deterministic so that the Temporal workflow (real time) and the simulator (virtual time)
 * drive the same code. Importable from workflow code: no Node builtins, no zod/yaml/handlebars at
 * runtime (type-only imports), no clock or randomness — time arrives in every input.
 *
 * Contract with a shell (see also {@link Command}):
 *  - Feed `start` once, then any mix of `event`, `timer_fired` and `action_result`, in the order they
 *    happen. Events may arrive at any time, also while an action is outstanding.
 *  - Execute commands in order. `action` commands run one at a time; feed each result back with its
 *    `commandId`. Results for commands the run no longer waits for are ignored, as are firings of
 *    timers it no longer waits for, so a shell never needs to reconcile races itself.
 *  - `complete` is always the last command of a run; afterwards every input is a no-op.
 *  - At most one timer is active at a time ({@link activeTimer}); after continue-as-new, re-arm it.
 *
 * Event lookback rule (wait_for_event): a run keeps the events of the types its plan mentions
 * (`plan.eventTypes`) for `plan.retention.ms` (at most `plan.retention.maxEvents` of them). When
 * it reaches a wait_for_event step at time T, an event matches if its type and filters match and
 * it occurred at or after T − lookback (step `lookback`, else `settings.event_lookback`, 15m by
 * default), whether it arrived before the run reached the step or during the wait. Each event
 * satisfies at most one wait_for_event step. The trigger event never does.
 */
import type { Contact, LifecycleStage, MessageChannel, NotifyTarget, Scalar, ChatChannel } from './schema';
import { assertNever, type JourneyPlan, type PlanGoal, type PlanSendEmail, type PlanSendSms, type PlanStep } from './plan';
import { evaluate, matchesFilters, resolveField, toEpoch, type EvalContext } from './conditions';
import { splitPosition } from './hash';
import { nextLocalTime, nextSendTime, resolveTimeZone } from './time';

// --- inputs ---------------------------------------------------------------------------------------

/** An event as stored by the API. Times are epoch milliseconds. */
export interface JourneyEvent {
  id: string;
  type: string;
  properties: Record<string, unknown>;
  occurredAt: number;
}

export type ActionOutcome =
  /** `contact`: the contact after the action, when the shell has it (replaces the run's snapshot). */
  | { status: 'ok'; contact?: Contact; data?: Record<string, unknown> }
  /** `permanent` is informational: the shell has already retried transient failures. */
  | { status: 'failed'; permanent: boolean; error: string; contact?: Contact };

export type Input =
  | {
      type: 'start';
      at: number;
      contact: Contact;
      trigger?: JourneyEvent;
      /** Recent events of the contact (for "event seen within" conditions); optional. */
      history?: JourneyEvent[];
      /**
       * The run began under workflow code that did not record split arms (see the workflow's patch): a split records
       * nothing and holds nothing out, exactly as that code did, so the run replays unchanged.
       */
      legacySplits?: boolean;
    }
  /** `contact`: a fresh snapshot when the event changed the contact (e.g. contact.updated). */
  | { type: 'event'; at: number; event: JourneyEvent; contact?: Contact }
  | { type: 'timer_fired'; at: number; timerId: string }
  | { type: 'action_result'; at: number; commandId: string; outcome: ActionOutcome }
  /** Ops moved the run to a step (repair): the current wait is abandoned; ignored while an action is in flight. */
  | { type: 'move'; at: number; stepId: string };

// --- commands -------------------------------------------------------------------------------------

export type Action =
  | { kind: 'send_email'; template: string; locale: string; subject?: string; from?: string; replyTo?: string; category: 'marketing' | 'transactional'; topic?: string }
  | { kind: 'send_sms'; template?: string; body?: string; locale: string; category: 'marketing' | 'transactional'; topic?: string }
  | { kind: 'webhook'; url: string; method: string; headers: Record<string, string>; body?: unknown; timeoutMs: number; retries: number }
  | { kind: 'notify'; channel: ChatChannel; to: NotifyTarget; message?: string; template?: string; locale: string }
  | { kind: 'update_score'; delta: number; reason: string }
  | { kind: 'tag'; tags: string[] }
  | { kind: 'untag'; tags: string[] }
  /** `field` is a dotted contact path: a built-in field or `attributes.<name>`. */
  | { kind: 'set_attribute'; field: string; value: Scalar }
  | { kind: 'set_lifecycle_stage'; stage: LifecycleStage }
  | {
      kind: 'handoff_to_sales';
      strategy: 'round_robin' | 'territory' | 'owner_attribute';
      /** Round-robin within this team (when no owner was resolved). */
      team?: string;
      /** A specific owner (territory rule or owner attribute). */
      owner?: string;
      task?: { title: string; dueAt: number };
      sla?: { escalateAt: number; escalateTo: 'manager'; channel?: ChatChannel };
    }
  /** Fire-and-forget: the run does not wait for its result. */
  | { kind: 'record_goal'; goalId: string; via: 'step' | 'event' | 'condition' }
  /** Fire-and-forget: the arm this run got at a split step (stats compare arms). */
  | { kind: 'record_arm'; splitId: string; arm: string; holdout: boolean }
  /** Read: result `contact` is the current snapshot. */
  | { kind: 'load_contact' }
  /** Read: result `data.sentAt` lists epoch ms of messages on this channel since `since` (all journeys). */
  | { kind: 'count_messages'; channel: MessageChannel; since: number };

export type ActionKind = Action['kind'];

export type LogKind =
  | 'deferred_quiet_hours'
  | 'deferred_frequency_cap'
  | 'skipped_frequency_cap'
  | 'no_send_slot'
  | 'action_failed'
  | 'matched_earlier_event'
  | 'event_matched'
  | 'wait_timed_out'
  | 'date_missing'
  | 'branch_taken'
  | 'split_assigned'
  /** A message step skipped because the run is in a holdout arm. */
  | 'held_out'
  | 'goal_reached'
  | 'loop_guard';

export type Command =
  /** Run an action; unless `action.kind` is record_goal or record_arm, feed the result back with this commandId. */
  | { type: 'action'; commandId: string; stepId: string; action: Action }
  | { type: 'start_timer'; timerId: string; stepId: string; at: number }
  | { type: 'cancel_timer'; timerId: string }
  /** The run entered a step (for visibility: search attributes, run table). */
  | { type: 'enter_step'; stepId: string; stepType: PlanStep['type']; at: number }
  /** Something worth showing in a run's history or a simulation; shells may ignore it. */
  | { type: 'log'; stepId: string | null; at: number; kind: LogKind; detail: string }
  | { type: 'complete'; outcome: Outcome; reason: string; at: number };

export type Outcome = 'completed' | 'exited' | 'goal';

// --- state ----------------------------------------------------------------------------------------

/** Compact buffered event (short keys: the state is carried across continue-as-new). */
export interface BufferedEvent {
  id: string;
  type: string;
  /** occurredAt */
  at: number;
  p: Record<string, unknown>;
  /** Already satisfied a wait_for_event step. */
  used?: true;
}

export type Waiting =
  | { for: 'nothing' }
  | { for: 'action'; commandId: string; purpose: 'send' | 'effect' | 'count' | 'load' }
  | { for: 'timer'; timerId: string; at: number; purpose: 'wait' | 'send_slot' }
  /** wait_for_event: matching events occurred at or after `since`; the timer is the timeout. */
  | { for: 'event'; timerId: string; at: number; since: number };

export interface RunState {
  v: 1;
  status: 'new' | 'running' | 'done';
  journeyId: string;
  contact: Contact | null;
  trigger: JourneyEvent | null;
  enteredAt: number;
  /** Time of the last input. */
  now: number;
  stepId: string | null;
  waiting: Waiting;
  /** Counter behind command and timer ids (deterministic across replays). */
  seq: number;
  /** Steps entered so far, and inputs/events processed: shells use them to decide on continue-as-new. */
  stepCount: number;
  eventsSeen: number;
  inputCount: number;
  /** The snapshot may be outdated (the run waited since it was loaded). */
  contactStale: boolean;
  events: BufferedEvent[];
  goalsReached: string[];
  outcome: { outcome: Outcome; reason: string; at: number } | null;
  /** The arm taken at each split step passed (optional: states carried from before arms existed lack it). */
  arms?: { split: string; arm: string; holdout?: true }[];
  /** Message steps skipped because the run is held out. */
  heldOut?: number;
  /** Set from the start input's `legacySplits` (or by the workflow for a run carried from such code). */
  legacySplits?: true;
}

export interface StepResult {
  state: RunState;
  commands: Command[];
}

/**
 * Guard against spinning without waiting inside one input. The compiler rejects loops without a
 * wait, but a wait can be instant (until_date in the past), so the interpreter still needs a bound.
 * @default 200
 */
export const MAX_TRANSITIONS_PER_INPUT = 200;

export function initialState(plan: JourneyPlan): RunState {
  return {
    v: 1,
    status: 'new',
    journeyId: plan.id,
    contact: null,
    trigger: null,
    enteredAt: 0,
    now: 0,
    stepId: null,
    waiting: { for: 'nothing' },
    seq: 0,
    stepCount: 0,
    eventsSeen: 0,
    inputCount: 0,
    contactStale: false,
    events: [],
    goalsReached: [],
    outcome: null,
  };
}

/** The timer the shell must have armed (re-arm it after continue-as-new). */
export function activeTimer(state: RunState): { timerId: string; at: number } | undefined {
  const w = state.waiting;
  return w.for === 'timer' || w.for === 'event' ? { timerId: w.timerId, at: w.at } : undefined;
}

/** The action whose result the run waits for; continue-as-new is safe only when there is none. */
export function awaitedCommand(state: RunState): string | undefined {
  return state.waiting.for === 'action' ? state.waiting.commandId : undefined;
}

// --- machinery --------------------------------------------------------------------------------------

interface Ctx {
  plan: JourneyPlan;
  s: RunState;
  cmds: Command[];
  at: number;
  transitions: number;
}

const CHANNEL: Record<'send_email' | 'send_sms', MessageChannel> = { send_email: 'email', send_sms: 'sms' };

function nextId(ctx: Ctx, stepId: string): string {
  ctx.s.seq += 1;
  return `${stepId}:${ctx.s.seq}`;
}

function contact(ctx: Ctx): Contact {
  // Only called after start, when the contact is set.
  return ctx.s.contact!;
}

function evalCtx(ctx: Ctx): EvalContext {
  return { contact: contact(ctx), now: ctx.at, enteredAt: ctx.s.enteredAt, events: ctx.s.events, trigger: ctx.s.trigger?.properties };
}

function log(ctx: Ctx, kind: LogKind, detail: string): void {
  ctx.cmds.push({ type: 'log', stepId: ctx.s.stepId, at: ctx.at, kind, detail });
}

function emit(ctx: Ctx, stepId: string, action: Action, purpose: 'send' | 'effect' | 'count' | 'load'): void {
  const commandId = nextId(ctx, stepId);
  ctx.cmds.push({ type: 'action', commandId, stepId, action });
  ctx.s.waiting = { for: 'action', commandId, purpose };
}

function startTimer(ctx: Ctx, stepId: string, at: number, purpose: 'wait' | 'send_slot' | 'event', since = 0): void {
  const timerId = nextId(ctx, stepId);
  ctx.cmds.push({ type: 'start_timer', timerId, stepId, at });
  ctx.s.waiting = purpose === 'event' ? { for: 'event', timerId, at, since } : { for: 'timer', timerId, at, purpose };
}

function cancelActiveTimer(ctx: Ctx): void {
  const t = activeTimer(ctx.s);
  if (t) ctx.cmds.push({ type: 'cancel_timer', timerId: t.timerId });
}

function complete(ctx: Ctx, outcome: Outcome, reason: string): void {
  if (ctx.s.status === 'done') return;
  cancelActiveTimer(ctx);
  ctx.s.status = 'done';
  ctx.s.waiting = { for: 'nothing' };
  ctx.s.outcome = { outcome, reason, at: ctx.at };
  ctx.cmds.push({ type: 'complete', outcome, reason, at: ctx.at });
}

function timeZone(ctx: Ctx): string {
  return resolveTimeZone(contact(ctx).timezone, ctx.plan.settings.timezone);
}

/** Contact locale if the template has it (exact, then same language), else the journey default. */
function pickLocale(ctx: Ctx, available: readonly string[]): string {
  const wanted = contact(ctx).locale;
  const fallback = ctx.plan.settings.defaultLocale;
  if (!wanted) return fallback;
  if (available.length === 0) return wanted;
  const w = wanted.toLowerCase().replace(/_/g, '-');
  const exact = available.find((l) => l.toLowerCase() === w);
  if (exact) return exact;
  const lang = w.split('-')[0];
  return available.find((l) => l.toLowerCase().split('-')[0] === lang) ?? fallback;
}

function bufferEvent(ctx: Ctx, e: JourneyEvent): void {
  const { retention } = ctx.plan;
  const horizon = ctx.at - retention.ms;
  let events = ctx.s.events.filter((x) => x.at >= horizon);
  events.push({ id: e.id, type: e.type, at: e.occurredAt, p: e.properties });
  if (events.length > retention.maxEvents) events = events.slice(events.length - retention.maxEvents);
  ctx.s.events = events;
}

// --- contact mutations applied locally when the shell returns no snapshot (the simulator reuses this) ---

export function applyContactEffect(c: Contact, action: Action, data: Record<string, unknown> | undefined): Contact {
  switch (action.kind) {
    case 'update_score':
      return { ...c, score: c.score + action.delta };
    case 'tag':
      return { ...c, tags: [...c.tags, ...action.tags.filter((t) => !c.tags.includes(t))] };
    case 'untag':
      return { ...c, tags: c.tags.filter((t) => !action.tags.includes(t)) };
    case 'set_lifecycle_stage':
      return { ...c, lifecycle_stage: action.stage };
    case 'set_attribute': {
      const [head, ...rest] = action.field.split('.');
      if (head === 'attributes' && rest.length > 0) {
        const attributes = { ...c.attributes };
        let obj: Record<string, unknown> = attributes;
        for (const key of rest.slice(0, -1)) {
          const child = obj[key];
          obj = obj[key] = typeof child === 'object' && child !== null ? { ...(child as Record<string, unknown>) } : {};
        }
        obj[rest[rest.length - 1]!] = action.value;
        return { ...c, attributes };
      }
      return { ...c, [head!]: action.value };
    }
    case 'handoff_to_sales': {
      const owner = data?.ownerId ?? data?.owner_id;
      return typeof owner === 'string' ? { ...c, owner_id: owner } : c;
    }
    default:
      return c;
  }
}

// --- journey-level rules (goals, exits) ---------------------------------------------------------------

function goalWindowOpen(ctx: Ctx, g: PlanGoal): boolean {
  return g.withinMs === undefined || ctx.at - ctx.s.enteredAt <= g.withinMs;
}

function reachGoal(ctx: Ctx, g: PlanGoal, via: 'event' | 'condition'): void {
  ctx.s.goalsReached = [...ctx.s.goalsReached, g.id];
  log(ctx, 'goal_reached', `${g.id} (${via})`);
  ctx.cmds.push({ type: 'action', commandId: nextId(ctx, ctx.s.stepId ?? 'journey'), stepId: ctx.s.stepId ?? 'journey', action: { kind: 'record_goal', goalId: g.id, via } });
  if (g.exit) complete(ctx, 'goal', g.id);
}

/** Goals before exits: a contact who converts and unsubscribes in one event still counts as converted. */
function checkRules(ctx: Ctx, event: JourneyEvent | undefined): void {
  const { plan, s } = ctx;
  for (const g of plan.goals) {
    if (s.status === 'done') return;
    if (s.goalsReached.includes(g.id) || !goalWindowOpen(ctx, g)) continue;
    if (g.event !== undefined) {
      if (event && event.type === g.event && matchesFilters(g.where, event.properties, ctx.at)) reachGoal(ctx, g, 'event');
    } else if (g.when && evaluate(g.when, evalCtx(ctx))) reachGoal(ctx, g, 'condition');
  }
  for (const r of plan.exitRules) {
    if (s.status === 'done') return;
    if (r.kind === 'event') {
      if (event && event.type === r.event && matchesFilters(r.where, event.properties, ctx.at)) complete(ctx, 'exited', r.reason);
    } else if (evaluate(r.when, evalCtx(ctx))) complete(ctx, 'exited', r.reason);
  }
}

// --- steps ------------------------------------------------------------------------------------------

function needsFreshContact(step: PlanStep): boolean {
  return (
    step.type === 'branch' ||
    (step.type === 'wait' && step.wait.mode === 'until_date') ||
    (step.type === 'handoff_to_sales' && step.assignment.strategy !== 'round_robin')
  );
}

/** Enter steps until the run has to wait for something. */
function goTo(ctx: Ctx, first: string): void {
  let id: string | undefined = first;
  while (id !== undefined && ctx.s.status === 'running') {
    if (++ctx.transitions > MAX_TRANSITIONS_PER_INPUT) {
      log(ctx, 'loop_guard', `more than ${MAX_TRANSITIONS_PER_INPUT} steps without waiting`);
      complete(ctx, 'exited', 'loop_guard');
      return;
    }
    const step = ctx.plan.steps[id];
    if (!step) {
      // Only reachable with a hand-edited plan: the compiler checks every reference.
      complete(ctx, 'exited', `unknown_step:${id}`);
      return;
    }
    ctx.s.stepId = id;
    ctx.s.stepCount += 1;
    ctx.s.waiting = { for: 'nothing' };
    ctx.cmds.push({ type: 'enter_step', stepId: id, stepType: step.type, at: ctx.at });
    id = execute(ctx, step);
  }
}

/** Runs a step; returns the next step id, or undefined when the run now waits (or completed). */
function execute(ctx: Ctx, step: PlanStep): string | undefined {
  if (ctx.s.contactStale && needsFreshContact(step)) {
    emit(ctx, step.id, { kind: 'load_contact' }, 'load');
    return undefined;
  }
  const c = contact(ctx);
  switch (step.type) {
    case 'send_email':
    case 'send_sms': {
      const holdout = heldOutBy(ctx.s);
      if (holdout) {
        // Held out: the contact gets no message, the run goes on as if it had been sent, so goals still count.
        ctx.s.heldOut = (ctx.s.heldOut ?? 0) + 1;
        log(ctx, 'held_out', `${step.type === 'send_email' ? `email ${step.template}` : 'sms'} not sent: arm ${holdout.arm} of split ${holdout.split} is a holdout`);
        return step.next;
      }
      return prepareSend(ctx, step);
    }
    case 'webhook':
      emit(ctx, step.id, { kind: 'webhook', url: step.url, method: step.method, headers: step.headers, ...(step.body !== undefined ? { body: step.body } : {}), timeoutMs: step.timeoutMs, retries: step.retries }, 'effect');
      return undefined;
    case 'notify':
      emit(ctx, step.id, {
        kind: 'notify', channel: step.channel, to: step.to,
        ...(step.message !== undefined ? { message: step.message } : {}),
        ...(step.template !== undefined ? { template: step.template } : {}),
        locale: pickLocale(ctx, step.locales),
      }, 'effect');
      return undefined;
    case 'update_score':
      emit(ctx, step.id, { kind: 'update_score', delta: step.delta, reason: step.reason }, 'effect');
      return undefined;
    case 'tag':
      emit(ctx, step.id, { kind: 'tag', tags: step.tags }, 'effect');
      return undefined;
    case 'untag':
      emit(ctx, step.id, { kind: 'untag', tags: step.tags }, 'effect');
      return undefined;
    case 'set_attribute':
      emit(ctx, step.id, { kind: 'set_attribute', field: step.field.join('.'), value: step.value }, 'effect');
      return undefined;
    case 'set_lifecycle_stage':
      emit(ctx, step.id, { kind: 'set_lifecycle_stage', stage: step.stage }, 'effect');
      return undefined;
    case 'handoff_to_sales': {
      const a = step.assignment;
      let target: { team: string } | { owner: string } = { team: a.strategy === 'round_robin' ? a.team : a.fallbackTeam };
      if (a.strategy === 'territory') {
        const rule = a.rules.find((r) => evaluate(r.when, evalCtx(ctx)));
        if (rule) target = rule.owner !== undefined ? { owner: rule.owner } : { team: rule.team! };
      } else if (a.strategy === 'owner_attribute') {
        const v = resolveField(c, a.field, ctx.s.enteredAt, ctx.s.trigger?.properties);
        if (typeof v === 'string' && v !== '') target = { owner: v };
      }
      emit(ctx, step.id, {
        kind: 'handoff_to_sales', strategy: a.strategy, ...target,
        ...(step.task ? { task: { title: step.task.title, dueAt: ctx.at + step.task.dueMs } } : {}),
        ...(step.sla ? { sla: { escalateAt: ctx.at + step.sla.afterMs, escalateTo: step.sla.escalateTo, ...(step.sla.channel ? { channel: step.sla.channel } : {}) } } : {}),
      }, 'effect');
      return undefined;
    }
    case 'wait': {
      const w = step.wait;
      let until: number;
      if (w.mode === 'duration') until = ctx.at + w.ms;
      else if (w.mode === 'until_time') until = nextLocalTime(ctx.at, timeZone(ctx), w.minute, w.days);
      else {
        const base = toEpoch(resolveField(c, w.field, ctx.s.enteredAt, ctx.s.trigger?.properties));
        if (base === undefined) {
          log(ctx, 'date_missing', `${w.field.join('.')} is empty or not a date`);
          return step.onMissing;
        }
        until = base + w.offsetMs;
      }
      if (until <= ctx.at) return step.next;
      startTimer(ctx, step.id, until, 'wait');
      return undefined;
    }
    case 'wait_for_event': {
      const since = ctx.at - step.lookbackMs;
      const idx = ctx.s.events.findIndex((e) => !e.used && e.type === step.event && e.at >= since && matchesFilters(step.where, e.p, ctx.at));
      if (idx >= 0) {
        consume(ctx, idx);
        log(ctx, 'matched_earlier_event', `${step.event} ${ctx.s.events[idx]!.id} arrived before the wait`);
        return step.onEvent;
      }
      startTimer(ctx, step.id, ctx.at + step.timeoutMs, 'event', since);
      return undefined;
    }
    case 'branch': {
      const ec = evalCtx(ctx);
      const i = step.conditions.findIndex((x) => evaluate(x.when, ec));
      log(ctx, 'branch_taken', i >= 0 ? `condition ${i + 1} → ${step.conditions[i]!.next}` : `else → ${step.else}`);
      return i >= 0 ? step.conditions[i]!.next : step.else;
    }
    case 'split': {
      const pos = splitPosition(c.id, ctx.plan.id, step.id);
      let acc = 0;
      const path = step.paths.find((p) => pos < (acc += p.percent)) ?? step.paths[step.paths.length - 1]!;
      log(ctx, 'split_assigned', `${path.name}${path.holdout ? ' (holdout)' : ''} → ${path.next}`);
      // A loop back through the split finds the same arm (the position is a hash): it is recorded once.
      if (!ctx.s.legacySplits && !ctx.s.arms?.some((a) => a.split === step.id)) {
        ctx.s.arms = [...(ctx.s.arms ?? []), { split: step.id, arm: path.name, ...(path.holdout ? { holdout: true as const } : {}) }];
        ctx.cmds.push({ type: 'action', commandId: nextId(ctx, step.id), stepId: step.id, action: { kind: 'record_arm', splitId: step.id, arm: path.name, holdout: path.holdout } });
      }
      return path.next;
    }
    case 'goal':
      ctx.s.goalsReached = [...ctx.s.goalsReached, step.goal];
      ctx.cmds.push({ type: 'action', commandId: nextId(ctx, step.id), stepId: step.id, action: { kind: 'record_goal', goalId: step.goal, via: 'step' } });
      complete(ctx, 'goal', step.goal);
      return undefined;
    case 'exit':
      complete(ctx, 'completed', step.reason);
      return undefined;
    default:
      return assertNever(step, 'step type');
  }
}

/** The holdout arm that keeps messages from this run, if any: once held out, held out for the rest of the run. */
function heldOutBy(s: RunState): { split: string; arm: string } | undefined {
  return s.arms?.find((a) => a.holdout);
}

function consume(ctx: Ctx, idx: number): void {
  const events = ctx.s.events.slice();
  events[idx] = { ...events[idx]!, used: true };
  ctx.s.events = events;
}

/** Quiet hours and send windows first, then the frequency cap (which needs a read), then the send. */
function prepareSend(ctx: Ctx, step: PlanSendEmail | PlanSendSms): undefined {
  const { settings } = ctx.plan;
  if (step.category === 'marketing') {
    const tz = timeZone(ctx);
    const slot = nextSendTime(ctx.at, tz, settings);
    if (slot === undefined) {
      log(ctx, 'no_send_slot', 'quiet hours and send windows leave no slot; sending now');
    } else if (slot > ctx.at) {
      log(ctx, 'deferred_quiet_hours', `outside quiet hours/send windows in ${tz}; next slot ${new Date(slot).toISOString()}`);
      startTimer(ctx, step.id, slot, 'send_slot');
      return undefined;
    }
    const cap = settings.frequencyCaps[CHANNEL[step.type]];
    if (cap) {
      emit(ctx, step.id, { kind: 'count_messages', channel: CHANNEL[step.type], since: ctx.at - cap.perMs }, 'count');
      return undefined;
    }
  }
  send(ctx, step);
  return undefined;
}

function send(ctx: Ctx, step: PlanSendEmail | PlanSendSms): void {
  const locale = pickLocale(ctx, step.locales);
  if (step.type === 'send_email') {
    emit(ctx, step.id, {
      kind: 'send_email', template: step.template, locale,
      ...(step.subject !== undefined ? { subject: step.subject } : {}),
      ...(step.from !== undefined ? { from: step.from } : {}),
      ...(step.replyTo !== undefined ? { replyTo: step.replyTo } : {}),
      category: step.category,
      ...(step.topic !== undefined ? { topic: step.topic } : {}),
    }, 'send');
  } else {
    emit(ctx, step.id, {
      kind: 'send_sms',
      ...(step.template !== undefined ? { template: step.template } : {}),
      ...(step.body !== undefined ? { body: step.body } : {}),
      locale, category: step.category,
      ...(step.topic !== undefined ? { topic: step.topic } : {}),
    }, 'send');
  }
}

function onCount(ctx: Ctx, step: PlanSendEmail | PlanSendSms, data: Record<string, unknown> | undefined): string | undefined {
  const cap = ctx.plan.settings.frequencyCaps[CHANNEL[step.type]]!;
  const since = ctx.at - cap.perMs;
  const raw = Array.isArray(data?.sentAt) ? (data.sentAt as unknown[]) : [];
  const sent = raw.filter((t): t is number => typeof t === 'number' && t >= since).sort((a, b) => a - b);
  const count = raw.length > 0 ? sent.length : typeof data?.count === 'number' ? data.count : 0;
  if (count < cap.max) {
    send(ctx, step);
    return undefined;
  }
  if (cap.onCap === 'skip') {
    log(ctx, 'skipped_frequency_cap', `${count} ${CHANNEL[step.type]} messages in the cap window (max ${cap.max}); not sent`);
    return step.next;
  }
  // The cap frees up when enough of the messages in the window have aged out of it.
  const oldestBlocking = sent[count - cap.max];
  const freeAt = oldestBlocking !== undefined ? oldestBlocking + cap.perMs + 1 : ctx.at + cap.perMs;
  log(ctx, 'deferred_frequency_cap', `${count} ${CHANNEL[step.type]} messages in the cap window (max ${cap.max}); retry ${new Date(freeAt).toISOString()}`);
  startTimer(ctx, step.id, Math.max(freeAt, ctx.at + 1), 'send_slot');
  return undefined;
}

// --- input handlers ------------------------------------------------------------------------------------

function onStart(ctx: Ctx, input: Extract<Input, { type: 'start' }>): void {
  const { s } = ctx;
  s.status = 'running';
  s.contact = input.contact;
  s.trigger = input.trigger ?? null;
  s.enteredAt = input.at;
  if (input.legacySplits) s.legacySplits = true;
  const types = new Set(ctx.plan.eventTypes);
  for (const e of input.history ?? []) if (types.has(e.type)) bufferEvent(ctx, e);
  // A contact may already meet an exit or goal condition (e.g. is already a customer).
  checkRules(ctx, undefined);
  if (s.status === 'running') goTo(ctx, ctx.plan.start);
}

function onEvent(ctx: Ctx, input: Extract<Input, { type: 'event' }>): void {
  const { s, plan } = ctx;
  const e = input.event;
  // Signals can be delivered twice; the same event must not count twice.
  if (s.events.some((x) => x.id === e.id)) return;
  s.eventsSeen += 1;
  if (plan.eventTypes.includes(e.type)) bufferEvent(ctx, e);
  if (input.contact) {
    s.contact = input.contact;
    s.contactStale = false;
  }
  checkRules(ctx, e);
  if (s.status !== 'running') return;
  const w = s.waiting;
  const step = s.stepId ? plan.steps[s.stepId] : undefined;
  if (w.for === 'event' && step?.type === 'wait_for_event' && e.type === step.event && e.occurredAt >= w.since && matchesFilters(step.where, e.properties, ctx.at)) {
    const idx = s.events.findIndex((x) => x.id === e.id);
    if (idx >= 0) consume(ctx, idx);
    cancelActiveTimer(ctx);
    s.contactStale = true;
    log(ctx, 'event_matched', `${e.type} ${e.id}`);
    goTo(ctx, step.onEvent);
  }
}

function onTimer(ctx: Ctx, input: Extract<Input, { type: 'timer_fired' }>): void {
  const { s, plan } = ctx;
  const w = s.waiting;
  if ((w.for !== 'timer' && w.for !== 'event') || w.timerId !== input.timerId) return;
  const step = plan.steps[s.stepId!]!;
  s.waiting = { for: 'nothing' };
  s.contactStale = true;
  if (w.for === 'event' && step.type === 'wait_for_event') {
    log(ctx, 'wait_timed_out', `no ${step.event} within the timeout`);
    goTo(ctx, step.onTimeout);
  } else if (w.for === 'timer' && w.purpose === 'send_slot' && (step.type === 'send_email' || step.type === 'send_sms')) {
    // Re-check everything: the contact may have moved time zone, other journeys may have sent.
    prepareSend(ctx, step);
  } else if (step.type === 'wait') {
    goTo(ctx, step.next);
  }
}

function onMove(ctx: Ctx, input: Extract<Input, { type: 'move' }>): void {
  const { s, plan } = ctx;
  // An action in flight must report first: moving away would orphan its result (the shell refuses such a move).
  if (s.waiting.for === 'action' || !Object.hasOwn(plan.steps, input.stepId)) return;
  const timer = activeTimer(s);
  if (timer) ctx.cmds.push({ type: 'cancel_timer', timerId: timer.timerId });
  s.waiting = { for: 'nothing' };
  s.contactStale = true;
  goTo(ctx, input.stepId);
}

function onResult(ctx: Ctx, input: Extract<Input, { type: 'action_result' }>): void {
  const { s, plan } = ctx;
  const w = s.waiting;
  if (w.for !== 'action' || w.commandId !== input.commandId) return;
  const step = plan.steps[s.stepId!]!;
  const out = input.outcome;
  s.waiting = { for: 'nothing' };
  if (out.contact) {
    s.contact = out.contact;
    s.contactStale = false;
  }
  if (w.purpose === 'load') {
    if (out.status === 'failed') log(ctx, 'action_failed', `load_contact: ${out.error}; using the last known contact`);
    s.contactStale = false;
    checkRules(ctx, undefined);
    if (s.status !== 'running') return;
    const next = execute(ctx, step);
    if (next !== undefined) goTo(ctx, next);
    return;
  }
  if (w.purpose === 'count') {
    if (step.type !== 'send_email' && step.type !== 'send_sms') return;
    if (out.status === 'failed') {
      // Without the count we cannot honour the cap; sending anyway would break the promise, so retry later.
      log(ctx, 'action_failed', `count_messages: ${out.error}`);
      const cap = plan.settings.frequencyCaps[CHANNEL[step.type]]!;
      startTimer(ctx, step.id, ctx.at + Math.min(cap.perMs, 3_600_000), 'send_slot');
      return;
    }
    const next = onCount(ctx, step, out.data);
    if (next !== undefined) goTo(ctx, next);
    return;
  }
  if (out.status === 'failed') log(ctx, 'action_failed', `${step.type}: ${out.error}${out.permanent ? ' (permanent)' : ''}`);
  else if (!out.contact && s.contact && w.purpose === 'effect') {
    const cmd = lastAction(step, input.commandId);
    if (cmd) s.contact = applyContactEffect(s.contact, cmd, out.data);
  }
  if (out.contact || w.purpose === 'effect') checkRules(ctx, undefined);
  if (s.status !== 'running') return;
  goTo(ctx, followUp(step, out.status === 'ok'));
}

/** Rebuilds the effect an action had (state does not keep payloads, to stay compact). */
function lastAction(step: PlanStep, _commandId: string): Action | undefined {
  switch (step.type) {
    case 'update_score':
      return { kind: 'update_score', delta: step.delta, reason: step.reason };
    case 'tag':
      return { kind: 'tag', tags: step.tags };
    case 'untag':
      return { kind: 'untag', tags: step.tags };
    case 'set_attribute':
      return { kind: 'set_attribute', field: step.field.join('.'), value: step.value };
    case 'set_lifecycle_stage':
      return { kind: 'set_lifecycle_stage', stage: step.stage };
    case 'handoff_to_sales':
      return { kind: 'handoff_to_sales', strategy: step.assignment.strategy };
    default:
      return undefined;
  }
}

function followUp(step: PlanStep, ok: boolean): string {
  switch (step.type) {
    case 'send_email':
    case 'send_sms':
    case 'webhook':
    case 'notify':
    case 'handoff_to_sales':
      return ok ? step.next : step.onFailure;
    case 'update_score':
    case 'tag':
    case 'untag':
    case 'set_attribute':
    case 'set_lifecycle_stage':
      return step.next;
    case 'wait':
    case 'wait_for_event':
    case 'branch':
    case 'split':
    case 'goal':
    case 'exit':
      // These steps never wait for an action result.
      throw new Error(`internal: action result for ${step.type} step ${step.id}`);
    default:
      return assertNever(step, 'step type');
  }
}

// --- entry point ------------------------------------------------------------------------------------------

/**
 * Advance a run by one input. Never mutates `state`; the returned state is plain JSON.
 * Inputs with an `at` earlier than the last one are treated as happening at the last time
 * (time never runs backwards inside a run).
 */
export function step(plan: JourneyPlan, state: RunState, input: Input): StepResult {
  if (state.status === 'done') return { state, commands: [] };
  if (state.status === 'new' && input.type !== 'start') return { state, commands: [] };
  if (state.status === 'running' && input.type === 'start') return { state, commands: [] };
  const at = Math.max(input.at, state.now);
  const ctx: Ctx = { plan, s: { ...state, now: at, inputCount: state.inputCount + 1 }, cmds: [], at, transitions: 0 };
  switch (input.type) {
    case 'start':
      onStart(ctx, input);
      break;
    case 'event':
      onEvent(ctx, input);
      break;
    case 'timer_fired':
      onTimer(ctx, input);
      break;
    case 'action_result':
      onResult(ctx, input);
      break;
    case 'move':
      onMove(ctx, input);
      break;
    default:
      assertNever(input, 'input');
  }
  return { state: ctx.s, commands: ctx.cmds };
}
