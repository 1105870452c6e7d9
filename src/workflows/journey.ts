import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  activeTimer,
  awaitedCommand,
  initialState,
  step,
  type Action,
  type ActionOutcome,
  type Command,
  type Input,
} from '../journey/interpreter';
import type { JourneyPlan } from '../journey/plan';
import { type Activities, journeyEventSignal, type JourneyEventSignal, JourneyStepKey, JourneyVersionKey, type JourneyWorkflowInput, type JourneyWorkflowResult, migrateVersionUpdate, moveToStepUpdate, runStateQuery, type RunStateView, skipWaitUpdate, type StepEntry } from '../contracts';

// Grouped by timeout class: sends talk to remote servers, writes stay in our database, reads are local activities.
// Sends heartbeat while they run (src/activities/keep-alive.ts): a worker that dies mid-send is noticed in 10 s.
const SEND_HEARTBEAT_TIMEOUT = '10s';
const sends = proxyActivities<Activities>({
  startToCloseTimeout: '60s',
  heartbeatTimeout: SEND_HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5m' },
});
const writes = proxyActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s' },
});
const reads = proxyLocalActivities<Activities>({ startToCloseTimeout: '10s', retry: { maximumInterval: '10s' } });
// The run projection as a local activity: a marker in history instead of a server round trip per step, which about
// halves the work of starting a run (audience launches start tens of thousands). Idempotent, so a replayed WFT may
// write it again harmlessly.
const projections = proxyLocalActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s' },
});
/** Runs recorded before this change keep writing their projection through a normal activity. */
const LOCAL_PROJECTION_PATCH = 'projection-as-local-activity';
/**
 * Split arms are recorded (a recordArm activity) and holdout arms get no messages. A run that began before this change
 * may already have passed a holdout arm and sent: it keeps the old behaviour for its whole life (the interpreter's
 * `legacySplits`), decided once at the top of each execution so replay takes the same path.
 */
const SPLIT_ARMS_PATCH = 'split-arms';
/**
 * The slim shape of a run, decided once at the top of each execution so replay takes the same path (a run recorded
 * before keeps the old shape until it continues as new):
 * - the plan and the contact are read in one local activity (loadRunStart), not two;
 * - step entries made without an await in between are journaled together, in one recordRunSteps write made before the
 *   run's next action, its next wait or its end (the end's write carries the last entry), not one write per step plus
 *   one at the end;
 * - the JourneyStep search attribute is upserted where the run waits (ops list runs by where they park) and where it
 *   ends, each time only if it changed, not at every step entered.
 * One patch for all three: each patch marker costs a TemporalChangeVersion search attribute upsert. Runs on this shape
 * write their projection as a local activity and record split arms without asking those patches.
 */
const SLIM_SHAPE_PATCH = 'slim-run-shape';

/** Continue-as-new well before Temporal's history limits; each input costs a handful of events. */
const HISTORY_BUDGET = 4000;

