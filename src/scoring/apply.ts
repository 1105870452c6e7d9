/**
 * The database shell around the scoring engine. Every application runs in one transaction under a row lock on the
 * contact (`select … for update`), so concurrent events for one contact are scored one after another against the
 * score, cap usage and fit totals the previous one left, and every score change is a `score_events` row whose unique
 * idempotency key makes a re-delivered event score once.
 *
 * `score_events` rows written here:
 * - source `rule`: event rules (behaviour and event penalties); key `rule:<eventId>:<ruleId>`; `created_at` is the
 *   event's occurrence time, so caps and idleness follow when things happened, not when they were processed;
 * - source `fit`: fit rules and attribute penalties; key `fit:<contactId>:<ruleId>:<n>`;
 * - source `decay`: key `decay:<contactId>:<yyyy-mm-dd in the model's time zone>`.
 */
import { and, count, eq, gt, inArray, sql } from 'drizzle-orm';
import type { DecayProgress } from '../contracts';
import type { Db, DbOrTx } from '../db/client';
import { anyOf, jitOff, lockRowsById, probeRows, withoutJit } from '../db/any';
import { fromDriverRow, insertJsonRows } from '../db/bulk-insert';
import { contactAudit, contacts, scoreEvents } from '../db/schema';
import { NotFoundError } from '../errors';
import {
  matchingEventRules,
  scoreDecay,
  scoreEvent,
  scoreFit,
  thresholdCrossings,
  type ScoreChange,
  type ScoringResult,
} from './engine';
import { durationMs, type ScoringModel } from './model';
import { localDate } from './time';
import { recordContactChange, recordContactChanges } from '../contacts/changes';
import type { IncomingEvent } from '../ingest/incoming';

type ContactRow = typeof contacts.$inferSelect;

export type ScoringEventInput = {
  eventId: string;
  contactId: string;
  type: string;
  properties: Record<string, unknown>;
  occurredAt: Date;
};

/** An event scoring produced (e.g. `lead.mql`); the caller stores and routes it. Its id is deterministic. */
export type EmittedEvent = {
  id: string;
  type: string;
  contactId: string;
  occurredAt: Date;
  properties: { threshold: string; at: number; score: number; trigger: string };
};

export type ApplyResult = {
  /** The contact scored (the merge target when `contactId` was merged). */
  contactId: string;
  /** True when this event had already been scored: nothing changed, and `emitted` repeats what it emitted then. */
  duplicate: boolean;
  changes: ScoreChange[];
  score: number;
  lifecycleStage: string;
  emitted: EmittedEvent[];
  /**
   * The `contact.updated` this application stored (score, and lifecycle_stage on a crossing; source `scoring`), still
   * to be routed by the caller (the outbox sweeper routes it otherwise).
   */
  contactEvents: IncomingEvent[];
};

/** Thrown inside a transaction to roll it back when a concurrent writer already recorded the same key. */
class AlreadyApplied extends Error {}

const SOURCE = { rule: 'rule', fit: 'fit', decay: 'decay' } as const;
const BEHAVIOUR_SOURCES = [SOURCE.rule, SOURCE.decay];

export const eventKey = (eventId: string, ruleId: string) => `rule:${eventId}:${ruleId}`;
export const decayKey = (contactId: string, day: string) => `decay:${contactId}:${day}`;

/** Locks the live contact, following merge pointers so points land where reads look. */
async function lockContact(tx: DbOrTx, contactId: string): Promise<ContactRow> {
  let id = contactId;
  for (let hop = 0; hop < 10; hop++) {
    const [row] = await tx.select().from(contacts).where(eq(contacts.id, id)).for('update');
    if (!row) throw new NotFoundError('contact', id);
    if (!row.mergedInto) return row;
    id = row.mergedInto;
  }
  throw new Error(`contact ${contactId}: merge chain is longer than 10 hops`);
}

async function readContact(db: DbOrTx, contactId: string): Promise<ContactRow> {
  let id = contactId;
  for (let hop = 0; hop < 10; hop++) {
    const [row] = await db.select().from(contacts).where(eq(contacts.id, id));
    if (!row) throw new NotFoundError('contact', id);
    if (!row.mergedInto) return row;
    id = row.mergedInto;
  }
  throw new Error(`contact ${contactId}: merge chain is longer than 10 hops`);
}

