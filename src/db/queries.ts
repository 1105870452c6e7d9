import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { anyOf } from './any';
import type { RunProjection, RunSteps } from '../contracts';
import type { Db, DbOrTx } from './client';
import { contacts, events, journeyRuns, journeyRunSteps, journeyVersions, messages, suppressions } from './schema';

export type ContactRow = typeof contacts.$inferSelect;
export type NewContact = typeof contacts.$inferInsert;
export type RunRow = typeof journeyRuns.$inferSelect;

/** Follows merge pointers to the live contact, so a merged duplicate's id still reads its survivor. */
async function live(db: DbOrTx, row: ContactRow | undefined): Promise<ContactRow | undefined> {
  for (let hop = 0; row?.mergedInto && hop < 10; hop++) [row] = await db.select().from(contacts).where(eq(contacts.id, row.mergedInto)).limit(1);
  return row;
}

export async function findContactById(db: DbOrTx, id: string): Promise<ContactRow | undefined> {
  const [row] = await db.select().from(contacts).where(eq(contacts.id, id)).limit(1);
  return live(db, row);
}

export async function findContactByExternalId(db: DbOrTx, externalId: string): Promise<ContactRow | undefined> {
  const [row] = await db.select().from(contacts).where(eq(contacts.externalId, externalId)).limit(1);
  return live(db, row);
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A contact by our id or the CRM's (external) id. A reference shaped like a UUID is looked up as our id first and, only
 * when no contact has that id, as a CRM id: so a CRM that uses UUIDs still reaches its contacts, and our id — which the
 * CRM cannot choose — always wins the (astronomically unlikely) tie.
 */
export async function findContactByRef(db: DbOrTx, ref: string): Promise<ContactRow | undefined> {
  if (UUID_RE.test(ref)) {
    const byId = await findContactById(db, ref);
    if (byId) return byId;
  }
  return findContactByExternalId(db, ref);
}

export async function findContactByEmail(db: DbOrTx, email: string): Promise<ContactRow | undefined> {
  const [row] = await db.select().from(contacts).where(eq(contacts.email, email)).limit(1);
  return row;
}

/** Inserts or updates by external id in one statement, so two concurrent upserts cannot create two rows. */
export async function upsertContactByExternalId(db: DbOrTx, values: NewContact & { externalId: string }): Promise<ContactRow> {
  const { externalId, ...rest } = values;
  const set: Record<string, unknown> = { updatedAt: sql`now()` };
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) set[k] = v;
  const [row] = await db
    .insert(contacts)
    .values(values)
    .onConflictDoUpdate({ target: contacts.externalId, set })
    .returning();
  return row!;
}

export type NewEvent = typeof events.$inferInsert;

/** Stores an event once by its id; returns false when the id was already stored (a re-delivery). */
export async function insertEventOnce(db: DbOrTx, event: NewEvent): Promise<boolean> {
  const inserted = await db.insert(events).values(event).onConflictDoNothing({ target: events.id }).returning({ id: events.id });
  return inserted.length === 1;
}

/**
 * Stores an event once by id and says whether it still needs routing: `new` (just stored), `unrouted` (stored by an
 * earlier delivery whose routing failed or has not finished: route it again — routing is idempotent), or `routed`.
 */
export async function claimEvent(db: DbOrTx, event: NewEvent): Promise<'new' | 'unrouted' | 'routed'> {
  if (await insertEventOnce(db, event)) return 'new';
  const [row] = await db.select({ routedAt: events.routedAt }).from(events).where(eq(events.id, event.id));
  return row && row.routedAt === null ? 'unrouted' : 'routed';
}

export type Claim = 'new' | 'unrouted' | 'routed';

/**
 * `claimEvent` for many events in one statement (the events of concurrent requests, group-committed): stores those not
 * stored yet and answers, in the order given, what each needs. An id given twice is claimed once: the later ones are
 * `unrouted` (a concurrent delivery of the same event; routing twice is safe). An id stored by a transaction that
 * committed while this statement ran is invisible to its read and is answered `unrouted` too.
 */
