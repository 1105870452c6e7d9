import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type Activities } from '../../src/activities';
import { createSmtpMailer } from '../../src/channels/email/mailer';
import { createOutboxSmsSender } from '../../src/channels/sms';
import { verifyWebhook } from '../../src/channels/webhooks';
import { findMessageByKey, upsertContactByExternalId } from '../../src/db/queries';
import { compileJourney } from '../../src/journey/compiler';
import { createTextRenderer } from '../../src/templates/text';
import { sampleRenderer } from '../helpers/renderer';
import { TEMPLATES_DIR } from '../../src/paths';
import { startHttp, type TestHttp } from '../channels/support/http';
import { createTestDatabase } from '../helpers/db';
import { localOutbound } from '../helpers/outbound';

const SECRET = `whsec_${Buffer.from('w'.repeat(32)).toString('base64')}`;

/** The webhook step sends the method the journey names: GET and DELETE without a body, the others with the JSON body. */
describe('callWebhook sends the step method', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let hooks: TestHttp;
  let acts: Activities;
  let contactId: string;

  beforeAll(async () => {
    [db, hooks] = await Promise.all([createTestDatabase(), startHttp((_req, res) => res.end('ok'))]);
    acts = createActivities({
      db: db.db,
      mailer: createSmtpMailer({ url: 'smtp://127.0.0.1:1' }),
      renderer: await sampleRenderer(),
      text: createTextRenderer(TEMPLATES_DIR),
      sms: createOutboxSmsSender(async () => 'unused'),
      smsProvider: 'outbox',
      defaultFrom: 'tests <t@itinera.test>',
      tracking: { baseUrl: 'http://itinera.test', secrets: ['webhook-method-secret-0123456789abcdef'], physicalAddress: 'ACME · Shanghai' },
      webhookSecrets: [SECRET],
      outbound: localOutbound,
    });
    contactId = (await upsertContactByExternalId(db.db, { externalId: 'hook-1', firstName: 'Mei' })).id;
  });
  afterAll(async () => {
    await hooks?.close();
    await db?.drop();
  });

  const call = (method: string, body?: unknown) =>
    acts.callWebhook({
      idempotencyKey: `hook:${method}`, contactId, journeyId: 'j', workflowId: 'w', stepId: 's',
      url: `${hooks.url}/m/{{contact.first_name}}`, method, headers: {}, ...(body === undefined ? {} : { body }), timeoutMs: 5000,
    });

  it.each(['GET', 'DELETE'])('%s arrives with that method and no body, signed', async (method) => {
    expect(await call(method)).toMatchObject({ status: 'delivered', httpStatus: 200 });
    const got = hooks.requests.at(-1)!;
    expect(got).toMatchObject({ method, url: '/m/Mei', body: '' });
    expect(got.headers['content-type']).toBeUndefined();
    expect(verifyWebhook(got.headers, got.body, [SECRET])).toMatchObject({ ok: true, id: `hook:${method}` });
  });

  it.each(['POST', 'PUT', 'PATCH'])('%s arrives with that method and the rendered JSON body', async (method) => {
    expect(await call(method, { name: '{{contact.first_name}}' })).toMatchObject({ status: 'delivered' });
    const got = hooks.requests.at(-1)!;
    expect(got).toMatchObject({ method, body: '{"name":"Mei"}' });
    expect(got.headers['content-type']).toBe('application/json');
  });

  it('refuses a method outside the language instead of sending something else', async () => {
    const before = hooks.requests.length;
    await expect(call('TRACE')).rejects.toMatchObject({ type: 'InvalidWebhookMethod', nonRetryable: true });
    expect(hooks.requests.length).toBe(before);
  });

  it("records a receiver's refusal whose body holds a NUL byte (Postgres text cannot), instead of failing the write", async () => {
    const nul = await startHttp((_req, res) => {
      res.statusCode = 422;
      res.end(Buffer.from('refused\u0000here', 'utf8'));
    });
    try {
      const r = await acts.callWebhook({
        idempotencyKey: 'hook:nul', contactId, journeyId: 'j', workflowId: 'w', stepId: 's', url: `${nul.url}/x`, method: 'POST', headers: {}, timeoutMs: 5000,
      });
      expect(r).toMatchObject({ status: 'failed', httpStatus: 422 });
      const row = await findMessageByKey(db.db, 'hook:nul');
      expect(row).toMatchObject({ status: 'failed' });
      expect(row!.error).toContain('refused\uFFFDhere');
    } finally {
      await nul.close();
    }
  });

  it('the compiler refuses a body on a GET or DELETE step, naming the field', () => {
    const source = (method: string) => `
id: hook-method
name: Hook method
triggers: [{ type: event, event: lead.created }]
steps:
  call:
    type: webhook
    url: https://crm.example.com/ping
    method: ${method}
    body: { a: 1 }
    next: done
  done: { type: exit }
`;
    for (const method of ['GET', 'DELETE']) {
      const r = compileJourney(source(method));
      expect(r.ok ? [] : r.errors).toEqual([
        expect.objectContaining({ path: 'steps.call.body', message: expect.stringContaining('a GET or DELETE webhook sends no body') }),
      ]);
    }
    expect(compileJourney(source('PUT')).ok).toBe(true);
  });
});