const sumDelta = sql<number>`coalesce(sum(${scoreEvents.delta}), 0)`.mapWith(Number);

/** Net points rule `ruleId` (source `rule`) awarded the contact within `[start, end)`, as a subquery. */
function ruleTotalQuery(tx: DbOrTx, contactId: string, ruleId: string, start: Date, end: Date) {
  return tx
    .select({ total: sumDelta })
    .from(scoreEvents)
    .where(
      and(
        eq(scoreEvents.contactId, contactId),
        eq(scoreEvents.source, SOURCE.rule),
        eq(scoreEvents.rule, ruleId),
        sql`${scoreEvents.createdAt} >= ${start.toISOString()}::timestamptz`,
        sql`${scoreEvents.createdAt} < ${end.toISOString()}::timestamptz`,
      ),
    );
}

/**
 * Upward crossings of `at` recorded for the contact up to row `uptoId`, from each row's own before/after
 * (`score_after - delta` → `score_after`). Deterministic for a given history, and it grows with every crossing, so it
 * numbers emitted events (`mql:<contactId>:<n>`) without a counter table.
 */
async function crossingNumber(tx: DbOrTx, contactId: string, at: number, uptoId: number): Promise<number> {
  const [row] = await tx
    .select({ n: count() })
    .from(scoreEvents)
    .where(
      and(
        eq(scoreEvents.contactId, contactId),
        sql`${scoreEvents.id} <= ${uptoId}`,
        sql`${scoreEvents.scoreAfter} >= ${at}`,
        sql`${scoreEvents.scoreAfter} - ${scoreEvents.delta} < ${at}`,
      ),
    );
  return row?.n ?? 0;
}

async function emittedFor(
  tx: DbOrTx,
  model: ScoringModel,
  contactId: string,
  span: { before: number; after: number; lastRowId: number; occurredAt: Date; trigger: string },
): Promise<{ emitted: EmittedEvent[]; numbers: Map<string, number> }> {
  const emitted: EmittedEvent[] = [];
  const numbers = new Map<string, number>();
  for (const c of thresholdCrossings(model, span.before, span.after)) {
    const n = await crossingNumber(tx, contactId, c.at, span.lastRowId);
    numbers.set(c.thresholdId, n);
    if (!c.emit) continue;
    emitted.push({
      id: `${c.thresholdId}:${contactId}:${n}`,
      type: c.emit,
      contactId,
      occurredAt: span.occurredAt,
      properties: { threshold: c.thresholdId, at: c.at, score: span.after, trigger: span.trigger },
    });
  }
  return { emitted, numbers };
}

/**
 * Writes an engine result: one `score_events` row per change (running `score_after`), the contact's score, and on an
 * upward threshold crossing the forward lifecycle move with its audit row. Throws {@link AlreadyApplied} when a key
 * already exists, which rolls the whole transaction back.
 */
