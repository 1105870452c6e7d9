import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { buildApp } from '../../src/api/app';
import { IMPORT_CHUNK_SIZE } from '../../src/api/routes/imports';
import { csvLine } from '../../src/imports/csv';
import { eq, like, sql } from 'drizzle-orm';
import { contacts, journeyRuns } from '../../src/db/schema';
import { upsertContact } from '../../src/contacts/upsert';
import { publishJourney } from '../../src/publishing/journeys';
import { startTestStack, TEST_SECRETS, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';
import { scaled } from '../helpers/timing';

const JOURNEY = `
id: import-j
name: Import enrolment
triggers:
  - type: audience
    filter: { field: region, in: [east] }
entry: { re_entry: once }
start: hold
steps:
  hold: { type: wait, duration: 1h, next: done }
  done: { type: exit }
`;

describe('POST /v1/imports: upload edge, idempotency, JSON Lines, cancel', () => {
  let stack: TestStack;
  const auth = () => ({ Authorization: `Bearer ${stack.keys.marketer}` });
  const ended = (id: string) =>
    until(`import ${id} to end`, async () => {
      const r = await request(stack.app).get(`/v1/imports/${id}`).set(auth()).expect(200);
      return r.body.status === 'running' ? undefined : r.body;
    }, 120_000);

  beforeAll(async () => {
    stack = await startTestStack();
  }, scaled(60_000));
  afterAll(async () => {
    await stack?.stop();
  });

  it('keeps formula cells verbatim in contacts and escapes them in the rejects file; reads a GBK file without being told', async () => {
    const csv = 'crm_id,email,first_name\r\nFX1,fx1@formula.test,"=cmd|\' /C calc\'!A0"\r\nFX2,not-an-email,@SUM(A1:A9)\r\nFX3,fx3@formula.test,+86 138\r\n';
    const started = await request(stack.app).post('/v1/imports').set(auth()).set('Content-Type', 'text/csv').send(csv).expect(202);
    expect(await ended(started.body.importId)).toMatchObject({ status: 'completed', created: 2, rejected: 1, encoding: 'utf-8' });
    const [fx1] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'FX1'));
    expect(fx1!.firstName).toBe("=cmd|' /C calc'!A0");
    const rejects = await request(stack.app).get(`/v1/imports/${started.body.importId}/rejects`).set(auth()).expect(200);
    expect(rejects.text).toContain("FX2,not-an-email,'@SUM(A1:A9),2,email,");
    expect(rejects.text).not.toMatch(/(^|,)@SUM/m);

    // "crm_id,email,first_name\nGB1,gb1@gbk.test,名" in GBK, no encoding given.
    const gbk = Buffer.concat([Buffer.from('crm_id,email,first_name\nGB1,gb1@gbk.test,'), Buffer.from([0xc3, 0xfb]), Buffer.from('\n')]);
    const detected = await request(stack.app).post('/v1/imports').set(auth()).set('Content-Type', 'text/csv').send(gbk).expect(202);
    expect(detected.body.encoding).toBe('gbk');
    expect(await ended(detected.body.importId)).toMatchObject({ status: 'completed', created: 1, encoding: 'gbk' });
    const [gb1] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'GB1'));
    expect(gb1!.firstName).toBe('名');
    const neither = await request(stack.app).post('/v1/imports').set(auth()).set('Content-Type', 'text/csv').send(Buffer.concat([Buffer.from('email,名\n'), Buffer.from([0xc3, 0xfb, 0x0a])])).expect(400);
    expect(neither.body.errors[0]).toMatchObject({ path: 'query.encoding', message: expect.stringMatching(/neither valid utf-8 nor valid gbk/) });
  }, scaled(120_000));

  it('refuses a body that is not a file, and a file over IMPORT_MAX_BYTES', async () => {
    const json = await request(stack.app).post('/v1/imports').set(auth()).send({ email: 'a@b.cn' }).expect(415);
    expect(json.body.errors[0].path).toBe('Content-Type');
    const small = buildApp({ database: stack.db, temporal: stack.temporal.client, taskQueue: stack.temporal.taskQueue, triggers: { triggersFor: async () => [] } as never, signingSecrets: TEST_SECRETS, importMaxBytes: 1024 });
    const big = await request(small).post('/v1/imports').set(auth()).set('Content-Type', 'text/csv').send(`email\n${'a@b.cn\n'.repeat(400)}`).expect(413);
    expect(big.body.code).toBe('payload_too_large');
    const marketerOnly = await request(stack.app).post('/v1/imports').set({ Authorization: `Bearer ${stack.keys.integration}` }).set('Content-Type', 'text/csv').send('email\na@b.cn\n');
    expect(marketerOnly.status).toBe(403);
  });

  it('the same Idempotency-Key and file answer the first import again; another file with that key is a 422', async () => {
    const file = 'email\nidem@b.cn\n';
    const first = await request(stack.app).post('/v1/imports').query({ dryRun: 'true' }).set(auth()).set('Idempotency-Key', 'imp-1').set('Content-Type', 'text/csv').send(file).expect(202);
    const again = await request(stack.app).post('/v1/imports').query({ dryRun: 'true' }).set(auth()).set('Idempotency-Key', 'imp-1').set('Content-Type', 'text/csv').send(file).expect(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.importId).toBe(first.body.importId);
    const other = await request(stack.app).post('/v1/imports').query({ dryRun: 'true' }).set(auth()).set('Idempotency-Key', 'imp-1').set('Content-Type', 'text/csv').send('email\nother@b.cn\n').expect(422);
    expect(other.body.code).toBe('idempotency_key_reused');
  });

  it('JSON Lines: rejects come back as JSON Lines with _row, _column and _reason', async () => {
    const lines = ['{"crmId":"J1","email":"j1@b.cn","tags":["a","b"]}', 'not json', '{"crmId":"J3","email":"nope"}', '{"crmId":"J4","phone":"13800138004"}'].join('\n');
    const started = await request(stack.app).post('/v1/imports').set(auth()).set('Content-Type', 'application/x-ndjson').send(lines).expect(202);
    expect(await ended(started.body.importId)).toMatchObject({ status: 'completed', totalRows: 4, created: 2, rejected: 2 });
    const rejects = await request(stack.app).get(`/v1/imports/${started.body.importId}/rejects`).set(auth()).expect(200);
    expect(rejects.headers['content-type']).toMatch(/application\/x-ndjson/);
    expect(rejects.text.trim().split('\n').map((l) => JSON.parse(l))).toEqual([
      { _line: 'not json', _row: 2, _column: null, _reason: 'is not valid JSON' },
      { crmId: 'J3', email: 'nope', _row: 3, _column: 'email', _reason: 'email: "nope" is not an email address' },
    ]);
  }, scaled(120_000));

  it('enrols the contacts it wrote into a journey, through an audience launch, and no one else', async () => {
    await publishJourney(stack.db.db, JOURNEY, {});
    const outsider = await upsertContact({ db: stack.db.db }, 'OUT', { email: 'outsider@b.cn' }, { source: 'api', key: 'outsider', actor: 'test' });
    const dry = await request(stack.app).post('/v1/imports').query({ journey: 'import-j', dryRun: 'true' }).set(auth()).set('Content-Type', 'text/csv').send('email\na@b.cn\n').expect(400);
    expect(dry.body.errors[0].path).toBe('query.journey');
    const missing = await request(stack.app).post('/v1/imports').query({ journey: 'nope' }).set(auth()).set('Content-Type', 'text/csv').send('email\na@b.cn\n').expect(400);
    expect(missing.body.errors[0]).toEqual({ path: 'query.journey', message: 'no journey "nope"' });

    const started = await request(stack.app).post('/v1/imports').query({ journey: 'import-j' }).set(auth()).set('Content-Type', 'text/csv').send('crm_id,email\nE1,e1@enrol.test\nE2,bad\nE3,e3@enrol.test\n').expect(202);
    expect(started.body.launchId).toBe(`launch_${started.body.importId}`);
    expect(await ended(started.body.importId)).toMatchObject({ status: 'completed', created: 2, rejected: 1 });
    const launch = await until('the enrolment launch to complete', async () => {
      const r = await request(stack.app).get(`/v1/launches/${started.body.launchId}`).set(auth());
      return r.status === 200 && r.body.status === 'completed' ? r.body : undefined;
    }, 60_000);
    expect(launch).toMatchObject({ journeyId: 'import-j', scanned: 2, enrolled: 2, skipped: 0 });
    // A launch counts a run as enrolled once its workflow started; the run's row is written by the run itself.
    const runs = await until('both runs recorded', async () => {
      const rs = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.journeyId, 'import-j'));
      return rs.length >= 2 ? rs : undefined;
    }, 30_000);
    expect(runs.length).toBe(2);
    expect(runs.map((r) => r.contactId)).not.toContain(outsider.contact.id);
  }, scaled(120_000));

  it('a running import whose workflow is gone (the API died before starting it) is started again by the next GET', async () => {
    let csv = csvLine(['crm_id', 'email']);
    for (let i = 0; i < 1500; i++) csv += csvLine([`Y${i}`, `y${i}@gone.test`]);
    const started = await request(stack.app).post('/v1/imports').set(auth()).set('Content-Type', 'text/csv').send(csv).expect(202);
    await stack.temporal.client.workflow.getHandle(started.body.importId).terminate('test: as if never started');
    expect(await ended(started.body.importId)).toMatchObject({ status: 'completed', rowsDone: 1500, created: 1500, rejected: 0 });
    const [n] = await stack.db.db.select({ n: sql<number>`count(*)::int` }).from(contacts).where(like(contacts.externalId, 'Y%'));
    expect(n!.n).toBe(1500);
  }, scaled(180_000));

  it('cancel stops after the chunk in flight: the counts add up to the rows done; an ended import answers 409', async () => {
    let csv = csvLine(['crm_id', 'email']);
    const total = 5 * IMPORT_CHUNK_SIZE;
    for (let i = 0; i < total; i++) csv += csvLine([`X${i}`, `x${i}@cancel.test`]);
    const started = await request(stack.app).post('/v1/imports').set(auth()).set('Content-Type', 'text/csv').send(csv).expect(202);
    await request(stack.app).post(`/v1/imports/${started.body.importId}/cancel`).set(auth()).expect(202);
    const done = await ended(started.body.importId);
    expect(done.status).toBe('cancelled');
    expect(done.rowsDone).toBeLessThan(total);
    expect(done.rowsDone % IMPORT_CHUNK_SIZE).toBe(0);
    expect(done.created + done.updated + done.merged + done.rejected).toBe(done.rowsDone);
    await request(stack.app).post(`/v1/imports/${started.body.importId}/cancel`).set(auth()).expect(409);
  }, scaled(120_000));
});
