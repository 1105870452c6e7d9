import { randomUUID } from 'node:crypto';
import { and, eq, lte, sql } from 'drizzle-orm';
import type { Db } from './client';
import { idempotencyKeys } from './schema';

/** How long a key is remembered after its first request: a retry within this window gets the first answer. */
export const IDEMPOTENCY_TTL_HOURS = 24;
/**
 * A key whose first request has been in flight this long is taken to be abandoned (the process answering it died)
 * and the next request with it runs. The routes that honour keys answer within seconds.
 */
export const IDEMPOTENCY_IN_FLIGHT_SECONDS = 60;

export type StoredResponse = { status: number; headers: Record<string, string>; body: string | null };

export type Claim =
  | { kind: 'claimed'; claim: string }
  | { kind: 'mismatch' }
  | { kind: 'in_flight' }
  | { kind: 'replay'; response: StoredResponse }
  /** The first request succeeded, but its response is not stored (it held a secret); `detail` says what it did. */
  | { kind: 'refused'; detail: string };

/**
 * Takes `key` for this request, or says what holds it. The row is written before the request runs, so of several
 * concurrent requests with one key exactly one is `claimed`; an expired or abandoned row is taken over in the same
 * statement.
 */
export async function claimIdempotencyKey(db: Db, apiKeyId: string, key: string, fingerprint: string, replayable: boolean): Promise<Claim> {
  // A first request that fails deletes its row: between our insert and our read the row may come and go.
  for (let attempt = 0; attempt < 3; attempt++) {
    const claim = randomUUID();
    const fresh = {
      fingerprint,
      claim,
      responseStatus: null,
      responseHeaders: null,
      responseBody: null,
      replayable,
      createdAt: sql`now()`,
      expiresAt: sql`now() + make_interval(hours => ${IDEMPOTENCY_TTL_HOURS})`,
    };
    const taken = await db
      .insert(idempotencyKeys)
      .values({ apiKeyId, key, ...fresh })
      .onConflictDoUpdate({
        target: [idempotencyKeys.apiKeyId, idempotencyKeys.key],
        set: fresh,
        setWhere: sql`${idempotencyKeys.expiresAt} <= now() or (${idempotencyKeys.responseStatus} is null and ${idempotencyKeys.createdAt} < now() - make_interval(secs => ${IDEMPOTENCY_IN_FLIGHT_SECONDS}))`,
      })
      .returning({ claim: idempotencyKeys.claim });
    if (taken[0]?.claim === claim) return { kind: 'claimed', claim };
    const [row] = await db
      .select()
      .from(idempotencyKeys)
      .where(and(eq(idempotencyKeys.apiKeyId, apiKeyId), eq(idempotencyKeys.key, key)));
    if (!row) continue;
    if (row.fingerprint !== fingerprint) return { kind: 'mismatch' };
    if (row.responseStatus === null) return { kind: 'in_flight' };
    if (!row.replayable) return { kind: 'refused', detail: row.responseBody ?? '' };
    return { kind: 'replay', response: { status: row.responseStatus, headers: row.responseHeaders ?? {}, body: row.responseBody } };
  }
  return { kind: 'in_flight' };
}

/** Stores the response of the request holding `claim`; a claim taken over meanwhile (abandoned) is left alone. */
export async function completeIdempotencyKey(db: Db, apiKeyId: string, key: string, claim: string, response: StoredResponse): Promise<void> {
  await db
    .update(idempotencyKeys)
    .set({ responseStatus: response.status, responseHeaders: response.headers, responseBody: response.body })
    .where(and(eq(idempotencyKeys.apiKeyId, apiKeyId), eq(idempotencyKeys.key, key), eq(idempotencyKeys.claim, claim)));
}

/** Lets the key go after the request failed, so a retry runs it again. */
export async function releaseIdempotencyKey(db: Db, apiKeyId: string, key: string, claim: string): Promise<void> {
  await db.delete(idempotencyKeys).where(and(eq(idempotencyKeys.apiKeyId, apiKeyId), eq(idempotencyKeys.key, key), eq(idempotencyKeys.claim, claim)));
}

/** Deletes expired keys, `batch` rows a statement (stored responses can be large); returns how many. */
export async function sweepExpiredIdempotencyKeys(db: Db, opts: { batch?: number } = {}): Promise<number> {
  const batch = opts.batch ?? 1000;
  let total = 0;
  for (;;) {
    const expired = db
      .select({ apiKeyId: idempotencyKeys.apiKeyId, key: idempotencyKeys.key })
      .from(idempotencyKeys)
      .where(lte(idempotencyKeys.expiresAt, sql`now()`))
      .limit(batch);
    const deleted = await db
      .delete(idempotencyKeys)
      .where(sql`(${idempotencyKeys.apiKeyId}, ${idempotencyKeys.key}) in (${expired})`)
      .returning({ key: idempotencyKeys.key });
    total += deleted.length;
    if (deleted.length < batch) return total;
  }
}
