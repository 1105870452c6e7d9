import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import { createApiKey } from '../../src/api/auth';
import { upsertContactByExternalId } from '../../src/db/queries';
import { contacts, idempotencyKeys } from '../../src/db/schema';
import { applyScoringToEvent } from '../../src/scoring/apply';
import { parseScoringModel } from '../../src/scoring/model';
import { ensureScoreDecaySchedule } from '../../src/temporal/schedules';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

const model = parseScoringModel(
  `version: 1
timezone: Asia/Shanghai
behaviour:
  demo-request: { event: demo.requested, points: 30 }
decay: { after_idle: 30d, percent: 10 }
`,
  'decay.yaml',
);

describe('daily maintenance runs as a Temporal Schedule', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ scoring: model });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('creates the schedule once and, when it fires, decays idle contacts by the model and sweeps expired idempotency keys', async () => {
    const idle = await upsertContactByExternalId(stack.db.db, { externalId: 'idle' });
    const active = await upsertContactByExternalId(stack.db.db, { externalId: 'active' });
    const day = 86_400_000;
    await applyScoringToEvent(stack.db.db, model, { eventId: 'old', contactId: idle.id, type: 'demo.requested', properties: {}, occurredAt: new Date(Date.now() - 40 * day) });
    await applyScoringToEvent(stack.db.db, model, { eventId: 'new', contactId: active.id, type: 'demo.requested', properties: {}, occurredAt: new Date(Date.now() - 2 * day) });

    // Idempotency-Key rows: one past its 24 h, one still live.
    const caller = await createApiKey(stack.db.db, { name: 'sweep-test', role: 'marketer' });
    const row = (key: string, expiresAt: ReturnType<typeof sql>) => ({ apiKeyId: caller.id, key, fingerprint: 'f', claim: randomUUID(), responseStatus: 202, responseBody: '{}', replayable: true, expiresAt });
    await stack.db.db.insert(idempotencyKeys).values([row('expired', sql`now() - interval '1 minute'`), row('live', sql`now() + interval '23 hours'`)]);

    const opts = { taskQueue: stack.temporal.taskQueue, timezone: model.timezone, scheduleId: `decay-${stack.temporal.taskQueue}` };
    expect(await ensureScoreDecaySchedule(stack.temporal.client, opts)).toBe('created');
    expect(await ensureScoreDecaySchedule(stack.temporal.client, opts)).toBe('exists');
    const schedule = stack.temporal.client.schedule.getHandle(opts.scheduleId);
    const described = await schedule.describe();
    expect(described.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 3, end: 3, step: 1 }] });
    expect(described.spec.timezone).toBe('Asia/Shanghai');

    await schedule.trigger();
    const score = await until('the score of the idle contact to change', async () => {
      const now = (await stack.db.db.select().from(contacts).where(eq(contacts.id, idle.id)))[0]!.score;
      return now !== 30 ? now : undefined;
    }, 20_000);
    expect(score).toBe(27);
    expect((await stack.db.db.select().from(contacts).where(eq(contacts.id, active.id)))[0]!.score).toBe(30);
    // After the decay, the same run deletes the expired Idempotency-Key rows and keeps the live one.
    const left = await until('the expired idempotency key to be swept', async () => {
      const keys = (await stack.db.db.select({ key: idempotencyKeys.key }).from(idempotencyKeys)).map((k) => k.key);
      return keys.includes('expired') ? undefined : keys;
    }, 20_000);
    expect(left).toEqual(['live']);
    await schedule.delete();
  });
});
