import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { migrateDatabase, openDatabase, type DatabaseHandle } from '../../src/db/client';
import { contacts } from '../../src/db/schema';
import { compileOrThrow } from '../../src/journey/compiler';
import { candidateFilter, ensureDateIndexes } from '../../src/triggers/sweep';

// The embedded stack runs on PGlite, which cannot build indexes concurrently: publishing there must still work.
describe('date-trigger indexes on embedded PGlite', () => {
  let h: DatabaseHandle;
  beforeAll(async () => {
    h = await openDatabase({});
    await migrateDatabase(h);
  });
  afterAll(async () => h?.close());

  it('are created once, and the candidate query runs on them', async () => {
    const plan = compileOrThrow('id: x\nname: X\ntriggers: [{ type: date, field: attributes.birthday, repeat: yearly }]\nsteps:\n  done: { type: exit }\n');
    const made = await ensureDateIndexes(h.db, plan);
    expect(made).toHaveLength(3);
    expect(await ensureDateIndexes(h.db, plan)).toEqual(made);
    const res = await h.db.execute(sql`select indexname from pg_indexes where tablename = 'contacts' and indexname like 'contacts_%birthday%' order by 1`);
    expect((res as unknown as { rows: { indexname: string }[] }).rows.map((r) => r.indexname)).toEqual([...made].sort());
    await h.db.insert(contacts).values([{ attributes: { birthday: '1990-03-01' } }, { attributes: { birthday: '1990-07-01' } }, { attributes: { birthday: 'soon' } }]);
    const trigger = plan.triggers[0]!;
    if (trigger.type !== 'date') throw new Error('expected a date trigger');
    const rows = await h.db.select({ b: sql<string>`${contacts.attributes} ->> 'birthday'` }).from(contacts).where(candidateFilter(trigger, Date.parse('2027-02-28T12:00:00Z'), Date.parse('2027-03-01T12:00:00Z')));
    expect(rows.map((r) => r.b)).toEqual(['1990-03-01']);
  });
});
