import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, eq, sql } from 'drizzle-orm';
import { createApiKey } from '../../src/api/auth';
import { canonicalJson } from '../../src/api/idempotency';
import { claimIdempotencyKey, completeIdempotencyKey, releaseIdempotencyKey, sweepExpiredIdempotencyKeys } from '../../src/db/idempotency';
import { apiKeys, idempotencyKeys } from '../../src/db/schema';
import { createTestDatabase } from '../helpers/db';

describe('idempotency key store', () => {
  let handle: Awaited<ReturnType<typeof createTestDatabase>>;
  let caller: string;
  const response = { status: 202, headers: { Location: '/v1/launches/l1' }, body: '{"launchId":"l1"}' };
  const rowOf = async (key: string) => (await handle.db.select().from(idempotencyKeys).where(and(eq(idempotencyKeys.apiKeyId, caller), eq(idempotencyKeys.key, key))))[0];
  beforeAll(async () => {
    handle = await createTestDatabase();
    caller = (await createApiKey(handle.db, { name: 'store-test', role: 'marketer' })).id;
  });
  afterAll(async () => {
    await handle?.drop();
  });

  it('claims once; then in flight, then the stored response; another fingerprint is a mismatch', async () => {
    const first = await claimIdempotencyKey(handle.db, caller, 'k1', 'f1', true);
    expect(first.kind).toBe('claimed');
    expect(await claimIdempotencyKey(handle.db, caller, 'k1', 'f1', true)).toEqual({ kind: 'in_flight' });
    expect(await claimIdempotencyKey(handle.db, caller, 'k1', 'f2', true)).toEqual({ kind: 'mismatch' });
    await completeIdempotencyKey(handle.db, caller, 'k1', (first as { claim: string }).claim, response);
    expect(await claimIdempotencyKey(handle.db, caller, 'k1', 'f1', true)).toEqual({ kind: 'replay', response });
    const row = await rowOf('k1');
    const ttlHours = (row!.expiresAt.getTime() - row!.createdAt.getTime()) / 3_600_000;
    expect(ttlHours).toBe(24);
  });

  it('a claim abandoned for over a minute is taken over, and the old claim can no longer store or release', async () => {
    const old = await claimIdempotencyKey(handle.db, caller, 'k2', 'f1', true);
    await handle.db.execute(sql`update idempotency_keys set created_at = now() - interval '61 seconds' where key = 'k2'`);
    const taken = await claimIdempotencyKey(handle.db, caller, 'k2', 'f1', true);
    expect(taken.kind).toBe('claimed');
    const oldClaim = (old as { claim: string }).claim;
    await completeIdempotencyKey(handle.db, caller, 'k2', oldClaim, response);
    await releaseIdempotencyKey(handle.db, caller, 'k2', oldClaim);
    expect((await rowOf('k2'))?.responseStatus).toBeNull();
    expect((await rowOf('k2'))?.claim).toBe((taken as { claim: string }).claim);
  });

  it('a claim younger than a minute is not taken over', async () => {
    await claimIdempotencyKey(handle.db, caller, 'k3', 'f1', true);
    await handle.db.execute(sql`update idempotency_keys set created_at = now() - interval '50 seconds' where key = 'k3'`);
    expect(await claimIdempotencyKey(handle.db, caller, 'k3', 'f1', true)).toEqual({ kind: 'in_flight' });
  });

  it('a released key is claimed afresh; a non-replayable one is refused with its stored detail', async () => {
    const c = await claimIdempotencyKey(handle.db, caller, 'k4', 'f1', true);
    await releaseIdempotencyKey(handle.db, caller, 'k4', (c as { claim: string }).claim);
    expect(await rowOf('k4')).toBeUndefined();
    expect((await claimIdempotencyKey(handle.db, caller, 'k4', 'f9', true)).kind).toBe('claimed');

    const s = await claimIdempotencyKey(handle.db, caller, 'k5', 'f1', false);
    await completeIdempotencyKey(handle.db, caller, 'k5', (s as { claim: string }).claim, { status: 201, headers: {}, body: 'created key k' });
    expect(await claimIdempotencyKey(handle.db, caller, 'k5', 'f1', false)).toEqual({ kind: 'refused', detail: 'created key k' });
  });

  it('sweeps expired rows in batches and keeps live ones; deleting an API key deletes its keys', async () => {
    for (let i = 0; i < 5; i++) await claimIdempotencyKey(handle.db, caller, `old-${i}`, 'f', true);
    await handle.db.execute(sql`update idempotency_keys set expires_at = now() - interval '1 second' where key like 'old-%'`);
    const live = (await handle.db.select().from(idempotencyKeys)).length - 5;
    expect(await sweepExpiredIdempotencyKeys(handle.db, { batch: 2 })).toBe(5);
    expect((await handle.db.select().from(idempotencyKeys)).length).toBe(live);
    expect(await sweepExpiredIdempotencyKeys(handle.db)).toBe(0);

    await handle.db.delete(apiKeys).where(eq(apiKeys.id, caller));
    expect(await handle.db.select().from(idempotencyKeys)).toEqual([]);
  });

  it('canonical JSON ignores member order at every depth, not array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe(canonicalJson({ a: { c: null, d: [2, 1] }, b: 1 }));
    expect(canonicalJson({ a: [1, 2] })).not.toBe(canonicalJson({ a: [2, 1] }));
    expect(canonicalJson({ a: 1 })).not.toBe(canonicalJson({ a: '1' }));
    expect(canonicalJson('text')).toBe('"text"');
  });
});
