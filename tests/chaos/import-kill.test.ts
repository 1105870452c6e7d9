import { describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq, isNull, like, sql } from 'drizzle-orm';
import { createApiKey } from '../../src/api/auth';
import { contactAudit, contactImportRows, contacts, events } from '../../src/db/schema';
import { csvLine } from '../../src/imports/csv';
import { useChaosStack } from './harness/invariants';
import { between, sleep } from './harness/proc';
import { CHAOS_FULL } from './harness/results';

// Enough rows that the import outlasts its kills on an idle machine too (the batch path writes thousands of rows a second).
const TOTAL = CHAOS_FULL ? 50_000 : 12_000;
const EXISTING = Math.floor(TOTAL / 10);
const KILLS = CHAOS_FULL ? 6 : 3;

/** The file and what each count must be: new rows, rows updating a seeded contact, repeats of a row of another chunk, bad rows. */
function file() {
  const expected = { created: 0, updated: 0, merged: 0, rejected: 0 };
  let csv = csvLine(['crm_id', 'email', 'first_name']);
  for (let i = 0; i < TOTAL; i++) {
    if (i % 100 === 50) {
      csv += csvLine([`K${i}`, `bad-${i}`, 'Bad']);
      expected.rejected++;
    } else if (i % 20 === 7 && i >= 2000) {
      csv += csvLine(['', `k${i - 1006}@kill.test`, 'Again']);
      expected.merged++;
    } else if (i % 10 === 3 && Math.floor(i / 10) < EXISTING) {
      csv += csvLine([`SEED${Math.floor(i / 10)}`, '', 'Known']);
      expected.updated++;
    } else {
      csv += csvLine([`K${i}`, `k${i}@kill.test`, `Name ${i}`]);
      expected.created++;
    }
  }
  return { csv, expected };
}

describe(`chaos: kill -9 the worker ${KILLS} times during a ${TOTAL}-row contact import`, () => {
  const chaosStack = useChaosStack({ restartsPostgres: false });

  it('ends with exact counts: no row lost, none written twice', async () => {
    const stack = chaosStack();
    const db = stack.database.db;
    await db.insert(contacts).values(Array.from({ length: EXISTING }, (_, k) => ({ externalId: `SEED${k}`, firstName: 'Seed' })));
    const { key } = await createApiKey(db, { name: 'chaos import', role: 'marketer' });
    const auth = { Authorization: `Bearer ${key}` };
    const { csv, expected } = file();
    await stack.worker.ready();
    const started = await request(stack.app).post('/v1/imports').query({ fileName: 'kill.csv' }).set(auth).set('Content-Type', 'text/csv').send(csv).expect(202);
    const id = started.body.importId as string;
    const status = async () => (await request(stack.app).get(`/v1/imports/${id}`).set(auth).expect(200)).body as { status: string; rowsDone: number; created: number; updated: number; merged: number; rejected: number };

    // Each kill lands while a chunk is being written: after progress was seen, a moment into the next chunk.
    const killedAt: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      await stack.worker.ready();
      const before = (await status()).rowsDone;
      let now = await status();
      for (let t = 0; t < 600 && now.status === 'running' && now.rowsDone === before; t++) now = (await sleep(200), await status());
      if (now.status !== 'running') break;
      await sleep(between(20, 300));
      killedAt.push((await status()).rowsDone);
      await stack.worker.kill9();
    }
    let end = await status();
    // A killed attempt's chunk is taken over once its lease (60 s) has run out: a few minutes at most.
    for (let t = 0; t < 1200 && end.status === 'running'; t++) end = (await sleep(500), await status());

    expect(killedAt.length, 'the worker was killed mid-import').toBeGreaterThanOrEqual(2);
    expect(stack.worker.stats.exits.filter((e) => !e.killedByUs)).toEqual([]);
    expect(end).toMatchObject({ status: 'completed', rowsDone: TOTAL, ...expected });
    // Every row has one outcome, and the outcomes add up to the counts.
    const outcomes = await db.select({ outcome: contactImportRows.outcome, n: sql<number>`count(*)::int` }).from(contactImportRows).where(eq(contactImportRows.importId, id)).groupBy(contactImportRows.outcome);
    expect(Object.fromEntries(outcomes.map((o) => [o.outcome, o.n]))).toEqual({ create: expected.created, update: expected.updated, merge: expected.merged, reject: expected.rejected });
    // Each contact created once (one `create` audit row each), none twice under another id.
    const live = await db.select({ n: sql<number>`count(*)::int` }).from(contacts).where(and(like(contacts.email, '%@kill.test'), isNull(contacts.mergedInto)));
    expect(live[0]!.n).toBe(expected.created);
    const creates = await db.select({ n: sql<number>`count(*)::int` }).from(contactAudit).where(and(eq(contactAudit.actor, `import:${id}`), eq(contactAudit.action, 'create')));
    expect(creates[0]!.n).toBe(expected.created);
    // One contact.updated per row that changed a contact, whatever was retried (ids are deterministic).
    const changes = await db.select({ n: sql<number>`count(*)::int` }).from(events).where(like(events.id, `contact.updated:%:import:${id}:%`));
    expect(changes[0]!.n).toBe(expected.created + expected.updated + expected.merged);
  }, (CHAOS_FULL ? 40 : 14) * 60_000);
});
