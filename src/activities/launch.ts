import { ApplicationFailure, heartbeat } from '@temporalio/activity';
import { and, eq, gt, gte, inArray, isNull, sql } from 'drizzle-orm';
import { toJourneyContact } from '../db/contact-view';
import { audienceLaunchEntries, audienceLaunches, contactImportRows, contacts, events, journeyRuns, journeys, suppressions } from '../db/schema';
import { cachedPlanLoader, declaredAudience } from '../publishing/journeys';
import { startJourneyRun } from '../ingest/router';
import { dbEntryCaps } from '../db/entry-caps';
import { evaluate, type SeenEvent } from '../journey/conditions';
import { canEnter } from '../journey/entry';
import type { PlanCondition } from '../journey/plan';
import type { Activities, LaunchFilter, LaunchPageResult } from '../contracts';
import type { ActivityDeps } from './deps';
import { erasedAddresses, erasureSalts } from '../contacts/erased-address';

/** Starts per page in flight at once: enough to hide round trips, few enough to leave the server to the runs. */
const START_CONCURRENCY = 16;

function eventWindow(c: PlanCondition | undefined): number {
  if (!c) return 0;
  switch (c.op) {
    case 'all':
    case 'any':
      return Math.max(0, ...c.of.map(eventWindow));
    case 'not':
      return eventWindow(c.of);
    case 'event':
      return c.withinMs;
    default:
      return 0;
  }
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}

