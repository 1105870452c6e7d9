import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { buildApp } from '../../src/api/app';
import { csvLine } from '../../src/imports/csv';
import { startTestStack, TEST_SECRETS, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';
import { scaled } from '../helpers/timing';

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

  it('cancel stops after the chunk in flight: the counts add up to the rows done; an ended import answers 409', async () => {
    let csv = csvLine(['crm_id', 'email']);
    for (let i = 0; i < 3000; i++) csv += csvLine([`X${i}`, `x${i}@cancel.test`]);
    const started = await request(stack.app).post('/v1/imports').set(auth()).set('Content-Type', 'text/csv').send(csv).expect(202);
    await request(stack.app).post(`/v1/imports/${started.body.importId}/cancel`).set(auth()).expect(202);
    const done = await ended(started.body.importId);
    expect(done.status).toBe('cancelled');
    expect(done.rowsDone).toBeLessThan(3000);
    expect(done.rowsDone % 500).toBe(0);
    expect(done.created + done.updated + done.merged + done.rejected).toBe(done.rowsDone);
    await request(stack.app).post(`/v1/imports/${started.body.importId}/cancel`).set(auth()).expect(409);
  }, scaled(120_000));
});