async function record(
  tx: DbOrTx,
  model: ScoringModel,
  contact: ContactRow,
  result: ScoringResult,
  opts: { source: string; keyFor: (c: ScoreChange) => string; createdAt: Date; trigger: string },
): Promise<ApplyResult> {
  let running = contact.score;
  let lastRowId = 0;
  for (const change of result.changes) {
    running += change.delta;
    const inserted = await tx
      .insert(scoreEvents)
      .values({
        idempotencyKey: opts.keyFor(change),
        contactId: contact.id,
        delta: change.delta,
        scoreAfter: running,
        reason: change.reason,
        source: opts.source,
        rule: change.ruleId,
        createdAt: opts.createdAt,
      })
      .onConflictDoNothing({ target: scoreEvents.idempotencyKey })
      .returning({ id: scoreEvents.id });
    if (inserted.length === 0) throw new AlreadyApplied();
    lastRowId = inserted[0]!.id;
  }
  let lifecycleStage = contact.lifecycleStage;
  if (result.changes.length === 0) {
    return { contactId: contact.id, duplicate: false, changes: [], score: contact.score, lifecycleStage, emitted: [], contactEvents: [] };
  }
  await tx.update(contacts).set({ score: result.score, updatedAt: sql`now()` }).where(eq(contacts.id, contact.id));
  const { emitted, numbers } = await emittedFor(tx, model, contact.id, {
    before: result.scoreBefore,
    after: result.score,
    lastRowId,
    occurredAt: opts.createdAt,
    trigger: opts.trigger,
  });
  if (result.lifecycle) {
    const { from, to, thresholdId } = result.lifecycle;
    lifecycleStage = to;
    await tx.update(contacts).set({ lifecycleStage: to, updatedAt: sql`now()` }).where(eq(contacts.id, contact.id));
    await tx
      .insert(contactAudit)
      .values({
        idempotencyKey: `scoring:lifecycle:${contact.id}:${thresholdId}:${numbers.get(thresholdId) ?? 0}`,
        contactId: contact.id,
        action: 'set_lifecycle_stage',
        detail: { stage: to, previous: from, threshold: thresholdId, score: result.score, trigger: opts.trigger },
        actor: 'scoring',
      })
      .onConflictDoNothing({ target: contactAudit.idempotencyKey });
  }
  // The first score row's key is unique to this application, so it keys the write.
  const { events: contactEvents } = await recordContactChange(tx, {
    before: contact,
    after: { ...contact, score: result.score, lifecycleStage },
    source: 'scoring',
    key: opts.keyFor(result.changes[0]!),
    occurredAt: opts.createdAt,
  });
  return { contactId: contact.id, duplicate: false, changes: result.changes, score: result.score, lifecycleStage, emitted, contactEvents };
}

/**
 * Rebuilds what an already-scored event emitted from its stored rows, so a caller that crashed between our commit and
 * storing the emitted events gets them again on re-delivery (their ids are deterministic, so storing twice is harmless).
 */
async function replay(db: DbOrTx, model: ScoringModel, input: ScoringEventInput, keys: string[]): Promise<ApplyResult> {
  const rows = await db.select().from(scoreEvents).where(inArray(scoreEvents.idempotencyKey, keys)).orderBy(scoreEvents.id);
  const first = rows[0];
  const last = rows[rows.length - 1];
  if (!first || !last) throw new Error(`event ${input.eventId} was reported as already scored but has no score rows`);
  const [contact] = await db.select().from(contacts).where(eq(contacts.id, first.contactId));
  const { emitted } = await emittedFor(db, model, first.contactId, {
    before: first.scoreAfter - first.delta,
    after: last.scoreAfter,
    lastRowId: last.id,
    occurredAt: input.occurredAt,
    trigger: input.eventId,
  });
  return {
    contactId: first.contactId,
    duplicate: true,
    changes: [],
    score: contact?.score ?? last.scoreAfter,
    lifecycleStage: contact?.lifecycleStage ?? 'lead',
    emitted,
    contactEvents: [],
  };
}

/**
 * Scores one ingested event for its contact, exactly once per event id. Call it for every stored event (not only
 * those that reach a journey); store and route `emitted` afterwards.
 */
export async function applyScoringToEvent(db: Db, model: ScoringModel, input: ScoringEventInput): Promise<ApplyResult> {
  const event = { id: input.eventId, type: input.type, properties: input.properties, occurredAt: input.occurredAt };
  const rules = matchingEventRules(model, event);
  const keys = rules.map((r) => eventKey(input.eventId, r.id));
  if (keys.length === 0) {
    // Most events score nothing: answer without a transaction or a row lock.
    const contact = await readContact(db, input.contactId);
    return { contactId: contact.id, duplicate: false, changes: [], score: contact.score, lifecycleStage: contact.lifecycleStage, emitted: [], contactEvents: [] };
  }
  const attempt = () =>
    db.transaction(async (tx) => {
      const contact = await lockContact(tx, input.contactId);
      // Checked under the lock: a concurrent delivery of the same event has committed by now, or has not started. One
      // statement answers that and every capped rule's usage (the hot path of ingest: one round trip, not 1 + rules).
      const capped = rules.filter((r) => r.window);
      const totals = capped.map((r) => sql`coalesce((${ruleTotalQuery(tx, contact.id, r.id, r.window!.start, r.window!.end)}), 0)`);
      const res = await tx.execute(sql`select exists (select 1 from ${scoreEvents} where ${inArray(scoreEvents.idempotencyKey, keys)}) as done,
        array[${sql.join([sql`0`, ...totals], sql`, `)}]::bigint[] as totals`);
      const [pre] = ((res as { rows?: unknown[] }).rows ?? (res as unknown as unknown[])) as { done: boolean; totals: (string | number)[] }[];
      if (pre?.done) throw new AlreadyApplied();
      const capUsage: Record<string, number> = {};
      capped.forEach((r, i) => (capUsage[r.id] = Number(pre?.totals[i + 1] ?? 0)));
      const result = scoreEvent(model, contact, event, capUsage);
      return record(tx, model, contact, result, {
        source: SOURCE.rule,
        keyFor: (c) => eventKey(input.eventId, c.ruleId),
        createdAt: input.occurredAt,
        trigger: input.eventId,
      });
    });
  try {
    return await attempt();
  } catch (err) {
    // The same event id was scored before (or concurrently, for a contact reached through another merge pointer).
    if (err instanceof AlreadyApplied) return replay(db, model, input, keys);
    throw err;
  }
}

