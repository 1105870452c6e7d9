import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { readFileSync } from 'node:fs';
import { JOURNEYS_DIR, TEMPLATES_DIR } from '../../src/paths';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { localTime } from '../../src/journey/time';
import { ScheduleNotFoundError } from '@temporalio/client';
import { and, eq, sql } from 'drizzle-orm';
import { contacts, dateTriggerSweeps, journeyRuns, journeys, journeyVersions } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { syncJourneySchedules } from '../../src/publishing/schedules';
import { batchTaskQueue, dateSweepScheduleId, journeyWorkflowId, WorkflowType, type DateSweepInput, type DateSweepResult } from '../../src/contracts';
import { candidateFilter, MAX_LOOKBACK_MS } from '../../src/triggers/sweep';
import { hasIsoShape, ISO_SHAPE_SQL } from '../../src/triggers/occurrence';
import fc from 'fast-check';
import type { JourneyPlan } from '../../src/journey/plan';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

const renewal = `
id: renewal-j
name: Renewal reminder
triggers:
  - type: date
    field: attributes.renewal_date
    offset: -7d
    at: "09:00"
settings: { timezone: Asia/Shanghai }
start: mark
steps:
  mark: { type: tag, tags: [renewal-reminded], next: done }
  done: { type: exit }
`;

const birthday = `
id: birthday-j
name: Birthday greeting
triggers:
  - type: date
    field: attributes.birthday
    repeat: yearly
    at: "09:00"
settings: { timezone: UTC }
start: mark
steps:
  mark: { type: tag, tags: [birthday-greeted], next: done }
  done: { type: exit }
`;

// "Now" for the sweeps: 10:00 in Shanghai on 1 March 2027, which is still 21:00 on 28 February in New York.
const NOW = Date.parse('2027-03-01T02:00:00Z');
const YEAR_LATER = Date.parse('2028-03-01T02:00:00Z');

