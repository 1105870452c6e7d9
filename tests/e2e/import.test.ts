import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq, isNull, like, sql } from 'drizzle-orm';
import { contactImportRows, contacts } from '../../src/db/schema';
import { upsertContact } from '../../src/contacts/upsert';
import { normalizeRegion } from '../../src/channels/normalize';
import { parseCsv, csvLine } from '../../src/imports/csv';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';
import { scaled } from '../helpers/timing';

const TOTAL = 5_000;
const EXISTING = 10;
const pad = (n: number, w: number) => String(n).padStart(w, '0');
const existingPhone = (k: number) => `+86137${pad(k, 8)}`;

/** The file's rows by kind: what each one should become is decided here, apart from the assertions. */
const kind = (i: number) =>
  i >= 2000 && i < 2010 ? 'bad-email' : i >= 2010 && i < 2020 ? 'bad-phone' : i === 2020 ? 'ragged' : i >= 2500 && i < 2510 ? 'dup-in-file' : i >= 3000 && i < 3000 + EXISTING ? 'existing-by-phone' : 'new';

function buildCsv(): string {
  let out = csvLine(['crm_id', 'email', 'phone', 'name', 'region', 'tags']);
  for (let i = 0; i < TOTAL; i++) {
    const k = kind(i);
    const row = [`C${i}`, `c${i}@import.test`, `139${pad(i, 8)}`, i === 7 ? 'Ada\r\nLin' : `Name ${i}`, i % 2 ? '北京市' : '上海', 'vip; expo'];
    if (k === 'bad-email') row[1] = `not-an-email-${i}`;
    if (k === 'bad-phone') row[2] = '12345';
    if (k === 'ragged') row.push('extra');
    if (k === 'dup-in-file') {
      row[0] = '';
      row[1] = `c${i - 2000}@import.test`;
      row[2] = '';
    }
    if (k === 'existing-by-phone') {
      row[0] = '';
      row[1] = '';
      row[2] = existingPhone(i - 3000).replace('+86', '');
    }
    out += csvLine(row);
  }
  return out;
}

const MAPPING = JSON.stringify({
  columns: { crm_id: 'externalId', email: 'email', phone: 'phone', name: 'firstName', region: { field: 'region', map: { 北京市: '北京' } }, tags: { field: 'tags', split: ';' } },
});
const EXPECTED = { totalRows: TOTAL, rejected: 21, merged: 10, updated: EXISTING, created: TOTAL - 21 - 10 - EXISTING };