/**
 * `applyScoringToEvent` for the events of concurrent requests, group-committed: the events that score nothing (of
 * contacts no event of the group scores) answer from one read, and the others are scored in one transaction — their contacts locked in one statement (id order),
 * their scored-already keys and every capped rule's usage read in one more, then one insert of all score rows, one
 * update of the scores and one insert of the `contact.updated` events. Results in the order given, each as
 * `applyScoringToEvent` would have answered it alone, in that order: two events of one contact are scored one after
 * the other (the second sees the first's points in its score and cap usage).
 *
 * What this path does not write is left to `applyScoringToEvent`, one event at a time after the group commits, and
 * with it every later event of the same contact: an event that crosses a threshold (emitted events and lifecycle moves
 * are numbered per contact), one already scored (the replay), a contact merged away or missing. A group whose insert
 * meets a key a concurrent delivery just wrote rolls back whole and goes that way too. An event that fails there is
 * answered `{ error }`, alone: the others' results stand.
 */
export async function applyScoringToEvents(db: Db, model: ScoringModel, inputs: readonly ScoringEventInput[]): Promise<(ApplyResult | { error: unknown })[]> {
  const plans = inputs.map((input) => {
    const event = { id: input.eventId, type: input.type, properties: input.properties, occurredAt: input.occurredAt };
    const rules = matchingEventRules(model, event);
    return { input, event, rules, keys: rules.map((r) => eventKey(input.eventId, r.id)) };
  });
  const out: (ApplyResult | undefined)[] = Array.from({ length: inputs.length }, () => undefined);
  const alone = new Set<number>();
  const scoredContacts = new Set(plans.flatMap((p) => (p.keys.length > 0 ? [p.input.contactId] : [])));

  // Events that score nothing, of contacts no event of the group scores: the contact as it is, read once for all.
  const unscored = plans.flatMap((p, i) => (p.keys.length === 0 && !scoredContacts.has(p.input.contactId) ? [i] : []));
  if (unscored.length > 0) {
    const rows = await db.select().from(contacts).where(anyOf(contacts.id, [...new Set(unscored.map((i) => inputs[i]!.contactId))]));
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const i of unscored) {
      const c = byId.get(inputs[i]!.contactId);
      if (!c || c.mergedInto) alone.add(i);
      else out[i] = { contactId: c.id, duplicate: false, changes: [], score: c.score, lifecycleStage: c.lifecycleStage, emitted: [], contactEvents: [] };
    }
  }

  // The events of contacts the group scores, those that score nothing among them: answered in order, as they come.
  const scored = plans.flatMap((p, i) => (scoredContacts.has(p.input.contactId) ? [i] : []));
  if (scored.length > 0) {
    try {
      const written = await db.transaction(async (tx) => {
        const ids = [...new Set(scored.map((i) => inputs[i]!.contactId))].sort();
        const locked = await tx.select().from(contacts).where(anyOf(contacts.id, ids)).orderBy(contacts.id).for('update');
        const state = new Map(locked.filter((c) => !c.mergedInto).map((c) => [c.id, { row: c, awarded: [] as { rule: string; at: Date; delta: number }[] }]));
        // Under the locks: which keys are written already, and each capped rule's usage in its event's window.
        const capped = scored.flatMap((i) => plans[i]!.rules.filter((r) => r.window).map((r) => ({ i, rule: r })));
        const totals = capped.map(({ i, rule }) => sql`coalesce((${ruleTotalQuery(tx, inputs[i]!.contactId, rule.id, rule.window!.start, rule.window!.end)}), 0)`);
        const allKeys = scored.flatMap((i) => plans[i]!.keys);
        const writtenKeys = new Set<string>();
        const res = await tx.execute(sql`select array(select ${scoreEvents.idempotencyKey} from ${scoreEvents} where ${anyOf(scoreEvents.idempotencyKey, allKeys)}) as done,
          array[${sql.join([sql`0`, ...totals], sql`, `)}]::bigint[] as totals`);
        const [pre] = ((res as { rows?: unknown[] }).rows ?? (res as unknown as unknown[])) as { done: string[]; totals: (string | number)[] }[];
        const done = new Set(pre?.done ?? []);
        const usage = new Map<number, Record<string, number>>();
        capped.forEach(({ i, rule }, n) => {
          const u = usage.get(i) ?? {};
          u[rule.id] = Number(pre?.totals[n + 1] ?? 0);
          usage.set(i, u);
        });
        const tainted = new Set<string>();
        const rows: (typeof scoreEvents.$inferInsert)[] = [];
        const changes: { i: number; before: ContactRow; after: ContactRow; key: string; occurredAt: Date }[] = [];
        for (const i of scored) {
          const { input, event, rules, keys } = plans[i]!;
          const s = state.get(input.contactId);
          if (!s || tainted.has(input.contactId) || keys.some((k) => done.has(k))) {
            tainted.add(input.contactId);
            alone.add(i);
            continue;
          }
          // A second delivery of an event this group scored: the replay answers it, once the group has committed.
          if (keys.some((k) => writtenKeys.has(k))) {
            alone.add(i);
            continue;
          }
          if (keys.length === 0) {
            out[i] = { contactId: s.row.id, duplicate: false, changes: [], score: s.row.score, lifecycleStage: s.row.lifecycleStage, emitted: [], contactEvents: [] };
            continue;
          }
          // Points this group already gave the contact count against the caps whose windows hold them.
          const capUsage = { ...usage.get(i) };
          for (const r of rules) {
            if (!r.window) continue;
            for (const a of s.awarded) if (a.rule === r.id && a.at >= r.window.start && a.at < r.window.end) capUsage[r.id] = (capUsage[r.id] ?? 0) + a.delta;
          }
          const result = scoreEvent(model, s.row, event, capUsage);
          if (result.crossings.length > 0 || result.lifecycle) {
            tainted.add(input.contactId);
            alone.add(i);
            continue;
          }
          if (result.changes.length === 0) {
            out[i] = { contactId: s.row.id, duplicate: false, changes: [], score: s.row.score, lifecycleStage: s.row.lifecycleStage, emitted: [], contactEvents: [] };
            continue;
          }
          let running = s.row.score;
          for (const change of result.changes) {
            running += change.delta;
            writtenKeys.add(eventKey(input.eventId, change.ruleId));
            rows.push({ idempotencyKey: eventKey(input.eventId, change.ruleId), contactId: s.row.id, delta: change.delta, scoreAfter: running, reason: change.reason, source: SOURCE.rule, rule: change.ruleId, createdAt: input.occurredAt });
            s.awarded.push({ rule: change.ruleId, at: input.occurredAt, delta: change.delta });
          }
          const after = { ...s.row, score: result.score };
          changes.push({ i, before: s.row, after, key: eventKey(input.eventId, result.changes[0]!.ruleId), occurredAt: input.occurredAt });
          out[i] = { contactId: s.row.id, duplicate: false, changes: result.changes, score: result.score, lifecycleStage: s.row.lifecycleStage, emitted: [], contactEvents: [] };
          s.row = after;
        }
        if (rows.length === 0) return [];
        const inserted = await insertJsonRows(tx, scoreEvents, rows, { onConflictDoNothing: 'idempotencyKey', returning: 'id' });
        if (inserted.length !== rows.length) throw new AlreadyApplied();
        const scores = [...new Set(changes.map((c) => c.after.id))].map((id) => ({ id, score: state.get(id)!.row.score }));
        await tx.execute(sql`update ${contacts} as c set score = v.score, updated_at = now() from jsonb_to_recordset(${JSON.stringify(scores)}::jsonb) as v(id uuid, score int) where c.id = v.id`);
        const recorded = await recordContactChanges(tx, changes.map((c) => ({ before: c.before, after: c.after, source: 'scoring' as const, key: c.key, occurredAt: c.occurredAt })));
        return changes.map((c, n) => ({ i: c.i, contactEvents: recorded[n]!.events }));
      });
      for (const w of written) out[w.i] = { ...out[w.i]!, contactEvents: w.contactEvents };
    } catch (err) {
      // A key written since the read (a concurrent delivery): every scored event of the group goes the one-by-one way.
      if (!(err instanceof AlreadyApplied)) throw err;
      for (const i of scored) {
        out[i] = undefined;
        alone.add(i);
      }
    }
  }
  // One failing here (a contact that does not exist) fails only its own event: the others' results stand.
  const failed = new Map<number, unknown>();
  for (const i of [...alone].sort((a, b) => a - b)) {
    try {
      out[i] = await applyScoringToEvent(db, model, inputs[i]!);
    } catch (err) {
      failed.set(i, err);
    }
  }
  return out.map((r, i) => (failed.has(i) ? { error: failed.get(i) } : (r ?? { error: new Error(`event ${inputs[i]!.eventId} was not scored`) })));
}

