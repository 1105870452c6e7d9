import { sql } from 'drizzle-orm';
import type { DbOrTx } from './client';

/**
 * Every distinct event type in the events table, by a skip scan over events_type_idx (one index probe per type, not a
 * scan of every event), for the compiler's "nothing sends this event" warning.
 */
export async function seenEventTypes(db: DbOrTx): Promise<string[]> {
  const res = (await db.execute(sql`
    with recursive t(type) as (
      select min(type) from events
      union all
      select (select min(type) from events where type > t.type) from t where t.type is not null
    )
    select type from t where type is not null`)) as unknown as { rows?: { type: string }[] };
  // node-postgres answers { rows }, PGlite's drizzle driver too; keep both shapes readable.
  return (res.rows ?? (res as unknown as { type: string }[])).map((x) => x.type);
}
