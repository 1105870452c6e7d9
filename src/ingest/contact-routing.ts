/**
 * Routing of `contact.updated`: the one event every write to a contact emits (`properties.changes` holds each changed
 * journey-language path, before → after; `workflowId` names the run whose own step made the change).
 *
 *  - `change` triggers start a run when the changed field matches their `from` / `to` (absent = any);
 *  - `audience` triggers start a run when the change makes the contact start matching (false before, true after);
 *  - running runs of the contact whose rules read a changed field (`plan.contactFields`) get one signal carrying the
 *    fresh contact, so their `when:` exits and goals judge the contact as it is now. The run that made the change is
 *    not signalled back: it applied the change itself.
 *
 * No signal storm: updates of one contact are group-committed per process — the first of a contact with running runs
 * waits COALESCE_LINGER_MS for others (one without any is answered at once: there is nobody to signal), and while one
 * round of signals is in flight the updates that arrive queue up for the next; each round sends each run one signal
 * with the contact as it is then. A run
 * that lists `contact.updated` among its event types (waits on it, exits on it) still gets every update as an event.
 * Event triggers on `contact.updated` work as for any event.
 */
import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { toJourneyContact } from '../db/contact-view';
import { findContactById } from '../db/queries';
import { anyOf } from '../db/any';
import { batched } from '../db/batch';
import { journeyRuns } from '../db/schema';
import { journeyEventSignal, type JourneyEventSignal } from '../contracts';
import { NotFoundError } from '../errors';
import { evaluate, runTest } from '../journey/conditions';
import { contactFieldsOf, readsChangedPath } from '../journey/compiler/contact-fields';
import { applyChanges, parseChanges, type ContactChange, type ContactChanges } from '../journey/contact-changes';
import type { JourneyPlan, PlanTrigger } from '../journey/plan';
import type { Contact } from '../journey/schema';
import { cachedPlanLoader } from '../publishing/journeys';
import { enterJourney, routeEvent, type ContactTrigger, type RouteResult, type RouterDeps } from './router';

export const CONTACT_UPDATED = 'contact.updated';

export type ContactRoutingDeps = { db: Db; router: RouterDeps };

/** Why a running run of the contact was not signalled for an update (counted, never silent). */
export type ContactSignalSkip = 'own_change' | 'reads_no_changed_field' | 'invalid_changes' | 'contact_missing' | 'plan_missing';

export type ContactRouteResult = RouteResult & {
  /** Updates folded into a signal that carried a later one (per run). */
  coalesced: number;
  skipped: Partial<Record<ContactSignalSkip, number>>;
};

type Update = { signal: JourneyEventSignal; changes: ContactChanges; workflowId?: string };
type SignalOutcome = { signalled: string[]; coalesced: number; skipped: Partial<Record<ContactSignalSkip, number>> };

/** Process-wide totals since start (what the per-event results add up to), for ops and tests. */
export const contactRoutingTotals = { updates: 0, signals: 0, coalesced: 0, skipped: {} as Partial<Record<ContactSignalSkip, number>> };

const count = (into: Partial<Record<ContactSignalSkip, number>>, reason: ContactSignalSkip, n = 1) => {
  into[reason] = (into[reason] ?? 0) + n;
};

export async function routeContactUpdate(
  deps: ContactRoutingDeps,
  contactId: string,
  event: JourneyEventSignal,
): Promise<ContactRouteResult> {
  contactRoutingTotals.updates += 1;
  // Event triggers on contact.updated start runs like any event; running runs are signalled below, coalesced.
  const { runningRuns: _signalEveryRun, ...eventOnly } = deps.router;
  const routed = await routeEvent(eventOnly, contactId, event);
  const changes = parseChanges(event.properties);
  if (!changes) {
    count(contactRoutingTotals.skipped, 'invalid_changes');
    return { ...routed, coalesced: 0, skipped: { invalid_changes: 1 } };
  }
  const started = [...routed.started];
  const notEntered = [...routed.notEntered];
  const triggers = (await deps.router.triggers.contactTriggers?.()) ?? [];
  if (triggers.length > 0) {
    let contact: Promise<Contact | undefined> | undefined;
    const current = () => (contact ??= findContactById(deps.db, contactId).then((r) => (r ? toJourneyContact(r) : undefined)));
    const entered = new Set(started.map((s) => s.journeyId));
    for (const t of triggers) {
      if (entered.has(t.journeyId)) continue;
      if (!(await triggerFires(t.trigger, changes, current, event))) continue;
      entered.add(t.journeyId);
      const r = await enterJourney(deps.router, { journeyId: t.journeyId, version: t.version, entry: t.entry ?? { reEntry: 'once', maxConcurrent: 1 } }, contactId, event);
      if (r.started) started.push({ journeyId: t.journeyId, workflowId: r.workflowId });
      else if (r.reason) notEntered.push({ journeyId: t.journeyId, reason: r.reason });
    }
  }
  const workflowId = typeof event.properties.workflowId === 'string' ? event.properties.workflowId : undefined;
  const out = await enqueue(deps, contactId, { signal: event, changes, ...(workflowId ? { workflowId } : {}) });
  const startedIds = new Set(started.map((s) => s.workflowId));
  return { started, signalled: out.signalled.filter((id) => !startedIds.has(id)), notEntered, coalesced: out.coalesced, skipped: out.skipped };
}