export async function journeyWorkflow(input: JourneyWorkflowInput): Promise<JourneyWorkflowResult> {
  const info = workflowInfo();
  const { workflowId } = info;
  const slim = patched(SLIM_SHAPE_PATCH);
  const splitArms = slim || patched(SPLIT_ARMS_PATCH);
  const start = !input.carried && slim ? await reads.loadRunStart({ journeyId: input.journeyId, version: input.version, contactId: input.contactId }) : undefined;
  const plan: JourneyPlan = start?.plan ?? (await reads.loadPlan({ journeyId: input.journeyId, version: input.version }));
  const view: RunStateView = {
    journeyId: input.journeyId,
    version: input.version,
    contactId: input.contactId,
    currentStep: input.carried?.currentStep ?? null,
    status: 'running',
  };
  // The trigger reaches the run twice (start input and signalWithStart's signal); the interpreter must see it once.
  const inbox: JourneyEventSignal[] = [...(input.carried?.inbox ?? [])];
  setHandler(journeyEventSignal, (event) => {
    if (event.id !== input.trigger?.id) inbox.push(event);
  });
  setHandler(runStateQuery, () => view);

  // Numbers the run's step entries for the step journal (the per-step funnel); survives continue-as-new.
  let stepSeq = input.carried?.stepSeq ?? 0;
  /** The run as the projection records it, where it is now. */
  const runNow = (status: string) => ({
    workflowId,
    // The first run of the chain: continue-as-new must not look like a new entry to the projection.
    runId: info.firstExecutionRunId,
    journeyId: input.journeyId,
    version: input.version,
    contactId: input.contactId,
    entryKey: input.entryKey ?? '0',
    currentStep: view.currentStep,
    status,
  });
  const project = (entered?: number, status: string = view.status) =>
    (patched(LOCAL_PROJECTION_PATCH) ? projections : writes).recordRun({ ...runNow(status), ...(entered !== undefined ? { stepSeq: entered } : {}) });

  // Step entries not yet journaled (slim shape): written by the next flush, with the projection.
  const unrecorded: StepEntry[] = [];
  // Entries leave the list once written: a write cut short by a cancellation is made again by the cancelled run's last
  // one (entries are journaled once whatever the number of writes).
  const flush = async (status: string = view.status) => {
    const steps = [...unrecorded];
    await projections.recordRunSteps({ ...runNow(status), steps });
    unrecorded.splice(0, steps.length);
  };
  /** Brings the JourneyStep search attribute to the current step when it differs (slim shape). */
  const showStep = () => {
    if (view.currentStep !== null && workflowInfo().typedSearchAttributes.get(JourneyStepKey) !== view.currentStep) {
      upsertSearchAttributes([{ key: JourneyStepKey, value: view.currentStep }]);
    }
  };

  let state = input.carried?.state ?? initialState(plan);
  if (!splitArms && input.carried && !state.legacySplits) state = { ...state, legacySplits: true };
  let timer = input.carried ? activeTimer(state) : undefined;
  // Set by ops through the skipWait update; the main loop fires the current timer early.
  let skipRequested = false;
  // Set by ops through the moveToStep update; the main loop feeds it to the interpreter.
  let pendingMove: string | undefined;
  // Set by ops through the migrateVersion update; the main loop continues as new on that version.
  let pendingMigration: number | undefined;
  setHandler(
    skipWaitUpdate,
    (_by) => {
      skipRequested = true;
      return { step: view.currentStep ?? '' };
    },
    {
      validator: (_by) => {
        const current = view.currentStep ? plan.steps[view.currentStep] : undefined;
        if (!timer || !current) throw new Error('the run is not waiting on a timer right now');
        // A send deferred for quiet hours or a frequency cap re-checks them when woken: skipping would not send sooner.
        if (current.type !== 'wait' && current.type !== 'wait_for_event') throw new Error(`step "${current.id}" (${current.type}) is deferring a send, not waiting; it cannot be skipped`);
      },
    },
  );
  const queue: Command[] = [];
  /** Ops repairs wait until the run waits: an action in flight must report to the step that started it. */
  const refuseMidStep = () => {
    if (awaitedCommand(state) !== undefined || queue.length > 0) throw new Error('the run is in the middle of a step (an activity is running); try again once it waits');
  };
  /** What continue-as-new carries: the interpreter state, unread events and the run's bookkeeping. */
  const carry = (migratedFrom?: number): NonNullable<JourneyWorkflowInput['carried']> => ({
    state,
    inbox: [...inbox],
    currentStep: view.currentStep,
    startedAt: input.carried?.startedAt ?? info.startTime.getTime(),
    stepSeq,
    ...(migratedFrom !== undefined ? { migratedFrom } : {}),
  });
  setHandler(
    migrateVersionUpdate,
    ({ version }) => {
      pendingMigration = version;
      return { from: input.version, to: version };
    },
    {
      validator: ({ version }) => {
        if (!Number.isInteger(version) || version <= input.version) throw new Error(`version ${version} is not newer than the run's version ${input.version}`);
        refuseMidStep();
        if (pendingMove !== undefined || pendingMigration !== undefined) throw new Error('another repair is already on its way');
      },
    },
  );
  setHandler(
    moveToStepUpdate,
    ({ stepId }) => {
      pendingMove = stepId;
      return { from: view.currentStep ?? '', to: stepId };
    },
    {
      validator: ({ stepId }) => {
        if (!Object.hasOwn(plan.steps, stepId)) throw new Error(`"${stepId}" is not a step of ${plan.id} version ${input.version}`);
        refuseMidStep();
        if (pendingMove !== undefined) throw new Error('a move is already on its way');
      },
    },
  );
  let outcome: JourneyWorkflowResult | undefined;

  /** A routed event; a contact change carries the fresh contact, which replaces the run's snapshot. */
  const eventInput = ({ contact, ...event }: JourneyEventSignal): Input => ({ type: 'event', at: Date.now(), event, ...(contact ? { contact } : {}) });
  const feed = (i: Input) => {
    const r = step(plan, state, i);
    state = r.state;
    queue.push(...r.commands);
  };

  if (!input.carried) {
    const contact = start?.contact ?? (await reads.loadContact({ contactId: input.contactId }));
    feed({ type: 'start', at: Date.now(), contact, ...(input.trigger ? { trigger: input.trigger } : {}), ...(splitArms ? {} : { legacySplits: true }) });
  } else if (input.carried.migratedFrom !== undefined) {
    // Migrated by ops: the projection (and so lists and stats) shows the new version from now on.
    await (slim ? flush() : project());
  }

  const run = async (commandId: string, stepId: string, action: Action): Promise<ActionOutcome> => {
    const key = `${workflowId}:${commandId}`;
    const common = { idempotencyKey: key, contactId: input.contactId, journeyId: input.journeyId, workflowId, stepId };
    const actor = `journey:${input.journeyId}`;
    try {
      switch (action.kind) {
        case 'send_email': {
          const r = await sends.sendEmail({
            ...common,
            journeyName: plan.name,
            template: action.template,
            locale: action.locale,
            category: action.category,
            ...(action.topic ? { topic: action.topic } : {}),
            ...(action.subject ? { subject: action.subject } : {}),
            ...(action.from ? { from: action.from } : {}),
            ...(input.trigger ? { trigger: input.trigger.properties } : {}),
          });
          return r.status === 'bounced'
            ? { status: 'failed', permanent: true, error: `bounced: ${r.error}` }
            : { status: 'ok', data: { status: r.status } };
        }
        case 'send_sms': {
          const r = await sends.sendSms({
            ...common,
            category: action.category,
            ...(action.topic ? { topic: action.topic } : {}),
            ...(action.template ? { template: action.template } : {}),
            ...(action.body ? { body: action.body } : {}),
            ...(input.trigger ? { trigger: input.trigger.properties } : {}),
          });
          return r.status === 'failed' ? { status: 'failed', permanent: true, error: r.error } : { status: 'ok', data: { status: r.status } };
        }
        case 'webhook': {
          const hooks = proxyActivities<Activities>({
            startToCloseTimeout: action.timeoutMs + 5000,
            heartbeatTimeout: SEND_HEARTBEAT_TIMEOUT,
            retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: action.retries + 1 },
          });
          const r = await hooks.callWebhook({
            ...common,
            url: action.url,
            method: action.method,
            headers: action.headers,
            body: action.body,
            timeoutMs: action.timeoutMs,
            ...(input.trigger ? { trigger: input.trigger.properties } : {}),
          });
          return r.status === 'failed' ? { status: 'failed', permanent: true, error: r.error ?? 'rejected' } : { status: 'ok', data: { httpStatus: r.httpStatus } };
        }
        case 'notify': {
          const r = await sends.notify({
            ...common,
            channel: action.channel,
            to: action.to,
            locale: action.locale,
            ...(action.template ? { template: action.template } : {}),
            ...(action.message ? { message: action.message } : {}),
            ...(input.trigger ? { trigger: input.trigger.properties } : {}),
          });
          return r.status === 'failed' ? { status: 'failed', permanent: true, error: r.error ?? 'rejected' } : { status: 'ok', data: { status: r.status } };
        }
        case 'update_score':
          await writes.updateScore({ ...common, actor, delta: action.delta, reason: action.reason });
          return { status: 'ok' };
        case 'tag':
          await writes.tagContact({ ...common, actor, tags: action.tags });
          return { status: 'ok' };
        case 'untag':
          await writes.untagContact({ ...common, actor, tags: action.tags });
          return { status: 'ok' };
        case 'set_attribute':
          await writes.setContactAttribute({ ...common, actor, name: action.field.replace(/^attributes\./, ''), field: action.field, value: action.value });
          return { status: 'ok' };
        case 'set_lifecycle_stage':
          await writes.setLifecycleStage({ ...common, actor, stage: action.stage });
          return { status: 'ok' };
        case 'handoff_to_sales': {
          const r = await writes.handoffToSales({
            ...common,
            ...(action.team ? { team: action.team } : {}),
            ...(action.owner ? { owner: action.owner } : {}),
            ...(action.task ? { dueAt: action.task.dueAt, taskTitle: action.task.title } : {}),
            ...(action.sla ? { sla: action.sla } : {}),
          });
          return { status: 'ok', data: { ownerId: r.ownerId } };
        }
        case 'record_goal':
          await writes.recordConversion({ idempotencyKey: `${workflowId}:goal:${action.goalId}`, journeyId: input.journeyId, version: input.version, contactId: input.contactId, goal: action.goalId });
          return { status: 'ok' };
        case 'record_arm':
          // The split's enter_step came just before this command: stepSeq is the journal entry of the split.
          await writes.recordArm({
            workflowId,
            runId: info.firstExecutionRunId,
            journeyId: input.journeyId,
            version: input.version,
            contactId: input.contactId,
            splitId: action.splitId,
            arm: action.arm,
            holdout: action.holdout,
            stepSeq,
          });
          return { status: 'ok' };
        case 'load_contact':
          return { status: 'ok', contact: await reads.loadContact({ contactId: input.contactId }) };
        case 'count_messages':
          return { status: 'ok', data: { sentAt: await reads.countMessages({ contactId: input.contactId, channel: action.channel, since: action.since }) } };
        default: {
          const unknown: never = action;
          throw ApplicationFailure.nonRetryable(`unknown action ${JSON.stringify(unknown)}`);
        }
      }
    } catch (err) {
      // Retries are exhausted or the failure is non-retryable: the journey decides (on_failure or next).
      // A cancelled activity is the run being cancelled (below), not a failed step.
      if (err instanceof ActivityFailure && !isCancellation(err)) return { status: 'failed', permanent: true, error: err.cause?.message ?? err.message };
      throw err;
    }
  };

  try {
    while (!outcome) {
      while (queue.length > 0 && !outcome) {
        const c = queue.shift()!;
        switch (c.type) {
          case 'action': {
            if (unrecorded.length > 0) await flush();
            const result = await run(c.commandId, c.stepId, c.action);
            if (c.action.kind !== 'record_goal' && c.action.kind !== 'record_arm') feed({ type: 'action_result', at: Date.now(), commandId: c.commandId, outcome: result });
            break;
          }
          case 'start_timer':
            timer = { timerId: c.timerId, at: c.at };
            break;
          case 'cancel_timer':
            if (timer?.timerId === c.timerId) timer = undefined;
            break;
          case 'enter_step':
            view.currentStep = c.stepId;
            if (slim) unrecorded.push({ seq: ++stepSeq, stepId: c.stepId });
            else {
              upsertSearchAttributes([{ key: JourneyStepKey, value: c.stepId }]);
              await project(++stepSeq);
            }
            break;
          case 'log':
            break;
          case 'complete':
            view.status = c.outcome;
            outcome = { status: c.outcome, reason: c.reason };
            break;
        }
        // Events that arrived while an action ran are fed as soon as it finished.
        while (inbox.length > 0 && !outcome && queue.length === 0) feed(eventInput(inbox.shift()!));
      }
      if (outcome) break;

      // About to wait (or to continue as new, which carries the search attributes): the projection and ops' lists
      // show where the run waits.
      if (unrecorded.length > 0) await flush();
      if (slim) showStep();

      if (workflowInfo().historyLength > (input.historyBudget ?? HISTORY_BUDGET) && awaitedCommand(state) === undefined) {
        await continueAsNew<typeof journeyWorkflow>({ ...input, carried: carry() });
      }

      const fired = !(await condition(
        () => inbox.length > 0 || (skipRequested && timer !== undefined) || pendingMove !== undefined || pendingMigration !== undefined,
        timer ? Math.max(1, timer.at - Date.now()) : undefined,
      ));
      if (pendingMigration !== undefined) {
        const version = pendingMigration;
        upsertSearchAttributes([{ key: JourneyVersionKey, value: version }]);
        await continueAsNew<typeof journeyWorkflow>({ ...input, version, carried: carry(input.version) });
      }
      if (pendingMove !== undefined) {
        const stepId = pendingMove;
        pendingMove = undefined;
        skipRequested = false;
        feed({ type: 'move', at: Date.now(), stepId });
      } else if (inbox.length > 0) {
        feed(eventInput(inbox.shift()!));
      } else if ((fired || skipRequested) && timer) {
        skipRequested = false;
        const t = timer;
        timer = undefined;
        feed({ type: 'timer_fired', at: Date.now(), timerId: t.timerId });
      }
    }

    // A closed run keeps the step it ended in, so "where did runs stop" is a visibility query too.
    if (slim) showStep();
    await (slim ? flush() : project());
  } catch (err) {
    if (slim) showStep();
    // Cancelled by ops (POST /v1/runs/:id/cancel): the projection must say so before the run ends as cancelled.
    if (isCancellation(err)) await CancellationScope.nonCancellable(() => (slim ? flush('cancelled') : project(undefined, 'cancelled')));
    throw err;
  }
  return outcome;
}