export async function claimEvents(db: DbOrTx, batch: readonly NewEvent[]): Promise<Claim[]> {
  const first = new Map<string, NewEvent>();
  for (const e of batch) if (!first.has(e.id)) first.set(e.id, e);
  const json = JSON.stringify(
    [...first.values()].map((e) => ({ id: e.id, type: e.type, contact_id: e.contactId ?? null, properties: e.properties ?? {}, occurred_at: e.occurredAt, source: e.source ?? 'api' })),
  );
  const res = await db.execute(sql`with input as (select * from jsonb_populate_recordset(null::events, ${json}::jsonb)),
    ins as (insert into events (id, type, contact_id, properties, occurred_at, source)
      select id, type, contact_id, properties, occurred_at, source from input on conflict (id) do nothing returning id)
    select input.id, ins.id is not null as fresh, e.id is not null as found, e.routed_at is not null as routed
    from input left join ins on ins.id = input.id left join events e on e.id = input.id`);
  const rows = ((res as { rows?: unknown[] }).rows ?? (res as unknown as unknown[])) as { id: string; fresh: boolean; found: boolean; routed: boolean }[];
  const byId = new Map(rows.map((r) => [r.id, r]));
  const seen = new Set<string>();
  return batch.map((e) => {
    const r = byId.get(e.id);
    if (!r) throw new Error(`event ${e.id} is missing from its claim's answer`);
    if (seen.has(e.id)) return 'unrouted';
    seen.add(e.id);
    return r.fresh ? 'new' : r.found && r.routed ? 'routed' : 'unrouted';
  });
}

const TERMINAL = new Set(['completed', 'exited', 'goal', 'failed', 'cancelled', 'terminated']);

export async function upsertRunProjection(db: Db, { stepSeq, ...run }: RunProjection): Promise<void> {
  const endedAt = TERMINAL.has(run.status) ? sql`now()` : null;
  await db.transaction(async (tx) => {
    if (stepSeq !== undefined && run.currentStep) {
      // A journey entry (seq 1) is also a touch in attribution: the credit rollup finds it by its writing transaction
      // (journey_run_steps.xid, src/analytics/credits.ts), so the run's hot path writes no mark.
      await tx
        .insert(journeyRunSteps)
        .values({ workflowId: run.workflowId, runId: run.runId, seq: stepSeq, journeyId: run.journeyId, version: run.version, contactId: run.contactId, stepId: run.currentStep })
        .onConflictDoNothing();
    }
    await upsertRun(tx, run, endedAt);
  });
}

/**
 * The projection with the journal entries a run made since its last write (`recordRunSteps`): every entry in one
 * insert, the projection in the same transaction. Entries already journaled (a replayed or retried write) are left as
 * they are, so the journal stays one row per entry.
 */
export async function recordRunSteps(db: Db, { steps, ...run }: RunSteps): Promise<void> {
  const endedAt = TERMINAL.has(run.status) ? sql`now()` : null;
  if (steps.length === 0) return upsertRun(db, run, endedAt);
  await db.transaction(async (tx) => {
    // A journey entry (seq 1) is found by the credit rollup through its writing transaction, as in upsertRunProjection.
    await tx
      .insert(journeyRunSteps)
      .values(steps.map((s) => ({ workflowId: run.workflowId, runId: run.runId, seq: s.seq, journeyId: run.journeyId, version: run.version, contactId: run.contactId, stepId: s.stepId })))
      .onConflictDoNothing();
    await upsertRun(tx, run, endedAt);
  });
}

async function upsertRun(db: DbOrTx, run: Omit<RunProjection, 'stepSeq'>, endedAt: SQL | null): Promise<void> {
  await db
    .insert(journeyRuns)
    .values({ ...run, endedAt: TERMINAL.has(run.status) ? new Date() : null })
    .onConflictDoUpdate({
      target: journeyRuns.workflowId,
      set: {
        runId: run.runId,
        // A migrated run (or a re-entry under the same id) is on the version it reports now.
        version: run.version,
        currentStep: run.currentStep,
        status: run.status,
        updatedAt: sql`now()`,
        endedAt,
        // A re-entry reuses the workflow id with a new run: its entry time is the new run's.
        startedAt: sql`case when ${journeyRuns.runId} is distinct from excluded.run_id then now() else ${journeyRuns.startedAt} end`,
      },
    });
}

