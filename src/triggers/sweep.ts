/**
 * The date-trigger sweep: for one journey, find the contacts whose date-trigger occurrence fell in (from, until] and
 * start their runs, once per contact and occurrence.
 *
 * Why expression indexes and not a side table: the contact write path (PUT, events, merges, steps, CRM) needs no hook
 * at all, so no write can forget to maintain a copy. Publishing creates, per attribute a date trigger reads, a btree
 * index on the attribute's text (ISO dates sort as text, so a date range is an index range), one on its month-day
 * (`MM-DD`, for anniversaries), and a partial index over the contacts whose value is not ISO-shaped (so the sweep counts
 * non-dates without a scan). `created_at` has its two indexes in the migrations. The query only narrows by whole days
 * with two days' margin; the exact instant (zone, local time, DST, 29 February) is computed here, in
 * ./occurrence.ts, the same code the simulator uses.
 *
 * Where the window starts: the journey's cursor per field (date_trigger_sweeps), so a late or missed firing catches up,
 * but never more than {@link MAX_LOOKBACK_MS} back. A first sweep after publishing therefore still enters the
 * occurrences of the past 24 hours (a birthday journey published at 10:00 greets that morning's 09:00 birthdays); a
 * journey paused for a week does not send a week of stale reminders on resume. The run's workflow id carries the
 * occurrence (`dateEntryKey`) and refuses a duplicate, so overlapping windows never start a second run.
 */
