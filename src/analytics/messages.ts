/**
 * Messages by channel over time: for each hour, day or week of [from, to) in a time zone, the messages created then
 * per channel and status. Counted in the database over messages_created_idx (created_at), never by listing rows.
 *
 * Buckets are the zone's local hours/days/weeks (a day in Asia/Shanghai starts at 16:00 UTC the day before); every
 * bucket of the range is listed, empty ones with no channels, so a chart's time axis has no holes.
 */
import { and, eq, gte, lt, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { messages } from '../db/schema';
import { num, rowsOf, ts } from './rows';

export const MESSAGE_BUCKETS = ['hour', 'day', 'week'] as const;
export type MessageBucket = (typeof MESSAGE_BUCKETS)[number];
export const BUCKET_MS: Record<MessageBucket, number> = { hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000 };
/** The most buckets one report lists (e.g. 41 days of hours, 2.7 years of days). */
export const MAX_BUCKETS = 1000;

export type MessageVolumeQuery = { from: Date; to: Date; bucket: MessageBucket; timeZone: string; journeyId?: string };
export type ChannelCounts = { total: number; byStatus: Record<string, number> };
export type MessageVolume = {
  from: string;
  to: string;
  bucket: MessageBucket;
  timeZone: string;
  /** Totals of the whole range per channel. */
  channels: Record<string, ChannelCounts>;
  buckets: { start: string; channels: Record<string, ChannelCounts> }[];
};

const add = (into: Record<string, ChannelCounts>, channel: string, status: string, n: number) => {
  const c = (into[channel] ??= { total: 0, byStatus: {} });
  c.total += n;
  c.byStatus[status] = (c.byStatus[status] ?? 0) + n;
};

export async function messageVolume(db: DbOrTx, q: MessageVolumeQuery): Promise<MessageVolume> {
  const unit = sql.raw(`'${q.bucket}'`);
  const step = sql.raw(`interval '1 ${q.bucket}'`);
  // Bucketed in the zone's local time, then turned back into instants: correct across DST changes for days and weeks.
  const local = (instant: ReturnType<typeof ts>) => sql`date_trunc(${unit}, ${instant} at time zone ${q.timeZone})`;
  const series = rowsOf(
    await db.execute(sql`
      select (b at time zone ${q.timeZone}) as start, b::text as local
      from generate_series(${local(ts(q.from))}, ${ts(q.to)} at time zone ${q.timeZone}, ${step}) b
      where (b + ${step}) at time zone ${q.timeZone} > ${ts(q.from)} and (b at time zone ${q.timeZone}) < ${ts(q.to)}
      order by b`),
  );
  const where = and(gte(messages.createdAt, q.from), lt(messages.createdAt, q.to), q.journeyId !== undefined ? eq(messages.journeyId, q.journeyId) : undefined);
  const counts = await db
    .select({
      local: sql<string>`${local(sql`${messages.createdAt}`)}::text`,
      channel: messages.channel,
      status: messages.status,
      n: sql<number>`count(*)::int`,
    })
    .from(messages)
    .where(where)
    .groupBy(sql`1`, messages.channel, messages.status);
  const byLocal = new Map<string, Record<string, ChannelCounts>>();
  const totals: Record<string, ChannelCounts> = {};
  for (const r of counts) {
    const n = num(r.n);
    add((byLocal.get(r.local) ?? byLocal.set(r.local, {}).get(r.local))!, r.channel, r.status, n);
    add(totals, r.channel, r.status, n);
  }
  return {
    from: q.from.toISOString(),
    to: q.to.toISOString(),
    bucket: q.bucket,
    timeZone: q.timeZone,
    channels: totals,
    buckets: series.map((b) => ({ start: new Date(b.start as string | Date).toISOString(), channels: byLocal.get(String(b.local)) ?? {} })),
  };
}
