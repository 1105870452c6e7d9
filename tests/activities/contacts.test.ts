import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { contactActivities } from '../../src/activities/contacts';
import { upsertContactByExternalId } from '../../src/db/queries';
import { contactAudit, contacts, conversions, scoreEvents } from '../../src/db/schema';
import type { ActivityDeps } from '../../src/activities/deps';
import { createTestDatabase } from '../helpers/db';

describe('contact actions: transactional, idempotent, audited', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let acts: ReturnType<typeof contactActivities>;
  beforeAll(async () => {
    db = await createTestDatabase();
    acts = contactActivities({ db: db.db } as ActivityDeps);
  });
  afterAll(async () => {
    await db.drop();
  });
  const fresh = async (n: string) => (await upsertContactByExternalId(db.db, { externalId: n, tags: ['existing'] })).id;
  const row = async (id: string) => (await db.db.select().from(contacts).where(eq(contacts.id, id)))[0]!;
  const audit = async (id: string) => db.db.select().from(contactAudit).where(eq(contactAudit.contactId, id));

  it('tags and untags once per key, keeping other tags', async () => {
    const id = await fresh('t1');
    expect(await acts.tagContact({ idempotencyKey: 'w:tag', contactId: id, actor: 'journey:x', tags: ['to-reactivate', '待激活'] })).toEqual({
      applied: true,
      duplicate: false,
    });
    expect(await acts.tagContact({ idempotencyKey: 'w:tag', contactId: id, actor: 'journey:x', tags: ['to-reactivate', '待激活'] })).toEqual({
      applied: false,
      duplicate: true,
    });
    expect((await row(id)).tags).toEqual(['existing', 'to-reactivate', '待激活']);
    await acts.untagContact({ idempotencyKey: 'w:untag', contactId: id, actor: 'journey:x', tags: ['to-reactivate'] });
    expect((await row(id)).tags).toEqual(['existing', '待激活']);
    expect((await audit(id)).map((a) => a.action)).toEqual(['tag', 'untag']);
  });

  it('sets attributes and records the previous value', async () => {
    const id = await fresh('t2');
    await acts.setContactAttribute({ idempotencyKey: 'w:a1', contactId: id, actor: 'j', name: 'webinar', value: 'attended' });
    await acts.setContactAttribute({ idempotencyKey: 'w:a2', contactId: id, actor: 'j', name: 'webinar', value: 'replayed' });
    expect((await row(id)).attributes).toEqual({ webinar: 'replayed' });
    expect((await audit(id)).map((a) => a.detail)).toEqual([
      { name: 'webinar', value: 'attended', previous: null },
      { name: 'webinar', value: 'replayed', previous: 'attended' },
    ]);
  });

  it('a set_attribute step on a built-in field writes that field, not an attribute of the same name', async () => {
    const id = await fresh('t-builtin');
    await acts.setContactAttribute({ idempotencyKey: 'w:b1', contactId: id, actor: 'j', name: 'industry', field: 'industry', value: 'manufacturing' });
    await acts.setContactAttribute({ idempotencyKey: 'w:b2', contactId: id, actor: 'j', name: 'country', field: 'country', value: 'DE' });
    await acts.setContactAttribute({ idempotencyKey: 'w:b3', contactId: id, actor: 'j', name: 'plan', field: 'attributes.plan', value: 'pro' });
    const r = await row(id);
    expect(r.industry).toBe('manufacturing');
    // Contacts have no country column: it lives in attributes and journeys read it as `country`.
    expect(r.attributes).toEqual({ country: 'DE', plan: 'pro' });
    await expect(acts.setContactAttribute({ idempotencyKey: 'w:b4', contactId: id, actor: 'j', name: 'score', field: 'score', value: 'x' })).rejects.toThrow(/cannot set the contact field "score"/);
  });

  it('moves the lifecycle stage, forward only when asked', async () => {
    const id = await fresh('t3');
    expect(await acts.setLifecycleStage({ idempotencyKey: 'l1', contactId: id, actor: 'j', stage: 'customer' })).toMatchObject({ stage: 'customer' });
    expect(await acts.setLifecycleStage({ idempotencyKey: 'l2', contactId: id, actor: 'j', stage: 'mql', forwardOnly: true })).toMatchObject({
      applied: true,
      stage: 'customer',
    });
    expect((await row(id)).lifecycleStage).toBe('customer');
  });

  it('changes the score exactly once per key, even under concurrent retries', async () => {
    const id = await fresh('t4');
    const calls = Array.from({ length: 10 }, (_, i) =>
      acts.updateScore({ idempotencyKey: `s:${i % 5}`, contactId: id, actor: 'journey:w', delta: 20, reason: 'attended webinar' }),
    );
    const results = await Promise.all(calls);
    expect(results.filter((r) => r.applied)).toHaveLength(5);
    expect((await row(id)).score).toBe(100);
    const audits = await db.db.select().from(scoreEvents).where(eq(scoreEvents.contactId, id));
    expect(audits).toHaveLength(5);
    expect(audits.map((a) => a.scoreAfter).sort((a, b) => a - b)).toEqual([20, 40, 60, 80, 100]);
  });

  it('records a conversion once', async () => {
    const id = await fresh('t5');
    const c = { idempotencyKey: 'g:1', journeyId: 'j', version: 1, contactId: id, goal: 'demo_booked', value: 1200 };
    expect(await acts.recordConversion(c)).toEqual({ recorded: true });
    expect(await acts.recordConversion(c)).toEqual({ recorded: false });
    expect(await db.db.select().from(conversions).where(eq(conversions.contactId, id))).toHaveLength(1);
  });

  it('fails permanently for a contact that does not exist', async () => {
    await expect(
      acts.tagContact({ idempotencyKey: 'x', contactId: '00000000-0000-4000-8000-000000000000', actor: 'j', tags: ['a'] }),
    ).rejects.toMatchObject({ type: 'ContactNotFound', nonRetryable: true });
  });
});