export function launchActivities(deps: ActivityDeps): Pick<Activities, 'prepareLaunch' | 'launchPage' | 'recordLaunchProgress'> {
  const { db } = deps;
  const salts = erasureSalts(deps.tracking.secrets);
  const plan = cachedPlanLoader(db);
  const caps = dbEntryCaps(db);

  return {
    /**
     * Makes sure the launch row exists (scheduled launches have no API call that writes it) and returns what the
     * batch needs. A launch without a version takes the journey's latest at this moment and keeps it.
     */
    async prepareLaunch(input: {
      launchId: string;
      journeyId: string;
      version?: number;
      filter?: LaunchFilter;
      ratePerSecond: number;
      createdBy?: string;
    }): Promise<{ version: number; status: string }> {
      const [existing] = await db.select().from(audienceLaunches).where(eq(audienceLaunches.id, input.launchId));
      if (existing) return { version: existing.version, status: existing.status };
      const [journey] = await db.select().from(journeys).where(eq(journeys.id, input.journeyId));
      if (!journey?.latestVersion) throw ApplicationFailure.nonRetryable(`journey ${input.journeyId} has no published version`, 'JourneyNotPublished');
      const version = input.version ?? journey.latestVersion;
      let filter = input.filter;
      if (!filter) {
        const audience = declaredAudience(await plan(input.journeyId, version));
        filter = { ...(audience ? { audience } : {}), consent: null };
      }
      await db
        .insert(audienceLaunches)
        .values({ id: input.launchId, journeyId: input.journeyId, version, filter: filter as Record<string, unknown>, ratePerSecond: input.ratePerSecond, createdBy: input.createdBy ?? 'schedule' })
        .onConflictDoNothing();
      return { version, status: 'running' };
    },

    /**
     * One page of a launch: contacts after `after` (by id), filtered, checked against consent and the journey's
     * re-entry rules, each reserved in audience_launch_entries before its run is started. A retried page re-reads
     * those rows, so nobody is started twice and the counts it returns are exact.
     */
    async launchPage(input: { launchId: string; journeyId: string; version: number; after: string | null; pageSize: number }): Promise<LaunchPageResult> {
      const [launch] = await db.select().from(audienceLaunches).where(eq(audienceLaunches.id, input.launchId));
      if (!launch) throw ApplicationFailure.nonRetryable(`launch ${input.launchId} does not exist`, 'LaunchNotFound');
      const filter = launch.filter as LaunchFilter;
      const p = await plan(input.journeyId, input.version);
      const page = await db
        .select()
        .from(contacts)
        .where(
          and(
            isNull(contacts.mergedInto),
            isNull(contacts.erasedAt),
            input.after ? gt(contacts.id, input.after) : undefined,
            filter.importId ? inArray(contacts.id, db.select({ id: sql<string>`${contactImportRows.contactId}` }).from(contactImportRows).where(eq(contactImportRows.importId, filter.importId))) : undefined,
          ),
        )
        .orderBy(contacts.id)
        .limit(input.pageSize);
      const nextCursor = page.length === input.pageSize ? page.at(-1)!.id : null;
      const now = Date.now();

      // Events only when the audience asks "did X within N days": one query for the page, not one per contact.
      const window = eventWindow(filter.audience);
      const seen = new Map<string, SeenEvent[]>();
      if (window > 0 && page.length > 0) {
        const rows = await db
          .select({ contactId: events.contactId, type: events.type, at: events.occurredAt, p: events.properties })
          .from(events)
          .where(and(inArray(events.contactId, page.map((c) => c.id)), gte(events.occurredAt, new Date(now - window))));
        for (const r of rows) {
          const list = seen.get(r.contactId!) ?? [];
          list.push({ type: r.type, at: r.at.getTime(), p: r.p });
          seen.set(r.contactId!, list);
        }
      }
      const matched = page.filter((row) => {
        if (!filter.audience) return true;
        return evaluate(filter.audience, { contact: toJourneyContact(row), now, enteredAt: now, events: seen.get(row.id) ?? [] });
      });
      const ids = matched.map((c) => c.id);
      if (ids.length === 0) return { scanned: page.length, matched: 0, enrolled: 0, skipped: 0, skipReasons: {}, nextCursor };

      const decided = new Map(
        (await db.select().from(audienceLaunchEntries).where(and(eq(audienceLaunchEntries.launchId, input.launchId), inArray(audienceLaunchEntries.contactId, ids)))).map((e) => [e.contactId, e]),
      );
      const channel = filter.consent ?? null;
      const addresses = channel ? matched.map((c) => (channel === 'email' ? c.email : c.phone)).filter((a): a is string => !!a) : [];
      // The addresses themselves, and the hashes an erased contact's address is kept under (mapped back to it).
      const lookup = new Map(addresses.map((a) => [a, a]));
      if (channel) for (const a of addresses) for (const h of erasedAddresses(salts, channel, a)) lookup.set(h, a);
      const suppressed = new Set(
        addresses.length > 0
          ? (await db.select({ a: suppressions.address }).from(suppressions).where(and(eq(suppressions.channel, channel!), inArray(suppressions.address, [...lookup.keys()])))).map((r) => lookup.get(r.a)!)
          : [],
      );
      const history = new Map<string, { activeRuns: number; lastEnteredAt?: number }>();
      for (const r of await db
        .select({ contactId: journeyRuns.contactId, status: journeyRuns.status, startedAt: journeyRuns.startedAt })
        .from(journeyRuns)
        .where(and(eq(journeyRuns.journeyId, input.journeyId), inArray(journeyRuns.contactId, ids)))) {
        const h = history.get(r.contactId) ?? { activeRuns: 0 };
        if (r.status === 'running') h.activeRuns++;
        h.lastEnteredAt = Math.max(h.lastEnteredAt ?? 0, r.startedAt.getTime());
        history.set(r.contactId, h);
      }

      const skips: { contactId: string; reason: string }[] = [];
      const toStart: string[] = [];
      for (const c of matched) {
        const prior = decided.get(c.id);
        if (prior && prior.outcome !== 'pending') continue;
        if (prior) {
          toStart.push(c.id); // reserved by an attempt that died before it knew the outcome
          continue;
        }
        const address = channel === 'email' ? c.email : channel === 'sms' ? c.phone : undefined;
        let reason: string | undefined;
        if (channel && !address) reason = `no ${channel === 'email' ? 'email address' : 'phone number'}`;
        else if (channel && c.consent[channel] === 'opted_out') reason = `opted out of ${channel}`;
        else if (channel && suppressed.has(address!)) reason = `${channel} address suppressed`;
        // A keyed journey (entry.key) is entered by events that carry the key; a launch's trigger carries none.
        else if (p.entry.key) reason = 'missing_key';
        else {
          const d = canEnter(p.entry, history.get(c.id) ?? { activeRuns: 0 }, now);
          if (!d.enter) reason = d.reason;
        }
        if (reason) skips.push({ contactId: c.id, reason });
        else toStart.push(c.id);
      }
      const fresh = [...skips.map((s) => ({ launchId: input.launchId, contactId: s.contactId, outcome: 'skipped', reason: s.reason })),
        ...toStart.filter((id) => !decided.has(id)).map((id) => ({ launchId: input.launchId, contactId: id, outcome: 'pending' }))];
      if (fresh.length > 0) await db.insert(audienceLaunchEntries).values(fresh).onConflictDoNothing();

      if (toStart.length > 0) {
        if (!deps.temporal) throw ApplicationFailure.nonRetryable('this worker has no Temporal client to start runs with', 'MisconfiguredWorker');
        const temporal = deps.temporal;
        // One event id per launch: a retried start reaches the run it already started, which ignores the repeat.
        const event = { id: `launch:${input.launchId}`, type: 'journey.launched', properties: { launchId: input.launchId }, occurredAt: now };
        const enrolled: { id: string; workflowId: string }[] = [];
        const refused: { id: string; workflowId: string; reason: string }[] = [];
        await mapLimit(toStart, START_CONCURRENCY, async (contactId) => {
          const r = await startJourneyRun({ temporal: temporal.client, taskQueue: temporal.taskQueue, entryCaps: caps }, { journeyId: input.journeyId, version: input.version, entry: p.entry, contactId, event, memo: { launchId: input.launchId } });
          if (r.started) {
            enrolled.push({ id: contactId, workflowId: r.workflowId });
            return;
          }
          // A cap refuses before anything starts.
          if (r.reason.startsWith('entry_cap_')) {
            refused.push({ id: contactId, workflowId: r.workflowId, reason: r.reason });
            return;
          }
          // Refused: either our own earlier attempt started (and already finished) this run, or the rules said no.
          const memo = (await temporal.client.workflow.getHandle(r.workflowId).describe()).memo as { launchId?: string } | undefined;
          if (memo?.launchId === input.launchId) enrolled.push({ id: contactId, workflowId: r.workflowId });
          else refused.push({ id: contactId, workflowId: r.workflowId, reason: r.reason });
        });
        heartbeat();
        await db.transaction(async (tx) => {
          for (const e of enrolled) {
            await tx.update(audienceLaunchEntries).set({ outcome: 'enrolled', workflowId: e.workflowId }).where(and(eq(audienceLaunchEntries.launchId, input.launchId), eq(audienceLaunchEntries.contactId, e.id)));
          }
          for (const e of refused) {
            await tx.update(audienceLaunchEntries).set({ outcome: 'skipped', reason: e.reason, workflowId: e.workflowId }).where(and(eq(audienceLaunchEntries.launchId, input.launchId), eq(audienceLaunchEntries.contactId, e.id)));
          }
        });
      }

      const counts = await db
        .select({ outcome: audienceLaunchEntries.outcome, reason: audienceLaunchEntries.reason, n: sql<number>`count(*)::int` })
        .from(audienceLaunchEntries)
        .where(and(eq(audienceLaunchEntries.launchId, input.launchId), inArray(audienceLaunchEntries.contactId, ids)))
        .groupBy(audienceLaunchEntries.outcome, audienceLaunchEntries.reason);
      const out: LaunchPageResult = { scanned: page.length, matched: matched.length, enrolled: 0, skipped: 0, skipReasons: {}, nextCursor };
      for (const c of counts) {
        if (c.outcome === 'enrolled') out.enrolled += c.n;
        else if (c.outcome === 'skipped') {
          out.skipped += c.n;
          out.skipReasons[c.reason ?? 'unknown'] = (out.skipReasons[c.reason ?? 'unknown'] ?? 0) + c.n;
        }
      }
      return out;
    },

    /** Writes the launch's running totals (absolute values, so a retried write changes nothing). */
    async recordLaunchProgress(input) {
      const done = input.status !== 'running';
      await db
        .update(audienceLaunches)
        .set({
          status: input.status,
          scanned: input.scanned,
          enrolled: input.enrolled,
          skipped: input.skipped,
          skipReasons: input.skipReasons,
          updatedAt: sql`now()`,
          ...(done ? { completedAt: sql`now()` } : {}),
          ...(input.error ? { error: input.error.slice(0, 1000) } : {}),
        })
        .where(eq(audienceLaunches.id, input.launchId));
    },
  };
}