export type ApplyFitOptions = {
  /** When the re-evaluation happens; recorded on the rows. @default new Date() */
  now?: Date;
};

/**
 * Re-evaluates fit rules and attribute penalties from the contact as it is now and records the difference to the fit
 * points already applied per rule. Idempotent: a second call with an unchanged contact records nothing. Call it after
 * a contact is created or updated.
 */
export async function applyFit(db: Db, model: ScoringModel, contactId: string, opts: ApplyFitOptions = {}): Promise<ApplyResult> {
  const now = opts.now ?? new Date();
  return db.transaction(async (tx) => {
    const contact = await lockContact(tx, contactId);
    const rows = await tx
      .select({ rule: scoreEvents.rule, total: sumDelta, n: count() })
      .from(scoreEvents)
      .where(and(eq(scoreEvents.contactId, contact.id), eq(scoreEvents.source, SOURCE.fit)))
      .groupBy(scoreEvents.rule);
    const lastFit: Record<string, number> = {};
    const seq: Record<string, number> = {};
    for (const r of rows) {
      if (r.rule === null) continue;
      lastFit[r.rule] = r.total;
      seq[r.rule] = r.n;
    }
    const result = scoreFit(model, contact, lastFit);
    return record(tx, model, contact, result, {
      source: SOURCE.fit,
      keyFor: (c) => `fit:${contact.id}:${c.ruleId}:${(seq[c.ruleId] ?? 0) + 1}`,
      createdAt: now,
      trigger: 'fit',
    });
  });
}