// --- triggers -------------------------------------------------------------------------------------------------------

async function triggerFires(
  trigger: ContactTrigger['trigger'],
  changes: ContactChanges,
  contact: () => Promise<Contact | undefined>,
  event: JourneyEventSignal,
): Promise<boolean> {
  if (trigger.type === 'change') return changeMatches(trigger, changes);
  const after = await contact();
  if (!after) return false;
  const before = applyChanges(after, changes, 'from');
  const ctx = { now: event.occurredAt, enteredAt: event.occurredAt, events: [], trigger: event.properties };
  return !evaluate(trigger.filter, { ...ctx, contact: before }) && evaluate(trigger.filter, { ...ctx, contact: after });
}

/** The change of a trigger's field: named exactly, or inside a changed object (`attributes.plan` for `attributes.plan.tier`). */
function changeOf(field: readonly string[], changes: ContactChanges): ContactChange | undefined {
  const path = field.join('.');
  if (changes[path]) return changes[path];
  if (path === 'country' && changes['attributes.country']) return changes['attributes.country'];
  for (let i = field.length - 1; i > 0; i--) {
    const outer = changes[field.slice(0, i).join('.')];
    if (!outer) continue;
    const dig = (v: unknown) => field.slice(i).reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), v);
    const inner = { from: dig(outer.from), to: dig(outer.to) };
    return JSON.stringify(inner.from) === JSON.stringify(inner.to) ? undefined : inner;
  }
  return undefined;
}

const equals = (a: unknown, want: unknown) => runTest({ op: 'eq', value: want as never }, a, 0);
const holds = (list: unknown, want: unknown) => Array.isArray(list) && list.some((x) => equals(x, want));

/**
 * `from` / `to` absent match anything. On a list (tags) they name an element: `to: vip` is "vip was added", `from: vip`
 * "vip was removed".
 */
export function changeMatches(trigger: Extract<PlanTrigger, { type: 'change' }>, changes: ContactChanges): boolean {
  const ch = changeOf(trigger.field, changes);
  if (!ch) return false;
  const side = (want: unknown, value: unknown, other: unknown) => {
    if (want === undefined) return true;
    if (Array.isArray(value) || Array.isArray(other)) return holds(value, want) && !holds(other, want);
    return equals(value, want);
  };
  return side(trigger.from, ch.from, ch.to) && side(trigger.to, ch.to, ch.from);
}

// --- signals to running runs, coalesced per contact -----------------------------------------------------------------

/**
 * How long the first update of a quiet contact waits for others before its round of signals: the price of coalescing
 * is this much latency on a contact change reaching running runs (and on the write's answer, which waits for it).
 */
export const COALESCE_LINGER_MS = 25;

type Pending = { deps: ContactRoutingDeps; updates: Update[]; waiters: { resolve: (o: SignalOutcome) => void; reject: (err: unknown) => void }[] };
type Lane = { busy: boolean; next?: Pending };
const lanes = new WeakMap<Db, Map<string, Lane>>();
const planLoaders = new WeakMap<Db, (journeyId: string, version: number) => Promise<JourneyPlan>>();

function enqueue(deps: ContactRoutingDeps, contactId: string, update: Update): Promise<SignalOutcome> {
  let byContact = lanes.get(deps.db);
  if (!byContact) lanes.set(deps.db, (byContact = new Map()));
  let lane = byContact.get(contactId);
  if (!lane) byContact.set(contactId, (lane = { busy: false }));
  const pending = (lane.next ??= { deps, updates: [], waiters: [] });
  pending.deps = deps;
  pending.updates.push(update);
  const done = new Promise<SignalOutcome>((resolve, reject) => pending.waiters.push({ resolve, reject }));
  if (!lane.busy) {
    lane.busy = true;
    void drain(byContact, contactId, lane);
  }
  return done;
}

const runsOf = (db: Db) => {
  let read = runReaders.get(db);
  if (!read) {
    // Group-committed across the contacts whose updates arrive together: one statement, not one per update.
    read = batched<string, RunningRun[]>(async (contactIds) => {
      const rows = await db
        .select({ contactId: journeyRuns.contactId, workflowId: journeyRuns.workflowId, journeyId: journeyRuns.journeyId, version: journeyRuns.version })
        .from(journeyRuns)
        .where(and(anyOf(journeyRuns.contactId, [...new Set(contactIds)]), eq(journeyRuns.status, 'running')));
      return contactIds.map((c) => rows.filter((r) => r.contactId === c));
    });
    runReaders.set(db, read);
  }
  return read;
};
type RunningRun = { workflowId: string; journeyId: string; version: number };
const runReaders = new WeakMap<Db, (contactId: string) => Promise<RunningRun[]>>();

