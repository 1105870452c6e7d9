import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq, isNull } from 'drizzle-orm';
import { contacts, events, journeyEntryCounters, journeyRuns } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { compileJourney, formatError } from '../../src/journey/compiler';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

const journey = (id: string, trigger: string, cap: string) => `
id: ${id}
name: ${id}
triggers: [${trigger}]
entry: { re_entry: once, cap: ${cap} }
start: hold
steps:
  hold: { type: wait, duration: 1h, next: done }
  done: { type: exit }
`;

describe('entry caps hold against concurrent entries on the real server', () => {
  let stack: TestStack;
  const auth = (role: 'integration' | 'marketer') => ({ Authorization: `Bearer ${stack.keys[role]}` });
  beforeAll(async () => {
    stack = await startTestStack();
    await publishJourney(stack.db.db, journey('hourly-j', '{ type: event, event: trial.started }', '{ per_hour: 5 }'), {});
    await publishJourney(stack.db.db, journey('total-j', '{ type: audience, filter: { tag: capped } }', '{ total: 3 }'), {});
    await publishJourney(stack.db.db, journey('hot-j', '{ type: change, field: tags, to: hot }', '{ per_day: 1 }'), {});
    await publishJourney(stack.db.db, `
id: tagger-j
name: tagger-j
triggers: [{ type: event, event: tagger.go }]
start: tag
steps:
  tag: { type: tag, tags: [hot], next: done }
  done: { type: exit }
`, {});
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('a cap of 0 or an empty cap is a path-qualified compile error', () => {
    const zero = compileJourney(journey('z', '{ type: event, event: a.b }', '{ per_day: 0 }'));
    expect(zero.ok ? [] : zero.errors.map(formatError)).toEqual(['entry.cap.per_day: must be at least 1']);
    const empty = compileJourney(journey('z', '{ type: event, event: a.b }', '{}'));
    expect(empty.ok ? [] : empty.errors.map(formatError)).toEqual(['entry.cap: needs total, per_day or per_hour']);
  });

  it('20 concurrent events for 20 contacts against per_hour: 5 start exactly 5 runs; the others say entry_cap_hour', async () => {
    // Both halves of the burst must fall into one clock hour (the bucket): wait out the last seconds of an hour.
    const now = new Date();
    if (now.getUTCMinutes() === 59 && now.getUTCSeconds() >= 30) await new Promise((r) => setTimeout(r, (61 - now.getUTCSeconds()) * 1000));
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        request(stack.app)
          .post('/v1/events')
          .set(auth('integration'))
          .send({ id: `cap-${i}`, type: 'trial.started', contact: { externalId: `cap-c${i}` } })
          .expect(202)
          .then((r) => r.body.accepted[0] as { runs: string[]; notEntered?: { journeyId: string; reason: string }[] }),
      ),
    );
    const entered = answers.filter((a) => a.runs.length === 1);
    const refused = answers.filter((a) => a.runs.length === 0);
    expect(entered).toHaveLength(5);
    expect(refused).toHaveLength(15);
    for (const a of refused) expect(a.notEntered).toEqual([{ journeyId: 'hourly-j', reason: 'entry_cap_hour' }]);
    // Temporal has exactly those five runs, and the counter says five.
    const runs = await until(async () => {
      const r = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.journeyId, 'hourly-j'));
      return r.length >= 5 ? r : undefined;
    });
    expect(runs.map((r) => r.workflowId).sort()).toEqual(entered.map((a) => a.runs[0]).sort());
    for (const id of entered.map((a) => a.runs[0]!)) expect((await stack.temporal.client.workflow.getHandle(id).describe()).status.name).toBe('RUNNING');
    const counters = await stack.db.db.select().from(journeyEntryCounters).where(eq(journeyEntryCounters.journeyId, 'hourly-j'));
    expect(counters).toEqual([{ journeyId: 'hourly-j', bucket: expect.stringMatching(/^hour:\d{4}-\d\d-\d\dT\d\d$/), count: 5 }]);
  });

  it('a launch of 10 contacts against total: 3 enrols 3 and skips 7 with entry_cap_total', async () => {
    await stack.db.db.insert(contacts).values(Array.from({ length: 10 }, (_, i) => ({ externalId: `tot-${i}`, tags: ['capped'] })));
    const res = await request(stack.app).post('/v1/journeys/total-j/launches').set(auth('marketer')).send({ consent: 'none' }).expect(202);
    const done = await until(async () => {
      const p = (await request(stack.app).get(`/v1/launches/${res.body.launchId}`).set(auth('marketer')).expect(200)).body;
      return p.status === 'running' ? undefined : p;
    }, 60_000, 300);
    expect(done).toMatchObject({ status: 'completed', enrolled: 3, skipped: 7, skipReasons: { entry_cap_total: 7 } });
    const runs = await until(async () => {
      const r = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.journeyId, 'total-j'));
      return r.length >= 3 ? r : undefined;
    });
    expect(runs).toHaveLength(3);
  });

  it('a capped journey entered by a change a journey step made (the worker routes it) counts against the cap too', async () => {
    // tagger-j tags two contacts `hot` in the worker; each contact.updated is routed there and enters hot-j (per_day 1).
    for (const i of [1, 2]) {
      await request(stack.app).post('/v1/events').set(auth('integration')).send({ id: `tag-${i}`, type: 'tagger.go', contact: { externalId: `hot-c${i}` } }).expect(202);
    }
    const taggers = await until(async () => {
      const r = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.journeyId, 'tagger-j'));
      return r.length === 2 && r.every((x) => x.status === 'completed') ? r : undefined;
    }, 60_000, 200);
    expect(taggers).toHaveLength(2);
    // Both changes were routed (the outbox rows carry routed_at), and exactly one entered.
    await until(async () => {
      const rows = await stack.db.db.select().from(events).where(and(eq(events.type, 'contact.updated'), isNull(events.routedAt)));
      return rows.length === 0 ? true : undefined;
    }, 30_000, 200);
    const hot = await until(async () => {
      const r = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.journeyId, 'hot-j'));
      return r.length >= 1 ? r : undefined;
    });
    await new Promise((r) => setTimeout(r, 1000));
    expect(await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.journeyId, 'hot-j'))).toHaveLength(hot.length);
    expect(hot).toHaveLength(1);
    const counters = await stack.db.db.select().from(journeyEntryCounters).where(eq(journeyEntryCounters.journeyId, 'hot-j'));
    expect(counters).toEqual([{ journeyId: 'hot-j', bucket: expect.stringMatching(/^day:\d{4}-\d\d-\d\d$/), count: 1 }]);
  });
});