describe('date triggers: a Temporal Schedule sweeps an indexed query and starts one run per contact and occurrence', () => {
  let stack: TestStack;
  const ids: Record<string, string> = {};
  const sync = () => syncJourneySchedules(stack.temporal.client, stack.db.db, { taskQueue: stack.temporal.taskQueue });
  const sweep = async (input: DateSweepInput): Promise<DateSweepResult> =>
    stack.temporal.client.workflow.execute(WorkflowType.DateTriggerSweep, {
      workflowId: `test-sweep-${input.journeyId}-${input.until}-${input.from ?? 'cursor'}-${Math.random().toString(36).slice(2)}`,
      taskQueue: batchTaskQueue(stack.temporal.taskQueue),
      args: [input],
    });
  const tagged = async (tag: string) =>
    (await stack.db.db.select().from(contacts)).filter((c) => c.tags.includes(tag)).map((c) => c.externalId).sort();
  const settled = (journeyId: string, n: number) =>
    until(`${n} finished runs of ${journeyId}`, async () => {
      const rows = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.journeyId, journeyId));
      return rows.length === n && rows.every((r) => r.status !== 'running') ? rows : undefined;
    });

  beforeAll(async () => {
    stack = await startTestStack();
    await publishJourney(stack.db.db, renewal, {});
    await publishJourney(stack.db.db, birthday, {});
    const rows = await stack.db.db
      .insert(contacts)
      .values([
        // 2027-03-08 minus 7 days at 09:00 Shanghai = 01:00Z on 1 March: in the window.
        { externalId: 'renew-sh', timezone: 'Asia/Shanghai', attributes: { renewal_date: '2027-03-08' } },
        // Three weeks out: not yet.
        { externalId: 'renew-later', timezone: 'Asia/Shanghai', attributes: { renewal_date: '2027-03-22' } },
        // Not dates: never a crash, counted.
        { externalId: 'renew-soon', attributes: { renewal_date: 'soon' } },
        { externalId: 'renew-words', attributes: { renewal_date: '2027-03-08 at noon' } },
        // Birthday today; 09:00 in Shanghai has passed.
        { externalId: 'bday-sh', timezone: 'Asia/Shanghai', attributes: { birthday: '1990-03-01' } },
        // Birthday today too, but 09:00 in New York is 14:00Z: not yet.
        { externalId: 'bday-ny', timezone: 'America/New_York', attributes: { birthday: '1985-03-01' } },
        // 29 February: on 28 February at 09:00 (journey zone UTC) in 2027, on the 29th in 2028.
        { externalId: 'bday-leap', attributes: { birthday: '2000-02-29' } },
      ])
      .returning();
    for (const r of rows) ids[r.externalId!] = r.id;
  });
  afterAll(async () => {
    for await (const s of stack.temporal.client.schedule.list()) {
      if (s.scheduleId.includes(stack.temporal.taskQueue)) await stack.temporal.client.schedule.getHandle(s.scheduleId).delete();
    }
    await stack?.stop();
  });

  it('publishing creates one Schedule per journey with date triggers, and the indexes its query uses', async () => {
    const r = await sync();
    const renewalId = dateSweepScheduleId(stack.temporal.taskQueue, 'renewal-j');
    const birthdayId = dateSweepScheduleId(stack.temporal.taskQueue, 'birthday-j');
    expect(r.created.sort()).toEqual([birthdayId, renewalId].sort());
    expect((await sync()).created).toEqual([]);
    const d = await stack.temporal.client.schedule.getHandle(renewalId).describe();
    expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: 'dateTriggerSweepWorkflow', args: [{ v: 1, journeyId: 'renewal-j' }] });
    expect(d.spec.intervals?.[0]?.every).toBe(15 * 60_000);
    expect(d.state.paused).toBe(false);

    const [version] = await stack.db.db.select().from(journeyVersions).where(eq(journeyVersions.journeyId, 'renewal-j'));
    const plan = version!.plan as unknown as JourneyPlan;
    const trigger = plan.triggers[0]!;
    if (trigger.type !== 'date') throw new Error('expected a date trigger');
    // The planner uses the expression index (sequential scans off: the table is tiny here, so cost alone would scan).
    const explain = await stack.db.db.transaction(async (tx) => {
      await tx.execute(sql`set local enable_seqscan = off`);
      const res = await tx.execute(sql`explain select id from ${contacts} where ${candidateFilter(trigger, NOW - MAX_LOOKBACK_MS, NOW)}`);
      return ((res as unknown as { rows: { 'QUERY PLAN': string }[] }).rows).map((x) => x['QUERY PLAN']).join('\n');
    });
    expect(explain).toMatch(/Index (Only )?Scan.*contacts_date_renewal_date_|Bitmap Index Scan on contacts_date_renewal_date_/);
  });

  it('Postgres and the sweep agree on which values have the ISO shape (the partial index counts the others)', async () => {
    const fixed = ['2027-03-01', '2027-03-01T10:00', '2027-03-01 10:00', '2027-03-01T10:00:00Z', '2027-03-01T10:00:00.123456+08:00', '2027-03-01T10:00:00+0800', '2027-02-30', ' 2027-03-01', '2027-03-01 ', '2027-3-1', 'soon', '03/01/2027', '2027-03-01T10', '2027-03-01Z', '20270301', '2027-03-01T10:00:00.z', '２０２７-03-01', '2027-03-01\n'];
    const generated = fc.sample(fc.stringMatching(/^[0-9]{4}-[0-9]{2}-[0-9]{2}([T x][0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{0,10})?)?(Z|[+-][0-9]{2}:?[0-9]{2,3})?)?.?$/), { numRuns: 300, seed: 15 });
    const values = [...fixed, ...generated];
    const res = await stack.db.db.execute(sql`select v, v ~ ${ISO_SHAPE_SQL} as shaped from unnest(${sql.param(values)}::text[]) with ordinality as t(v, i) order by i`);
    const rows = (res as unknown as { rows: { v: string; shaped: boolean }[] }).rows;
    expect(rows.map((r) => r.v)).toEqual(values);
    for (const r of rows) expect([r.v, r.shaped]).toEqual([r.v, hasIsoShape(r.v)]);
    expect(rows.filter((r) => r.shaped).length).toBeGreaterThan(50);
  });

  it('the API simulate shows when a contact enters next, or why not', async () => {
    const ask = (attributes: Record<string, unknown>, timezone?: string) =>
      request(stack.app)
        .post('/v1/journeys/renewal-j/simulate')
        .set({ Authorization: `Bearer ${stack.keys.marketer}` })
        .send({ contact: { id: 'sim', attributes, ...(timezone ? { timezone } : {}) }, start: '2027-01-01T00:00:00Z' })
        .expect(200);
    const ok = await ask({ renewal_date: '2027-03-08' }, 'America/New_York');
    expect(ok.body.dateEntries[0].next).toEqual({ date: '2027-03-08', at: '2027-03-01T14:00:00.000Z', local: '2027-03-01 09:00', timezone: 'America/New_York' });
    expect(ok.body.text).toMatch(/^date trigger attributes.renewal_date: enters next 2027-03-01 09:00 America\/New_York/);
    const bad = await ask({ renewal_date: 'soon' });
    expect(bad.body.dateEntries[0].reason).toMatch(/is not a date/);
  });

  it('a sweep starts the runs whose occurrence fell in the window, and counts non-dates as skipped', async () => {
    const r = await sweep({ v: 1, journeyId: 'renewal-j', until: NOW });
    expect(r.from).toBe(NOW - MAX_LOOKBACK_MS);
    expect(r.triggers).toEqual([{ field: 'attributes.renewal_date', candidates: 2, started: 1, alreadyEntered: 0, skipped: { 'not a date': 2 } }]);
    const b = await sweep({ v: 1, journeyId: 'birthday-j', until: NOW });
    expect(b.triggers).toEqual([{ field: 'attributes.birthday', candidates: 3, started: 2, alreadyEntered: 0, skipped: {} }]);

    await settled('renewal-j', 1);
    await settled('birthday-j', 2);
    expect(await tagged('renewal-reminded')).toEqual(['renew-sh']);
    expect(await tagged('birthday-greeted')).toEqual(['bday-leap', 'bday-sh']);
    // The occurrence is in the run's id, and the run got a date.reached trigger saying which.
    const wid = journeyWorkflowId('birthday-j', ids['bday-leap']!, 'date:attributes.birthday:2027-02-28');
    const h = await stack.temporal.client.workflow.getHandle(wid).fetchHistory();
    const started = h.events?.[0]?.workflowExecutionStartedEventAttributes;
    expect(started?.workflowType?.name).toBe('journeyWorkflow');
    const [run] = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.workflowId, wid));
    expect(run?.status).toBe('completed');
    const input = JSON.parse(Buffer.from(started!.input!.payloads![0]!.data!).toString()) as { trigger: { type: string; properties: Record<string, unknown> } };
    expect(input.trigger).toMatchObject({ type: 'date.reached', properties: { field: 'attributes.birthday', date: '2027-02-28', offset: '0s', repeat: 'yearly', occurrence_at: '2027-02-28T09:00:00.000Z' } });
  });

  it('the cursor moved: the next sweep starts from it; a re-sweep of the same window starts nothing', async () => {
    const [cursor] = await stack.db.db.select().from(dateTriggerSweeps).where(and(eq(dateTriggerSweeps.journeyId, 'renewal-j'), eq(dateTriggerSweeps.field, 'attributes.renewal_date')));
    expect(cursor?.sweptUntil.getTime()).toBe(NOW);
    const next = await sweep({ v: 1, journeyId: 'renewal-j', until: NOW + 60_000 });
    expect(next.from).toBe(NOW);
    // The query narrows by whole days, so the same two candidates come back; neither occurs in this minute.
    expect(next.triggers[0]).toEqual({ field: 'attributes.renewal_date', candidates: 2, started: 0, alreadyEntered: 0, skipped: { 'not a date': 2 } });

    const again = await sweep({ v: 1, journeyId: 'renewal-j', from: NOW - MAX_LOOKBACK_MS, until: NOW });
    expect(again.triggers[0]).toMatchObject({ candidates: 2, started: 0, alreadyEntered: 1 });
    const bAgain = await sweep({ v: 1, journeyId: 'birthday-j', from: NOW - MAX_LOOKBACK_MS, until: NOW });
    expect(bAgain.triggers[0]).toMatchObject({ started: 0, alreadyEntered: 2 });
    expect((await stack.db.db.select().from(journeyRuns)).length).toBe(3);
  });

  it('later the same day New York’s 09:00 comes; a year later each birthday enters again under that year’s key', async () => {
    const evening = Date.parse('2027-03-01T15:00:00Z');
    const ny = await sweep({ v: 1, journeyId: 'birthday-j', until: evening });
    expect(ny.from).toBe(NOW);
    expect(ny.triggers[0]).toMatchObject({ started: 1, alreadyEntered: 0 });
    await settled('birthday-j', 3);

    const next = await sweep({ v: 1, journeyId: 'birthday-j', until: YEAR_LATER });
    expect(next.from).toBe(YEAR_LATER - MAX_LOOKBACK_MS);
    expect(next.triggers[0]).toMatchObject({ started: 2 });
    const runs = await settled('birthday-j', 5);
    expect(runs.map((r) => r.workflowId.replace(/^journey:birthday-j:[^:]+:/, '')).sort()).toEqual([
      'date:attributes.birthday:2027-02-28',
      'date:attributes.birthday:2027-03-01',
      'date:attributes.birthday:2027-03-01',
      'date:attributes.birthday:2028-02-29',
      'date:attributes.birthday:2028-03-01',
    ]);
  });

  it('the Schedule fires the sweep on the worker (real time: nothing is due, the cursor advances)', async () => {
    const id = dateSweepScheduleId(stack.temporal.taskQueue, 'renewal-j');
    // The earlier sweeps ran in 2027; start this journey's cursor afresh so the real-time sweep can move it.
    await stack.db.db.delete(dateTriggerSweeps).where(eq(dateTriggerSweeps.journeyId, 'renewal-j'));
    const before = Date.now();
    await stack.temporal.client.schedule.getHandle(id).trigger();
    const row = await until('the scheduled sweep to set the cursor', async () => {
      const [c] = await stack.db.db.select().from(dateTriggerSweeps).where(eq(dateTriggerSweeps.journeyId, 'renewal-j'));
      return c;
    });
    // The firing's own time, fixed by the workflow: after the trigger call, not in the future.
    expect(row.sweptUntil.getTime()).toBeGreaterThanOrEqual(before - 1_000);
    expect(row.sweptUntil.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('the sample journeys/renewal-reminder.yaml, swept at real time, sends its reminder with the renewal date', async () => {
    await publishJourney(stack.db.db, readFileSync(`${JOURNEYS_DIR}/renewal-reminder.yaml`, 'utf8'), { templates: await loadTemplateCatalog(TEMPLATES_DIR) });
    await sync();
    // A zone where it is now between 09:00 and 20:00, so today's 09:00 entry has passed and quiet hours do not defer the send.
    const now = Date.now();
    const tz = ['Asia/Shanghai', 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo', 'America/Los_Angeles', 'UTC', 'Pacific/Auckland'].find((z) => {
      const h = localTime(now, z).hour;
      return h >= 9 && h < 20;
    })!;
    const today = localTime(now, tz);
    const renewsOn = new Date(Date.UTC(today.year, today.month - 1, today.day + 7)).toISOString().slice(0, 10);
    await stack.db.db.insert(contacts).values([
      { externalId: 'cust', email: 'li.na@example.cn', firstName: 'Na', locale: 'en', timezone: tz, lifecycleStage: 'customer', attributes: { renewal_date: renewsOn } },
      { externalId: 'lead', email: 'lead@example.cn', locale: 'en', timezone: tz, lifecycleStage: 'lead', attributes: { renewal_date: renewsOn } },
    ]);
    const r = await sweep({ v: 1, journeyId: 'renewal-reminder', until: now });
    // The Schedule itself may have fired in between (every 15 minutes): then the run is already there.
    expect(r.triggers[0]!.started + r.triggers[0]!.alreadyEntered).toBe(1);
    // Values without the ISO shape are counted by every sweep, through their partial index.
    expect(r.triggers[0]!.skipped).toEqual({ 'not in the audience': 1, 'not a date': 2 });
    const [mail] = await stack.smtp.waitFor(1);
    expect(mail!.envelopeTo).toEqual(['li.na@example.cn']);
    expect(mail!.parsed.subject).toBe(`Your subscription renews on ${renewsOn}`);
    expect(mail!.parsed.headers.get('x-itinera-idempotency-key')).toBe(`journey:renewal-reminder:${(await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'cust')))[0]!.id}:date:attributes.renewal_date:${renewsOn}:reminder:1`);
  });

  it('pausing the journey pauses its Schedule and its sweeps start nothing; a version without date triggers deletes it', async () => {
    const id = dateSweepScheduleId(stack.temporal.taskQueue, 'renewal-j');
    await stack.db.db.update(journeys).set({ status: 'paused' }).where(eq(journeys.id, 'renewal-j'));
    expect((await sync()).paused).toEqual([id]);
    expect((await stack.temporal.client.schedule.getHandle(id).describe()).state.paused).toBe(true);
    const paused = await sweep({ v: 1, journeyId: 'renewal-j', from: NOW - MAX_LOOKBACK_MS, until: NOW });
    expect(paused.triggers).toEqual([]);

    await stack.db.db.update(journeys).set({ status: 'active' }).where(eq(journeys.id, 'renewal-j'));
    await sync();
    expect((await stack.temporal.client.schedule.getHandle(id).describe()).state.paused).toBe(false);

    await publishJourney(stack.db.db, renewal.replace(/triggers:[\s\S]*?settings:/, 'triggers: [{ type: event, event: renewal.requested }]\nsettings:'), {});
    expect((await sync()).deleted).toEqual([id]);
    await expect(stack.temporal.client.schedule.getHandle(id).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
  });
});
