import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScheduleNotFoundError } from '@temporalio/client';
import { eq, like } from 'drizzle-orm';
import { audienceLaunches, contacts, journeys } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { journeyScheduleId, syncJourneySchedules } from '../../src/publishing/schedules';
import { nextCronTimes } from '../../src/journey/cron';
import { compileOrThrow } from '../../src/journey/compiler';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

const weekdayMorning = `
id: sched-j
name: Weekday morning digest
triggers:
  - type: schedule
    cron: "0 9 * * 1-5"
    timezone: Asia/Shanghai
    audience: { tag: vip }
entry: { re_entry: always, max_concurrent: 1 }
start: mark
steps:
  mark: { type: tag, tags: [digest-sent], next: done }
  done: { type: exit }
`;

const shanghai = new Intl.DateTimeFormat('en-US', { timeZone: 'Asia/Shanghai', weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });

describe('journey schedule triggers run as Temporal Schedules', () => {
  let stack: TestStack;
  const sync = () => syncJourneySchedules(stack.temporal.client, stack.db.db, { taskQueue: stack.temporal.taskQueue });
  const id = () => journeyScheduleId(stack.temporal.taskQueue, 'sched-j', 0);

  beforeAll(async () => {
    stack = await startTestStack();
    await publishJourney(stack.db.db, weekdayMorning, {});
    await stack.db.db.insert(contacts).values([
      { externalId: 's1', tags: ['vip'] },
      { externalId: 's2', tags: ['vip', 'cn'] },
      { externalId: 's3', tags: [] },
      { externalId: 's4', tags: ['vip'] },
    ]);
  });
  afterAll(async () => {
    // Schedules outlive the test on the shared server unless removed.
    for await (const s of stack.temporal.client.schedule.list()) {
      if (s.scheduleId.includes(stack.temporal.taskQueue)) await stack.temporal.client.schedule.getHandle(s.scheduleId).delete();
    }
    await stack?.stop();
  });

  it('creates one Schedule per trigger, firing at 09:00 Shanghai time on weekdays only', async () => {
    const first = await sync();
    expect(first.created).toEqual([id()]);
    const again = await sync();
    expect(again).toEqual({ created: [], updated: [id()], paused: [], deleted: [] });
    const d = await stack.temporal.client.schedule.getHandle(id()).describe();
    expect(d.spec.timezone).toBe('Asia/Shanghai');
    expect(d.info.nextActionTimes.length).toBeGreaterThan(0);
    for (const t of d.info.nextActionTimes) {
      const parts = Object.fromEntries(shanghai.formatToParts(t).map((p) => [p.type, p.value]));
      expect(`${parts.hour}:${parts.minute}`).toBe('09:00');
      expect(['Mon', 'Tue', 'Wed', 'Thu', 'Fri']).toContain(parts.weekday);
    }
    expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: 'audienceLaunchWorkflow' });
  });

  it('a firing launches the audience into the latest version and the runs execute', async () => {
    await stack.temporal.client.schedule.getHandle(id()).trigger();
    const launch = await until(async () => {
      const [row] = await stack.db.db.select().from(audienceLaunches).where(like(audienceLaunches.createdBy, `schedule:%${stack.temporal.taskQueue}%`));
      return row?.status === 'completed' ? row : undefined;
    });
    expect(launch).toMatchObject({ journeyId: 'sched-j', version: 1, scanned: 4, enrolled: 3, skipped: 0 });
    const tagged = await until(async () => {
      const rows = await stack.db.db.select().from(contacts);
      const done = rows.filter((r) => r.tags.includes('digest-sent')).map((r) => r.externalId).sort();
      return done.length === 3 ? done : undefined;
    });
    expect(tagged).toEqual(['s1', 's2', 's4']);
  });

  it('pausing the journey pauses its Schedule; a version without the trigger deletes it', async () => {
    await stack.db.db.update(journeys).set({ status: 'paused' }).where(eq(journeys.id, 'sched-j'));
    expect((await sync()).paused).toEqual([id()]);
    await until(async () => ((await stack.temporal.client.schedule.getHandle(id()).describe()).state.paused ? true : undefined));

    await stack.db.db.update(journeys).set({ status: 'active' }).where(eq(journeys.id, 'sched-j'));
    await sync();
    await until(async () => ((await stack.temporal.client.schedule.getHandle(id()).describe()).state.paused ? undefined : true));

    await publishJourney(stack.db.db, weekdayMorning.replace(/triggers:[\s\S]*?entry:/, 'triggers: [{ type: event, event: digest.requested }]\nentry:'), {});
    expect((await sync()).deleted).toEqual([id()]);
    await expect(stack.temporal.client.schedule.getHandle(id()).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
  });

  it('a one-off trigger fires once, at its instant', async () => {
    await publishJourney(stack.db.db, weekdayMorning.replace('id: sched-j', 'id: once-j').replace('cron: "0 9 * * 1-5"', 'at: "2030-01-02T03:04:05Z"'), {});
    const r = await sync();
    const onceId = journeyScheduleId(stack.temporal.taskQueue, 'once-j', 0);
    expect(r.created).toEqual([onceId]);
    const d = await stack.temporal.client.schedule.getHandle(onceId).describe();
    expect(d.info.nextActionTimes[0]?.toISOString()).toBe('2030-01-02T03:04:05.000Z');
    expect(d.state.remainingActions).toBe(1);
  });

  // What the compiler accepts is what the Schedule gets: the server's own next action times equal the library's.
  it.each([
    ['0 9 * * MON-FRI', 'Asia/Shanghai'],
    ['@daily', 'America/New_York'],
    ['*/20 8-17 * JAN-MAR,DEC SUN,sat', 'Europe/Berlin'],
    ['30 2 13 * FRI', 'UTC'],
  ])('cron %j in %s: the Schedule\'s next action times are the ones the parser computes', async (cron, timezone) => {
    const jid = `cron-${Math.abs([...cron].reduce((h, c) => (h * 31 + c.charCodeAt(0)) | 0, 7))}`;
    const source = weekdayMorning.replace('id: sched-j', `id: ${jid}`).replace('cron: "0 9 * * 1-5"', `cron: ${JSON.stringify(cron)}`).replace('Asia/Shanghai', timezone);
    const plan = compileOrThrow(source);
    expect(plan.triggers[0]).toMatchObject({ type: 'schedule', cron, timezone });
    await publishJourney(stack.db.db, source, {});
    await sync();
    const d = await stack.temporal.client.schedule.getHandle(journeyScheduleId(stack.temporal.taskQueue, jid, 0)).describe();
    const server = d.info.nextActionTimes.map((t) => t.getTime());
    expect(server.length).toBeGreaterThanOrEqual(5);
    // Temporal lists the times after "now" on the server; start the library one second before the first of them.
    expect(nextCronTimes(cron, timezone, server[0]! - 1000, server.length)).toEqual(server);
  });
});