/**
 * `applyFit` for many contacts (a bulk import's chunk) in one read and, for those whose fit changed, one transaction:
 * the same `score_events` rows (keys, deltas, running `score_after`), score and `contact.updated` (source `scoring`).
 * A contact whose fit did not change gets nothing, as from `applyFit`. Those it leaves to `applyFit` one by one
 * (`rest`): a merged contact, a change that crosses a threshold (lifecycle moves and emitted events are counted per
 * contact), a score row already there. Returns the stored events to route.
 */
export async function applyFitMany(
  db: Db,
  model: ScoringModel,
  contactIds: readonly string[],
  opts: ApplyFitOptions & {
    /**
     * Rows the caller has just written, as they are: the first, unlocked read (most chunks have nothing to write)
     * takes them instead of reading them again; the locked read before any write reads every row.
     */
    known?: ReadonlyMap<string, ContactRow>;
  } = {},
): Promise<{ contactEvents: IncomingEvent[]; rest: string[] }> {
  const ids = [...new Set(contactIds)];
  if (ids.length === 0) return { contactEvents: [], rest: [] };
  const now = opts.now ?? new Date();
  const plan = async (tx: DbOrTx, lock: boolean) => {
    const sumsOf = () =>
      tx
        .select({ contactId: scoreEvents.contactId, rule: scoreEvents.rule, total: sumDelta, n: count() })
        .from(scoreEvents)
        .where(and(anyOf(scoreEvents.contactId, ids), eq(scoreEvents.source, SOURCE.fit)))
        .groupBy(scoreEvents.contactId, scoreEvents.rule);
    let rows: ContactRow[];
    let sums: Awaited<ReturnType<typeof sumsOf>>;
    if (lock) {
      rows = ((await tx.execute(sql`select c.* from ${lockRowsById(contacts.id, ids)} as c`)) as unknown as { rows: Record<string, unknown>[] }).rows.map((r) => fromDriverRow(contacts, r));
      sums = await sumsOf();
    } else {
      const unknown = ids.filter((id) => !opts.known?.has(id));
      let read: ContactRow[];
      [read, sums] = await Promise.all([unknown.length ? tx.execute(sql`select c.* from ${probeRows(contacts.id, unknown)} as c`).then((r) => (r as unknown as { rows: Record<string, unknown>[] }).rows.map((row) => fromDriverRow(contacts, row))) : Promise.resolve([]), sumsOf()]);
      rows = [...ids.flatMap((id) => (opts.known?.has(id) ? [opts.known.get(id)!] : [])), ...read].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }
    const byContact = new Map<string, { lastFit: Record<string, number>; seq: Record<string, number> }>();
    for (const r of sums) {
      if (r.rule === null) continue;
      const e = byContact.get(r.contactId) ?? { lastFit: {}, seq: {} };
      e.lastFit[r.rule] = r.total;
      e.seq[r.rule] = r.n;
      byContact.set(r.contactId, e);
    }
    const found = new Set(rows.map((r) => r.id));
    const rest: string[] = ids.filter((id) => !found.has(id));
    const writes: { contact: ContactRow; result: ScoringResult; seq: Record<string, number> }[] = [];
    for (const contact of rows) {
      if (contact.mergedInto) {
        rest.push(contact.id);
        continue;
      }
      const prior = byContact.get(contact.id) ?? { lastFit: {}, seq: {} };
      const result = scoreFit(model, contact, prior.lastFit);
      if (result.changes.length === 0) continue;
      if (result.crossings.length > 0 || result.lifecycle) rest.push(contact.id);
      else writes.push({ contact, result, seq: prior.seq });
    }
    return { rest, writes };
  };
  // Read without locks first: most chunks' contacts have nothing to write, or nothing this path writes.
  const first = await withoutJit(db, (tx) => plan(tx, false));
  if (first.writes.length === 0) return { contactEvents: [], rest: first.rest };
  try {
    return await db.transaction(async (tx) => {
      await jitOff(tx);
      const { rest, writes } = await plan(tx, true);
      const keyFor = (contactId: string, seq: Record<string, number>, c: ScoreChange) => `fit:${contactId}:${c.ruleId}:${(seq[c.ruleId] ?? 0) + 1}`;
      const rows = writes.flatMap(({ contact, result, seq }) => {
        let running = contact.score;
        return result.changes.map((change) => {
          running += change.delta;
          return { idempotencyKey: keyFor(contact.id, seq, change), contactId: contact.id, delta: change.delta, scoreAfter: running, reason: change.reason, source: SOURCE.fit, rule: change.ruleId, createdAt: now };
        });
      });
      const inserted = await insertJsonRows(tx, scoreEvents, rows, { onConflictDoNothing: 'idempotencyKey', returning: 'id' });
      if (inserted.length !== rows.length) throw new AlreadyApplied();
      const scores = writes.map((w) => ({ id: w.contact.id, score: w.result.score }));
      await tx.execute(sql`update ${contacts} as c set score = v.score, updated_at = now() from jsonb_to_recordset(${JSON.stringify(scores)}::jsonb) as v(id uuid, score int) where c.id = v.id`);
      const recorded = await recordContactChanges(
        tx,
        writes.map(({ contact, result, seq }) => ({ before: contact, after: { ...contact, score: result.score }, source: 'scoring' as const, key: keyFor(contact.id, seq, result.changes[0]!), occurredAt: now })),
      );
      return { contactEvents: recorded.flatMap((r) => r.events), rest };
    });
  } catch (err) {
    // A score row that exists already: applyFit knows what to do with each of them.
    if (err instanceof AlreadyApplied) return { contactEvents: [], rest: ids };
    throw err;
  }
}