/** What the re-entry rules need: runs still active, and when the contact last entered the journey. */
export async function entryHistory(db: DbOrTx, journeyId: string, contactId: string, entryKey?: string): Promise<{ activeRuns: number; lastEnteredAt?: number }> {
  const rows = await db
    .select({ status: journeyRuns.status, startedAt: journeyRuns.startedAt })
    .from(journeyRuns)
    // A keyed journey (entry.key) applies its re-entry rule per key.
    .where(and(eq(journeyRuns.journeyId, journeyId), eq(journeyRuns.contactId, contactId), entryKey !== undefined ? eq(journeyRuns.entryKey, entryKey) : undefined));
  const last = rows.reduce<number | undefined>((m, r) => Math.max(m ?? 0, r.startedAt.getTime()), undefined);
  return { activeRuns: rows.filter((r) => r.status === 'running').length, ...(last !== undefined ? { lastEnteredAt: last } : {}) };
}

export async function runningRunIds(db: DbOrTx, contactId: string): Promise<string[]> {
  const rows = await db
    .select({ id: journeyRuns.workflowId })
    .from(journeyRuns)
    .where(and(eq(journeyRuns.contactId, contactId), eq(journeyRuns.status, 'running')));
  return rows.map((r) => r.id);
}

export async function findRun(db: DbOrTx, workflowId: string): Promise<RunRow | undefined> {
  const [row] = await db.select().from(journeyRuns).where(eq(journeyRuns.workflowId, workflowId)).limit(1);
  return row;
}

/**
 * Why the address is on the channel's suppression list, or null when it is not (one row per address). `erased`: the
 * hashes an erased contact's address is kept under (src/contacts/erased-address.ts); such a row wins over a plain one.
 */
export async function suppressionOf(db: DbOrTx, channel: string, address: string, erased: readonly string[] = []): Promise<string | null> {
  const rows = await db
    .select({ reason: suppressions.reason })
    .from(suppressions)
    .where(and(eq(suppressions.channel, channel), inArray(suppressions.address, [address, ...erased])))
    .orderBy(sql`${suppressions.address} = ${address}`)
    .limit(1);
  return rows[0]?.reason ?? null;
}

export type MessageRow = typeof messages.$inferSelect;

export async function findMessageByKey(db: DbOrTx, key: string): Promise<MessageRow | undefined> {
  const [row] = await db.select().from(messages).where(eq(messages.idempotencyKey, key)).limit(1);
  return row;
}

/** The contact's running runs of keyed journeys (entry.key): each run's key and the path its version reads it from. */
/**
 * `runningRunIds` and `runningKeyedRuns` of many contacts in one statement: each running run of theirs, with the entry
 * key, key path and keyed event types of a keyed journey's run (null for the others).
 */
export async function runningRunsOf(
  db: DbOrTx,
  contactIds: readonly string[],
): Promise<{ contactId: string; workflowId: string; keyed: { entryKey: string; keyPath: string[]; keyedTypes: string[] } | null }[]> {
  const keyPath = sql<string[] | null>`${journeyVersions.plan}->'entry'->'key'`;
  const rows = await db
    .select({
      contactId: journeyRuns.contactId,
      workflowId: journeyRuns.workflowId,
      entryKey: journeyRuns.entryKey,
      keyPath,
      keyedTypes: sql<string[] | null>`case when ${journeyVersions.plan}->'entry' ? 'key' then coalesce((select jsonb_agg(t->>'event') from jsonb_array_elements(${journeyVersions.plan}->'triggers') t where t->>'type' = 'event'), '[]'::jsonb) end`,
    })
    .from(journeyRuns)
    .leftJoin(journeyVersions, and(eq(journeyVersions.journeyId, journeyRuns.journeyId), eq(journeyVersions.version, journeyRuns.version)))
    .where(and(anyOf(journeyRuns.contactId, [...new Set(contactIds)]), eq(journeyRuns.status, 'running')));
  return rows.map((r) => ({
    contactId: r.contactId,
    workflowId: r.workflowId,
    // A run whose journey's entry.key is not a list of path segments is not a keyed run.
    keyed: Array.isArray(r.keyPath) ? { entryKey: r.entryKey, keyPath: r.keyPath, keyedTypes: r.keyedTypes ?? [] } : null,
  }));
}

