/**
 * Entry caps (`entry.cap`): a slot is claimed before a run starts, by a conditional increment of one counter row per
 * bucket — `insert … on conflict do update set count = count + 1 where count < cap` — in one transaction over the
 * journey's buckets (total, then day, then hour, always in that order, so concurrent claims never deadlock). The row
 * lock serializes concurrent claims, so a cap is never passed, however many ingests race. A claim whose run then does
 * not start (the re-entry rule refused it at Temporal) is released. A process that dies between claim and start loses
 * that slot: caps can undercount, never overcount.
 */
import { sql } from 'drizzle-orm';
import type { PlanEntry } from '../journey/plan';
import type { Db } from './client';

export type EntryCap = NonNullable<PlanEntry['cap']>;
export type CapReason = 'entry_cap_total' | 'entry_cap_day' | 'entry_cap_hour';
export type CapClaim = { ok: true; buckets: string[] } | { ok: false; reason: CapReason };

const formats = new Map<string, Intl.DateTimeFormat>();
function localParts(ms: number, timezone: string): { day: string; hour: string } {
  let f = formats.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', hourCycle: 'h23' });
    formats.set(timezone, f);
  }
  const p = Object.fromEntries(f.formatToParts(ms).map((x) => [x.type, x.value]));
  const day = `${p.year}-${p.month}-${p.day}`;
  return { day, hour: `${day}T${p.hour}` };
}

/** The buckets a cap counts an entry at `now` in, with their limits and the reason each gives when full. */
export function capBuckets(cap: EntryCap, now: number): { bucket: string; limit: number; reason: CapReason }[] {
  const { day, hour } = localParts(now, cap.timezone);
  return [
    ...(cap.total !== undefined ? [{ bucket: 'total', limit: cap.total, reason: 'entry_cap_total' as const }] : []),
    ...(cap.perDay !== undefined ? [{ bucket: `day:${day}`, limit: cap.perDay, reason: 'entry_cap_day' as const }] : []),
    ...(cap.perHour !== undefined ? [{ bucket: `hour:${hour}`, limit: cap.perHour, reason: 'entry_cap_hour' as const }] : []),
  ];
}

class CapFull extends Error {
  constructor(readonly reason: CapReason) {
    super(reason);
  }
}

export async function claimEntrySlot(db: Db, journeyId: string, cap: EntryCap, now: number): Promise<CapClaim> {
  const buckets = capBuckets(cap, now);
  try {
    await db.transaction(async (tx) => {
      for (const b of buckets) {
        const res = (await tx.execute(sql`
          insert into journey_entry_counters (journey_id, bucket, count) values (${journeyId}, ${b.bucket}, 1)
          on conflict (journey_id, bucket) do update set count = journey_entry_counters.count + 1
          where journey_entry_counters.count < ${b.limit}
          returning count`)) as unknown as { rows?: unknown[] };
        const rows = res.rows ?? (res as unknown as unknown[]);
        if (rows.length === 0) throw new CapFull(b.reason);
      }
    });
  } catch (err) {
    if (err instanceof CapFull) return { ok: false, reason: err.reason };
    throw err;
  }
  return { ok: true, buckets: buckets.map((b) => b.bucket) };
}

/** Gives back a claimed slot whose run did not start. */
export async function releaseEntrySlot(db: Db, journeyId: string, buckets: string[]): Promise<void> {
  if (buckets.length === 0) return;
  await db.execute(sql`
    update journey_entry_counters set count = count - 1
    where journey_id = ${journeyId} and bucket in (${sql.join(buckets.map((b) => sql`${b}`), sql`, `)}) and count > 0`);
}

/** What the router and launches are given: claim and release bound to a database. */
export type EntryCaps = {
  claim(journeyId: string, cap: EntryCap, now: number): Promise<CapClaim>;
  release(journeyId: string, buckets: string[]): Promise<void>;
};

export const dbEntryCaps = (db: Db): EntryCaps => ({
  claim: (j, cap, now) => claimEntrySlot(db, j, cap, now),
  release: (j, buckets) => releaseEntrySlot(db, j, buckets),
});