export type ApplyDecayOptions = {
  /** The run's clock: idleness is measured back from here, and its local date keys the once-a-day guard. */
  now: Date;
  /** Contacts read per page and decayed one transaction each. @default 500 */
  batchSize?: number;
  /** Called after each page with the running totals. */
  onProgress?: (progress: DecayProgress) => void;
};

/**
 * Decays the behavioural score of every contact idle for at least `decay.after_idle` (see `scoreDecay` for the
 * rounding rule). Safe to run more than once a day and to run concurrently with event scoring: each contact is
 * re-checked under its row lock, and the `decay:<contactId>:<day>` key allows one decay per contact per local day.
 */
export async function applyDecay(db: Db, model: ScoringModel, opts: ApplyDecayOptions): Promise<DecayProgress> {
  const progress: DecayProgress = { batches: 0, scanned: 0, decayed: 0, skipped: 0, pointsRemoved: 0 };
  if (!model.decay) return progress;
  const { now } = opts;
  const batchSize = opts.batchSize ?? 500;
  const idleMs = durationMs(model.decay.after_idle);
  const cutoff = new Date(now.getTime() - idleMs).toISOString();
  const day = localDate(now, model.timezone);
  let after: string | undefined;
  for (;;) {
    // Keyset pagination over contacts with a positive behavioural score and no behaviour since the cutoff.
    const page = await db
      .select({ contactId: scoreEvents.contactId })
      .from(scoreEvents)
      .where(and(inArray(scoreEvents.source, BEHAVIOUR_SOURCES), after ? gt(scoreEvents.contactId, after) : undefined))
      .groupBy(scoreEvents.contactId)
      .having(and(sql`sum(${scoreEvents.delta}) > 0`, sql`max(${scoreEvents.createdAt}) <= ${cutoff}::timestamptz`))
      .orderBy(scoreEvents.contactId)
      .limit(batchSize);
    if (page.length === 0) break;
    for (const { contactId } of page) {
      progress.scanned++;
      const removed = await decayOne(db, model, contactId, now, day);
      if (removed > 0) {
        progress.decayed++;
        progress.pointsRemoved += removed;
      } else progress.skipped++;
    }
    progress.batches++;
    opts.onProgress?.({ ...progress });
    after = page[page.length - 1]!.contactId;
    if (page.length < batchSize) break;
  }
  return progress;
}

