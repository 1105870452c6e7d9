import { ApplicationFailure, heartbeat } from '@temporalio/activity';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { audienceLaunchEntries, audienceLaunches, journeys } from '../db/schema';
import { cachedPlanLoader, declaredAudience } from '../publishing/journeys';
import { startJourneyRun } from '../ingest/router';
import { dbEntryCaps } from '../db/entry-caps';
import type { Activities, LaunchFilter, LaunchPageResult } from '../contracts';
import type { ActivityDeps } from './deps';
import { erasureSalts } from '../contacts/erased-address';
import { audiencePage, decideAudience } from '../launches/audience';

/** Starts per page in flight at once: enough to hide round trips, few enough to leave the server to the runs. */
const START_CONCURRENCY = 16;

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
      const { page, nextCursor } = await audiencePage(db, filter, input.after, input.pageSize);
      const now = Date.now();
      const { matched, reasons } = await decideAudience(db, { journeyId: input.journeyId, plan: p, filter, page, now, salts });
      const ids = matched.map((c) => c.id);
      if (ids.length === 0) return { scanned: page.length, matched: 0, enrolled: 0, skipped: 0, skipReasons: {}, nextCursor };

      const decided = new Map(
        (await db.select().from(audienceLaunchEntries).where(and(eq(audienceLaunchEntries.launchId, input.launchId), inArray(audienceLaunchEntries.contactId, ids)))).map((e) => [e.contactId, e]),
      );
      const skips: { contactId: string; reason: string }[] = [];
      const toStart: string[] = [];
      for (const c of matched) {
        const prior = decided.get(c.id);
        if (prior && prior.outcome !== 'pending') continue;
        if (prior) {
          toStart.push(c.id); // reserved by an attempt that died before it knew the outcome
          continue;
        }
        const reason = reasons.get(c.id);
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