const settle = (batch: Pending, run: () => Promise<SignalOutcome>) =>
  run().then(
    (out) => batch.waiters.forEach((w) => w.resolve(out)),
    // Every caller fails (the API answers 5xx, the event stays unrouted) and the sender's retry routes it again.
    (err: unknown) => batch.waiters.forEach((w) => w.reject(err)),
  );

async function drain(byContact: Map<string, Lane>, contactId: string, lane: Lane): Promise<void> {
  // A contact with no running run has nobody to signal: its updates are answered at once, without the linger. One
  // with runs lingers, so a burst of writes (an import, a form that sets five fields one by one) shares the first round.
  const take = () => {
    const batch = lane.next;
    lane.next = undefined;
    return batch;
  };
  const first = take()!;
  await settle(first, async () => {
    const runs = await runsOf(first.deps.db)(contactId);
    if (runs.length === 0) return { signalled: [], coalesced: 0, skipped: {} };
    await new Promise((r) => setTimeout(r, COALESCE_LINGER_MS));
    const later = take();
    if (later) {
      first.updates.push(...later.updates);
      first.waiters.push(...later.waiters);
      first.deps = later.deps;
    }
    return signalRuns(first.deps, contactId, first.updates);
  });
  for (let batch = take(); batch; batch = take()) {
    const b = batch;
    await settle(b, () => signalRuns(b.deps, contactId, b.updates));
  }
  lane.busy = false;
  byContact.delete(contactId);
}

/** One contact.updated standing for several: each path from its first `from` to its last `to`. */
function merged(updates: Update[]): JourneyEventSignal {
  const last = updates[updates.length - 1]!;
  if (updates.length === 1) return last.signal;
  const changes: ContactChanges = {};
  for (const u of updates) for (const [path, ch] of Object.entries(u.changes)) changes[path] = { from: changes[path] ? changes[path].from : ch.from, to: ch.to };
  // The last update's id: a re-delivery of the same burst is the same event to the run.
  return { ...last.signal, properties: { ...last.signal.properties, changes, coalesced: updates.map((u) => u.signal.id) } };
}

async function signalRuns(deps: ContactRoutingDeps, contactId: string, updates: Update[]): Promise<SignalOutcome> {
  const { db } = deps;
  const skipped: SignalOutcome['skipped'] = {};
  const runs = await runsOf(db)(contactId);
  if (runs.length === 0) return { signalled: [], coalesced: 0, skipped };
  // Read after every update of the batch was written: the contact as it is now.
  const row = await findContactById(db, contactId);
  if (!row) {
    count(skipped, 'contact_missing', runs.length);
    count(contactRoutingTotals.skipped, 'contact_missing', runs.length);
    return { signalled: [], coalesced: 0, skipped };
  }
  const contact = toJourneyContact(row);
  let plans = planLoaders.get(db);
  if (!plans) planLoaders.set(db, (plans = cachedPlanLoader(db)));
  let coalesced = 0;
  const signalled = await Promise.all(
    runs.map(async (run): Promise<string | undefined> => {
      const theirs = updates.filter((u) => u.workflowId !== run.workflowId);
      if (theirs.length === 0) {
        count(skipped, 'own_change');
        return undefined;
      }
      let plan: JourneyPlan;
      try {
        plan = await plans(run.journeyId, run.version);
      } catch (err) {
        // A projection row naming a version that does not exist cannot hold back the contact's other runs.
        if (!(err instanceof NotFoundError)) throw err;
        count(skipped, 'plan_missing');
        return undefined;
      }
      const fields = plan.contactFields ?? contactFieldsOf(plan);
      const reads = theirs.some((u) => Object.keys(u.changes).some((p) => readsChangedPath(fields, p)));
      let signals: JourneyEventSignal[];
      if (plan.eventTypes.includes(CONTACT_UPDATED)) signals = theirs.map((u) => u.signal);
      else if (reads) {
        signals = [merged(theirs)];
        coalesced += theirs.length - 1;
      } else {
        count(skipped, 'reads_no_changed_field');
        return undefined;
      }
      // The fresh contact rides on the last signal; the ones before it are events the run waits on.
      signals[signals.length - 1] = { ...signals[signals.length - 1]!, contact };
      try {
        const handle = deps.router.temporal.workflow.getHandle(run.workflowId);
        for (const s of signals) await handle.signal(journeyEventSignal, s);
        contactRoutingTotals.signals += signals.length;
        return run.workflowId;
      } catch (err) {
        // The projection can lag a run that just ended; that run no longer needs the contact.
        if ((err as Error).name !== 'WorkflowNotFoundError') throw err;
        return undefined;
      }
    }),
  );
  contactRoutingTotals.coalesced += coalesced;
  for (const [k, n] of Object.entries(skipped)) count(contactRoutingTotals.skipped, k as ContactSignalSkip, n);
  return { signalled: signalled.filter((id): id is string => id !== undefined), coalesced, skipped };
}