/** Points removed from one contact (0 when, under the lock, it is no longer due or was decayed today already). */
async function decayOne(db: Db, model: ScoringModel, contactId: string, now: Date, day: string): Promise<number> {
  try {
    return await db.transaction(async (tx) => {
      const [contact] = await tx.select().from(contacts).where(eq(contacts.id, contactId)).for('update');
      // Merged contacts keep their history but their score lives on the target.
      if (!contact || contact.mergedInto || contact.erasedAt) return 0;
      const [agg] = await tx
        .select({ behaviour: sumDelta, lastAt: sql<Date | null>`max(${scoreEvents.createdAt})`.mapWith(scoreEvents.createdAt) })
        .from(scoreEvents)
        .where(and(eq(scoreEvents.contactId, contactId), inArray(scoreEvents.source, BEHAVIOUR_SOURCES)));
      const result = scoreDecay(model, contact, { behaviour: agg?.behaviour ?? 0, lastActivityAt: agg?.lastAt ?? undefined, now });
      await record(tx, model, contact, result, { source: SOURCE.decay, keyFor: () => decayKey(contactId, day), createdAt: now, trigger: 'decay' });
      return -result.changes.reduce((s, c) => s + c.delta, 0);
    });
  } catch (err) {
    if (err instanceof AlreadyApplied) return 0;
    throw err;
  }
}