import { and, asc, eq, gt, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type { Client } from '@temporalio/client';
import type { Db } from '../db/client';
import { contacts, dateTriggerSweeps, journeyRuns, journeys } from '../db/schema';
import { toJourneyContact } from '../db/contact-view';
import { loadPlan } from '../publishing/journeys';
import { startJourneyRun } from '../ingest/router';
import { evaluate } from '../journey/conditions';
import { resolveTimeZone } from '../journey/time';
import type { JourneyPlan } from '../journey/plan';
import { dateEntryKey, journeyWorkflowId, type DateSweepResult, type DateSweepTriggerResult, type JourneyEventSignal } from '../contracts';
import { DATE_REACHED_EVENT, dateReachedProperties } from './event';
import { candidateDays, candidateMonthDays, hasIsoShape, ISO_SHAPE_SQL, occurrencesBetween, parseDateValue, type DateTriggerPlan } from './occurrence';

/** How far back a sweep reaches at most (see the module comment). */
export const MAX_LOOKBACK_MS = 24 * 3_600_000;
export { DATE_REACHED_EVENT };
export const NOT_A_DATE = 'not a date';

const PAGE_SIZE = 500;
const START_CONCURRENCY = 16;

/** The compiler only lets `[A-Za-z0-9_-]` attribute names through, so the name is safe as a SQL literal. */
function attributeName(t: DateTriggerPlan): string | undefined {
  if (t.field[0] !== 'attributes') return undefined;
  const name = t.field.slice(1).join('.');
  if (!/^[A-Za-z0-9_-]{1,60}$/.test(name)) throw new Error(`date trigger field attributes.${name} is not indexable`);
  return name;
}

/** Index names stay under Postgres's 63 characters whatever the attribute's length. */
function indexSuffix(name: string): string {
  let h = 0x811c9dc5;
  for (const ch of name) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return `${name.slice(0, 30).replace(/-/g, '_').toLowerCase()}_${h.toString(16)}`;
}

const valueSql = (name: string) => `(attributes ->> '${name}')`;
const monthDaySql = (name: string) => `substr(attributes ->> '${name}', 6, 5)`;
const notDateSql = (name: string) => `(attributes ->> '${name}') !~ '${ISO_SHAPE_SQL}'`;
const CREATED_MMDD_SQL = `((date_part('month', timezone('UTC', "contacts"."created_at")) * 100 + date_part('day', timezone('UTC', "contacts"."created_at")))::int)`;

/** Creates (once) the indexes the sweep's queries use for every attribute the plan's date triggers read. */
export async function ensureDateIndexes(db: Db, plan: JourneyPlan): Promise<string[]> {
  const made: string[] = [];
  for (const t of plan.triggers) {
    if (t.type !== 'date') continue;
    const name = attributeName(t);
    if (name === undefined) continue;
    const s = indexSuffix(name);
    const indexes: [string, string][] = [
      [`contacts_date_${s}`, `ON contacts (${valueSql(name)})`],
      [`contacts_md_${s}`, `ON contacts ((${monthDaySql(name)}))`],
      [`contacts_nd_${s}`, `ON contacts (id) WHERE ${notDateSql(name)}`],
    ];
    for (const [index, body] of indexes) await createIndex(db, index, body);
    made.push(...indexes.map(([index]) => index));
  }
  return made;
}

async function createIndex(db: Db, name: string, body: string): Promise<void> {
  // A concurrent build that died (a crash, a cancelled publish) leaves an invalid index that IF NOT EXISTS would keep.
  const found = await db.execute(sql`select i.indisvalid as valid from pg_index i join pg_class c on c.oid = i.indexrelid where c.relname = ${name}`);
  const rows = (found as unknown as { rows: { valid: boolean }[] }).rows;
  if (rows[0]?.valid === true) return;
  if (rows.length > 0) await db.execute(sql.raw(`DROP INDEX IF EXISTS "${name}"`));
  // CONCURRENTLY: a big contacts table keeps taking writes while the index builds. Embedded PGlite (one connection)
  // cannot build concurrently (it fails and leaves its catalog unusable); a plain build is quick on its small tables.
  await db.execute(sql.raw(`CREATE INDEX ${isEmbedded(db) ? '' : 'CONCURRENTLY '}IF NOT EXISTS "${name}" ${body}`));
}

/** PGlite's client (drizzle's `$client`) has `waitReady`; node-postgres's pool has not. */
function isEmbedded(db: Db): boolean {
  const client = (db as unknown as { $client?: object }).$client;
  return typeof client === 'object' && client !== null && 'waitReady' in client;
}

/** The WHERE clause narrowing contacts to the candidates of (from, until] (exact check after). */
export function candidateFilter(t: DateTriggerPlan, from: number, until: number): SQL {
  const name = attributeName(t);
  const { first, last } = candidateDays(t, from, until);
  const dayAfter = new Date(Date.parse(`${last}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  if (t.repeat === 'once') {
    if (name === undefined) return sql`${contacts.createdAt} >= ${new Date(`${first}T00:00:00Z`).toISOString()} and ${contacts.createdAt} < ${new Date(`${dayAfter}T00:00:00Z`).toISOString()}`;
    return sql`${sql.raw(valueSql(name))} >= ${first} and ${sql.raw(valueSql(name))} < ${dayAfter}`;
  }
  const days = candidateMonthDays(t, from, until);
  if (name === undefined) {
    if (!days) return sql`true`;
    const mmdd = days.map((d) => Number(d.slice(0, 2)) * 100 + Number(d.slice(3, 5)));
    return sql`${sql.raw(CREATED_MMDD_SQL)} in (${sql.join(mmdd.map((n) => sql`${n}`), sql`, `)})`;
  }
  if (!days) return sql`${sql.raw(valueSql(name))} is not null`;
  return sql`${sql.raw(monthDaySql(name))} in (${sql.join(days.map((d) => sql`${d}`), sql`, `)})`;
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

export type SweepDeps = { db: Db; temporal: { client: Client; taskQueue: string }; onPage?: () => void; log?: (message: string, attrs: Record<string, unknown>) => void };

/** Sweeps every date trigger of the journey's latest version over (from, until] and advances its cursors. */
export async function sweepDateTriggers(deps: SweepDeps, input: { journeyId: string; until: number; from?: number }): Promise<DateSweepResult> {
  const { db } = deps;
  const [journey] = await db.select().from(journeys).where(eq(journeys.id, input.journeyId));
  const out: DateSweepResult = { journeyId: input.journeyId, version: journey?.latestVersion ?? null, from: input.from ?? input.until, until: input.until, triggers: [] };
  // A paused or archived journey starts nothing (its Schedule is paused too; this covers a firing already under way).
  if (!journey?.latestVersion || journey.status !== 'active') return out;
  const plan = await loadPlan(db, input.journeyId, journey.latestVersion);
  const lowest: number[] = [];
  for (const t of plan.triggers) {
    if (t.type !== 'date') continue;
    const field = t.field.join('.');
    const [cursor] = await db.select().from(dateTriggerSweeps).where(and(eq(dateTriggerSweeps.journeyId, input.journeyId), eq(dateTriggerSweeps.field, field)));
    const from = input.from ?? Math.max(cursor?.sweptUntil.getTime() ?? -Infinity, input.until - MAX_LOOKBACK_MS);
    lowest.push(from);
    const r = await sweepTrigger(deps, plan, journey.latestVersion, t, from, input.until);
    out.triggers.push(r);
    await db
      .insert(dateTriggerSweeps)
      .values({ journeyId: input.journeyId, field, sweptUntil: new Date(input.until) })
      .onConflictDoUpdate({
        target: [dateTriggerSweeps.journeyId, dateTriggerSweeps.field],
        set: { sweptUntil: sql`greatest(${dateTriggerSweeps.sweptUntil}, excluded.swept_until)`, updatedAt: sql`now()` },
      });
    deps.log?.('date trigger sweep', { journeyId: input.journeyId, field, from: new Date(from).toISOString(), until: new Date(input.until).toISOString(), candidates: r.candidates, started: r.started, alreadyEntered: r.alreadyEntered, skipped: r.skipped });
  }
  if (lowest.length > 0) out.from = Math.min(...lowest);
  return out;
}

async function sweepTrigger(deps: SweepDeps, plan: JourneyPlan, version: number, t: DateTriggerPlan, from: number, until: number): Promise<DateSweepTriggerResult> {
  const { db, temporal } = deps;
  const field = t.field.join('.');
  const r: DateSweepTriggerResult = { field, candidates: 0, started: 0, alreadyEntered: 0, skipped: {} };
  const skip = (reason: string, n = 1) => {
    if (n > 0) r.skipped[reason] = (r.skipped[reason] ?? 0) + n;
  };
  const name = attributeName(t);
  // Values without the ISO shape ("soon", 03/01/2027, a number) are counted through their partial index, every sweep.
  if (name !== undefined) {
    const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(contacts).where(and(isNull(contacts.mergedInto), isNull(contacts.erasedAt), sql.raw(notDateSql(name))));
    skip(NOT_A_DATE, row?.n ?? 0);
  }
  if (until <= from) return r;
  const where = candidateFilter(t, from, until);
  let after: string | null = null;
  for (;;) {
    const page = await db
      .select()
      .from(contacts)
      .where(and(isNull(contacts.mergedInto), isNull(contacts.erasedAt), where, after ? gt(contacts.id, after) : undefined))
      .orderBy(asc(contacts.id))
      .limit(PAGE_SIZE);
    if (page.length === 0) break;
    after = page.at(-1)!.id;
    r.candidates += page.length;
    const runs = await db
      .select({ workflowId: journeyRuns.workflowId, contactId: journeyRuns.contactId, status: journeyRuns.status })
      .from(journeyRuns)
      .where(and(eq(journeyRuns.journeyId, plan.id), inArray(journeyRuns.contactId, page.map((c) => c.id))));
    const known = new Set(runs.map((x) => x.workflowId));
    const active = new Map<string, number>();
    for (const x of runs) if (x.status === 'running') active.set(x.contactId, (active.get(x.contactId) ?? 0) + 1);

    const starts: { contactId: string; event: JourneyEventSignal }[] = [];
    for (const row of page) {
      const contact = toJourneyContact(row);
      const value = name === undefined ? contact.created_at : row.attributes[name];
      const parsed = parseDateValue(value);
      if (!parsed) {
        // Values without the ISO shape were counted through the partial index above; this is 2027-02-30 and the like.
        if (name === undefined || hasIsoShape(value)) skip(NOT_A_DATE);
        continue;
      }
      const tz = resolveTimeZone(row.timezone, plan.settings.timezone);
      for (const occ of occurrencesBetween(parsed, t, tz, from, until)) {
        const key = dateEntryKey(field, occ.date);
        if (known.has(journeyWorkflowId(plan.id, row.id, key))) {
          r.alreadyEntered++;
          continue;
        }
        if (t.audience && !evaluate(t.audience, { contact, now: occ.at, enteredAt: occ.at, events: [] })) {
          skip('not in the audience');
          continue;
        }
        const running = active.get(row.id) ?? 0;
        if (plan.entry.reEntry !== 'always' && running > 0) {
          skip('a run is still active');
          continue;
        }
        if (plan.entry.reEntry === 'always' && running >= plan.entry.maxConcurrent) {
          skip(`max_concurrent (${plan.entry.maxConcurrent}) runs already active`);
          continue;
        }
        active.set(row.id, running + 1);
        starts.push({
          contactId: row.id,
          event: {
            id: key,
            type: DATE_REACHED_EVENT,
            properties: dateReachedProperties(t, occ, tz),
            occurredAt: occ.at,
          },
        });
      }
    }
    await mapLimit(starts, START_CONCURRENCY, async (s) => {
      // Each occurrence is its own entry (the key is in the workflow id, which Temporal refuses to reuse), whatever
      // the journey's re_entry says about other triggers; the active-run rule was applied above.
      const res = await startJourneyRun(
        { temporal: temporal.client, taskQueue: temporal.taskQueue },
        { journeyId: plan.id, version, entry: { ...plan.entry, reEntry: 'always' }, contactId: s.contactId, event: s.event },
      );
      if (res.started) r.started++;
      else r.alreadyEntered++;
    });
    deps.onPage?.();
    if (page.length < PAGE_SIZE) break;
  }
  return r;
}
