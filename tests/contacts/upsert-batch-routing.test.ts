/**
 * The batch contact pipeline's outbox (src/contacts/upsert-batch.ts): a contact.updated that nothing listens to is
 * stored already routed in the write's transaction (routing it would only be the mark), and one that a journey's
 * change trigger listens to still takes the ingest path and starts that journey. Real Postgres, the real Temporal dev
 * server and worker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, eq, inArray, isNull } from 'drizzle-orm';
import { contactUpdatedId } from '../../src/contacts/changes';
import { upsertContact } from '../../src/contacts/upsert';
import { upsertContactsBatch } from '../../src/contacts/upsert-batch';
import { events, journeyRuns } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { ingestDeps } from '../../src/wiring/ingest';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

const onRegion = `
id: region-watch
name: region watch
triggers: [{ type: change, field: region }]
start: hold
steps:
  hold: { type: wait, duration: 1h, next: done }
  done: { type: exit, reason: done }
`;

describe('batch contact writes: contact.updated routing', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const deps = () => ({ db: stack.db.db, ingest: ingestDeps({ db: stack.db.db, temporal: stack.temporal.client, taskQueue: stack.temporal.taskQueue }) });
  const write = (tag: string, ids: string[]) =>
    upsertContactsBatch(deps(), [
      ...ids.map((externalId) => ({ target: { externalId }, fields: { region: 'Shanghai', firstName: `${tag} ${externalId}` }, key: `${tag}:${externalId}` })),
      { target: { create: true as const }, fields: { email: `${tag}@batch-routing.test`, region: 'Beijing' }, key: `${tag}:new` },
    ], { source: 'import', actor: 'test' });
  const updated = async (written: { contactId: string }[], tag: string, keys: string[]) =>
    stack.db.db.select().from(events).where(inArray(events.id, written.map((w, i) => contactUpdatedId(w.contactId, `${tag}:${keys[i]}`))));

  it('nothing listens: every change is stored routed, none is left to the sweeper, no run starts', async () => {
    for (const id of ['Q1', 'Q2']) await upsertContact(deps(), id, { firstName: 'before' }, { source: 'api', key: `seed-${id}`, actor: 'test' });
    const out = (await write('quiet', ['Q1', 'Q2'])) as { contactId: string }[];
    expect(out.every((o) => typeof o === 'object')).toBe(true);
    const rows = await updated(out, 'quiet', ['Q1', 'Q2', 'new']);
    expect(rows).toHaveLength(3);
    expect(rows.every((e) => e.routedAt !== null)).toBe(true);
    expect(await stack.db.db.select().from(events).where(and(eq(events.type, 'contact.updated'), isNull(events.routedAt)))).toEqual([]);
    expect(await stack.db.db.select().from(journeyRuns)).toEqual([]);
  });

  it('a change trigger listens: the changes take the ingest path and start the journey for each contact', async () => {
    await publishJourney(stack.db.db, onRegion, {});
    for (const id of ['L1', 'L2']) await upsertContact(deps(), id, { firstName: 'before' }, { source: 'api', key: `seed-${id}`, actor: 'test' });
    // The seeds changed no region: no run yet.
    expect(await stack.db.db.select().from(journeyRuns)).toEqual([]);
    const out = (await write('loud', ['L1', 'L2'])) as { contactId: string }[];
    const rows = await updated(out, 'loud', ['L1', 'L2', 'new']);
    expect(rows).toHaveLength(3);
    const runs = await until('a region-watch run per written contact', async () => {
      const rs = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.journeyId, 'region-watch'));
      return rs.length >= 3 ? rs : undefined;
    });
    expect(runs.map((r) => r.contactId).sort()).toEqual(out.map((o) => o.contactId).sort());
  });
});