describe('contact import through the API, the workflow and the contact pipeline', () => {
  let stack: TestStack;
  const auth = () => ({ Authorization: `Bearer ${stack.keys.marketer}` });
  const csv = buildCsv();
  const liveContacts = async () => (await stack.db.db.select({ n: sql<number>`count(*)::int` }).from(contacts).where(isNull(contacts.mergedInto)))[0]!.n;
  const post = (query: Record<string, string>) => request(stack.app).post('/v1/imports').query({ mapping: MAPPING, ...query }).set(auth()).set('Content-Type', 'text/csv').send(csv);
  const finished = (id: string) =>
    until(`import ${id} to end`, async () => {
      const r = await request(stack.app).get(`/v1/imports/${id}`).set(auth()).expect(200);
      return r.body.status === 'running' ? undefined : r.body;
    }, 240_000);

  beforeAll(async () => {
    stack = await startTestStack();
    for (let k = 0; k < EXISTING; k++) await upsertContact({ db: stack.db.db }, `P${k}`, { phone: existingPhone(k), company: 'Existing Co' }, { source: 'api', key: `seed-${k}`, actor: 'test' });
  }, scaled(60_000));
  afterAll(async () => {
    await stack?.stop();
  });

  it('refuses a mapping that does not fit, naming the field', async () => {
    const missing = await request(stack.app).post('/v1/imports').query({ mapping: JSON.stringify({ columns: { Mail: 'email' } }) }).set(auth()).set('Content-Type', 'text/csv').send('email\na@b.cn\n').expect(400);
    expect(missing.body.errors).toEqual([{ path: 'query.mapping.columns.Mail', message: expect.stringMatching(/does not have/) }]);
    const field = await request(stack.app).post('/v1/imports').query({ mapping: JSON.stringify({ columns: { email: 'e-mail' } }) }).set(auth()).set('Content-Type', 'text/csv').send('email\na@b.cn\n').expect(400);
    expect(field.body.errors[0].path).toBe('query.mapping.columns.email');
    const format = await request(stack.app).post('/v1/imports').set(auth()).set('Content-Type', 'application/octet-stream').send(Buffer.from('email\n')).expect(400);
    expect(format.body.errors[0].path).toBe('query.format');
  });

  it('dry run: counts every row, lists the rejects in CSV with their column and reason, writes no contact', async () => {
    const started = await post({ dryRun: 'true' }).expect(202);
    expect(started.body).toMatchObject({ dryRun: true, totalRows: TOTAL, status: 'running' });
    const done = await finished(started.body.importId);
    expect(done).toMatchObject({ status: 'completed', rowsDone: TOTAL, ...EXPECTED });
    expect(await liveContacts()).toBe(EXISTING);

    const rejects = await request(stack.app).get(`/v1/imports/${started.body.importId}/rejects`).set(auth()).expect(200);
    expect(rejects.headers['content-type']).toMatch(/text\/csv/);
    const recs = parseCsv(rejects.text).map((r) => r.fields);
    expect(recs[0]).toEqual(['crm_id', 'email', 'phone', 'name', 'region', 'tags', '_row', '_column', '_reason']);
    const byRow = new Map(recs.slice(1).map((r) => [Number(r.at(-3)), { column: r.at(-2), reason: r.at(-1), crmId: r[0] }]));
    expect(byRow.size).toBe(21);
    for (let i = 2000; i < 2010; i++) expect(byRow.get(i + 1)).toMatchObject({ column: 'email', crmId: `C${i}`, reason: expect.stringMatching(/not-an-email/) });
    for (let i = 2010; i < 2020; i++) expect(byRow.get(i + 1)).toMatchObject({ column: 'phone', crmId: `C${i}`, reason: expect.stringMatching(/12345/) });
    expect(byRow.get(2021)).toMatchObject({ column: '', reason: 'has 7 fields; the header has 6' });
  }, scaled(300_000));

  it('real run survives a worker restart mid-import: the same counts, no duplicate, no row lost', async () => {
    const started = await post({}).expect(202);
    const id = started.body.importId as string;
    const before = await until('the first chunks', async () => {
      const r = await request(stack.app).get(`/v1/imports/${id}`).set(auth());
      return r.body.rowsDone >= 1000 ? r.body : undefined;
    }, 240_000);
    await stack.restartWorker();
    const done = await finished(id);
    expect(before.rowsDone).toBeLessThan(TOTAL);
    expect(done).toMatchObject({ status: 'completed', rowsDone: TOTAL, ...EXPECTED });
    console.log(`import of ${TOTAL} rows: ${done.rowsPerSecond} rows/s`);

    // Every accepted new row is one contact; rejected rows wrote nothing; the phone rows updated the existing contacts.
    expect(await liveContacts()).toBe(EXISTING + EXPECTED.created);
    const imported = await stack.db.db.select().from(contacts).where(like(contacts.externalId, 'C%'));
    expect(imported.length).toBe(EXPECTED.created);
    expect(new Set(imported.map((c) => c.externalId)).size).toBe(imported.length);
    const ids = new Set(imported.map((c) => c.externalId));
    for (let i = 0; i < TOTAL; i++) expect(ids.has(`C${i}`)).toBe(kind(i) === 'new');
    const ada = imported.find((c) => c.externalId === 'C7')!;
    expect(ada).toMatchObject({ email: 'c7@import.test', phone: '+8613900000007', firstName: 'Ada\r\nLin', tags: ['vip', 'expo'], region: normalizeRegion('北京', { country: 'CN' }) });
    expect(imported.find((c) => c.externalId === 'C2')!.region).toBe(normalizeRegion('上海', { country: 'CN' }));
    for (let k = 0; k < EXISTING; k++) {
      const [p] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, `P${k}`));
      expect(p).toMatchObject({ firstName: `Name ${3000 + k}`, company: 'Existing Co', phone: existingPhone(k), mergedInto: null });
    }
    const rows = await stack.db.db.select({ n: sql<number>`count(distinct ${contactImportRows.contactId})::int` }).from(contactImportRows).where(and(eq(contactImportRows.importId, id)));
    expect(rows[0]!.n).toBe(EXPECTED.created + EXISTING);
  }, scaled(400_000));
});
