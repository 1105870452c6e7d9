import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { upsertContactByExternalId } from '../../src/db/queries';
import { contacts } from '../../src/db/schema';
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

describe('daily score decay runs as a Temporal Schedule', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ scoring: model });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('creates the schedule once and, when it fires, decays idle contacts by the model', async () => {
    const idle = await upsertContactByExternalId(stack.db.db, { externalId: 'idle' });
    const active = await upsertContactByExternalId(stack.db.db, { externalId: 'active' });
    const day = 86_400_000;
    await applyScoringToEvent(stack.db.db, model, { eventId: 'old', contactId: idle.id, type: 'demo.requested', properties: {}, occurredAt: new Date(Date.now() - 40 * day) });
    await applyScoringToEvent(stack.db.db, model, { eventId: 'new', contactId: active.id, type: 'demo.requested', properties: {}, occurredAt: new Date(Date.now() - 2 * day) });

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
    await schedule.delete();
  });
});
