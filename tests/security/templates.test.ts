/**
 * Template injection: hostile contact fields and event properties are data, never template source — they come out of
 * emails, SMS, chat messages, outgoing webhooks and the CRM hand-off webhook exactly as written (HTML-escaped in HTML),
 * never evaluated. Journey-authored inline templates that reach for prototypes or abuse helpers are refused at
 * validate and publish, and render inert if they ever get that far.
 */
import fc from 'fast-check';
import Handlebars from 'handlebars';
import request from 'supertest';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type Activities } from '../../src/activities';
import { renderInline } from '../../src/templates/inline';
import { buildApp } from '../../src/api/app';
import { createApiKey } from '../../src/api/auth';
import { createSmtpMailer } from '../../src/channels/email/mailer';
import { createOutboxSmsSender } from '../../src/channels/sms';
import { findMessageByKey, upsertContactByExternalId } from '../../src/db/queries';
import { contacts } from '../../src/db/schema';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { createTextRenderer } from '../../src/templates/text';
import { parseSalesConfig } from '../../src/sales';
import { sampleRenderer } from '../helpers/renderer';
import { TEMPLATES_DIR } from '../../src/paths';
import type { Mailer } from '../../src/activities/deps';
import { startHttp, type TestHttp } from '../channels/support/http';
import { createTestDatabase } from '../helpers/db';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp';
import { TEST_SECRETS } from '../helpers/stack';
import { connectTestTemporal, type TestTemporal } from '../helpers/temporal';
import { RUN_FACTOR, SQLISH, TEMPLATE_INJECTIONS } from './hostile';
import { scaled } from '../helpers/timing';
import { localOutbound } from '../helpers/outbound';

/** The activity's client timeout for the local receiver: generous, and stretched on a busy machine. */
const WEBHOOK_TIMEOUT_MS = scaled(5000);

const SALES = `
teams:
  east:
    name: East
    manager: { id: mgr.east, name: Boss }
    reps:
      - { id: li.na, name: Li Na, capacity: 100000 }
`;

/**
 * What a hostile contact or event sends. Printable and not blank (a blank name falls back to "there"; control
 * characters are not what mail headers carry), and storable (NUL and lone surrogates are refused at the API).
 */
const payload = fc
  .oneof(
    { weight: 3, arbitrary: fc.constantFrom(...TEMPLATE_INJECTIONS, ...SQLISH, '..', '.', '../../admin?x=1#y', 'evil.example/', '@evil.example', '{{{{raw}}}} {{/raw}}', '{{#each this}}{{@key}}{{/each}}', '\\{{escaped}}', '&amp; &lt;', '`=\'"') },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }) },
    { weight: 2, arbitrary: fc.array(fc.constantFrom('{{', '}}', '{{{', '}}}', '#with', '__proto__', 'constructor', '<', '>', '&', '"', "'", ' ', 'x', '(', ')', '/', '\\', '@root', 'lookup'), { minLength: 1, maxLength: 12 }).map((a) => a.join('')) },
  )
  .filter((s) => s.trim() !== '' && ![...s].some((ch) => ch.charCodeAt(0) < 0x20 || (ch.charCodeAt(0) >= 0x7f && ch.charCodeAt(0) <= 0x9f) || ch === '\u2028' || ch === '\u2029') && !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s));

describe('template injection', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let smtp: SmtpSink;
  let mailer: Mailer;
  let hooks: TestHttp;
  let acts: Activities;

  beforeAll(async () => {
    [db, smtp, hooks] = await Promise.all([
      createTestDatabase(),
      startSmtpSink(),
      startHttp((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end('{"errcode":0,"errmsg":"ok"}');
      }),
    ]);
    mailer = createSmtpMailer({ url: smtp.url, pool: { maxConnections: 2 } });
    acts = createActivities({
      db: db.db,
      mailer,
      renderer: await sampleRenderer(),
      text: createTextRenderer(TEMPLATES_DIR),
      sms: createOutboxSmsSender(async () => 'outbox-id'),
      smsProvider: 'outbox',
      defaultFrom: 'itinera tests <journeys@itinera.test>',
      tracking: { baseUrl: 'http://itinera.test', secrets: TEST_SECRETS, physicalAddress: 'ACME Ltd · 100 Century Ave · Shanghai' },
      chatWebhooks: { wecom: { default: `${hooks.url}/wecom`, groups: {} } },
      outbound: localOutbound,
      sales: { directory: parseSalesConfig(SALES, 'sales.yaml'), crmWebhook: { url: `${hooks.url}/crm`, secrets: ['whsec_' + Buffer.from('s'.repeat(32)).toString('base64')] } },
    });
  });
  afterAll(async () => {
    await mailer?.close?.();
    await smtp?.close();
    await hooks?.close();
    await db?.drop();
  });

  const lastRequest = (path: string) => [...hooks.requests].reverse().find((r) => r.url.startsWith(path));

  it('contact fields and event properties come out verbatim in email, SMS, chat, webhooks and the CRM hand-off', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(payload, payload, async (name, note) => {
        const k = `inj-${++n}`;
        const c = await upsertContactByExternalId(db.db, { externalId: k, email: `${k}@example.com`, phone: '+8613800138000', firstName: name, company: name, locale: 'en' });
        await db.db.update(contacts).set({ attributes: { note } }).where(eq(contacts.id, c.id));
        const base = { contactId: c.id, journeyId: 'inj', workflowId: `journey:inj:${c.id}`, trigger: { note } };

        // Email: escaped in HTML, as written in subject and text.
        smtp.messages.length = 0;
        const sent = await acts.sendEmail({ ...base, idempotencyKey: `${k}:email`, stepId: 'email', template: 'welcome', category: 'transactional', subject: 'For {{first_name}}: {{event.note}}' });
        expect(sent.status).toBe('sent');
        const [mail] = await smtp.waitFor(1);
        expect(mail!.parsed.subject).toBe(`For ${name}: ${note}`.replace(/\s+/g, ' ').trim());
        const html = String(mail!.parsed.html);
        expect(html).toContain(`Hi ${Handlebars.escapeExpression(name)},`);
        expect(html).toContain(`working with ${Handlebars.escapeExpression(name)}`);
        // The raw value must not appear where it was placed (a bare `>` appears in any HTML, so not anywhere).
        if (Handlebars.escapeExpression(name) !== name) expect(html).not.toContain(`Hi ${name},`);
        expect(mail!.parsed.text).toContain(`Hi ${name},`);

        // SMS and chat: plain text, exactly the value.
        const sms = await acts.sendSms({ ...base, idempotencyKey: `${k}:sms`, stepId: 'sms', body: 'Hi {{first_name}} / {{event.note}} / {{contact.attributes.note}}', category: 'transactional' });
        expect(sms.status).toBe('sent');
        expect((await findMessageByKey(db.db, `${k}:sms`))!.body).toBe(`Hi ${name} / ${note} / ${note}`);
        // The SMS and chat template files render in their own environment: same result.
        await acts.sendSms({ ...base, idempotencyKey: `${k}:sms-file`, stepId: 'sms-file', template: 'reactivation-reminder', category: 'transactional' });
        expect((await findMessageByKey(db.db, `${k}:sms-file`))!.body).toContain(`Hi ${name}, still looking`);
        await acts.notify({ ...base, idempotencyKey: `${k}:chat-file`, stepId: 'chat-file', channel: 'wecom', to: { group: 'sales' }, template: 'mql-assigned', locale: 'en' });
        expect((await findMessageByKey(db.db, `${k}:chat-file`))!.body).toContain(`: ${name} `);
        expect((await findMessageByKey(db.db, `${k}:chat-file`))!.body).toContain(`, ${name}), score`);
        const chat = await acts.notify({ ...base, idempotencyKey: `${k}:chat`, stepId: 'chat', channel: 'wecom', to: { group: 'sales' }, message: 'Lead {{contact.first_name}}: {{event.note}}' });
        expect(chat.status).toBe('sent');
        const robot = JSON.parse(lastRequest('/wecom')!.body) as { text?: { content: string }; markdown?: { content: string } };
        expect(robot.text?.content ?? robot.markdown?.content).toContain(`Lead ${name}: ${note}`);

        // Outgoing webhook: JSON string values, exactly.
        const hook = await acts.callWebhook({ ...base, idempotencyKey: `${k}:hook`, stepId: 'hook', url: `${hooks.url}/hook`, method: 'POST', headers: {}, body: { name: '{{contact.first_name}}', note: '{{event.note}}', nested: ['{{contact.company}}'] }, timeoutMs: WEBHOOK_TIMEOUT_MS });
        expect(hook.status).toBe('delivered');
        expect(JSON.parse(lastRequest('/hook')!.body)).toEqual({ name, note, nested: [name] });

        // A URL template: each value stays inside its own segment or query value, and cannot climb out of the path.
        const urlKey = `${k}:url`;
        const target = `/u/${encodeURIComponent(name)}`;
        const call = acts.callWebhook({ ...base, idempotencyKey: urlKey, stepId: 'url', url: `${hooks.url}/u/{{contact.first_name}}?n={{event.note}}`, method: 'POST', headers: {}, body: {}, timeoutMs: WEBHOOK_TIMEOUT_MS });
        if (!new URL(target, 'http://x').pathname.startsWith('/u/')) await expect(call).rejects.toMatchObject({ type: 'InvalidWebhookUrl' });
        else {
          expect((await call).status).toBe('delivered');
          const got = new URL(lastRequest('/u/')!.url, 'http://x');
          expect(decodeURIComponent(got.pathname.slice(3))).toBe(name === '.' ? '' : name);
          expect(got.searchParams.get('n')).toBe(note);
        }

        // CRM hand-off: the contact as data and the task title rendered once, never again.
        const handoff = await acts.handoffToSales({ ...base, idempotencyKey: `${k}:handoff`, stepId: 'handoff', team: 'east', taskTitle: 'Call {{contact.first_name}}' });
        expect(handoff.crm).toBe('delivered');
        const crm = JSON.parse(lastRequest('/crm')!.body) as { contact: { firstName: string; company: string }; handoff: { taskTitle: string } };
        expect(crm.contact).toMatchObject({ firstName: name, company: name });
        expect(crm.handoff.taskTitle).toBe(`Call ${name}`);
      }),
      { numRuns: 15 * RUN_FACTOR },
    );
  });

  it('a webhook URL template keeps contact values inside their segment, and refuses one that climbs out', async () => {
    const hook = async (name: string) => {
      const c = await upsertContactByExternalId(db.db, { externalId: `url-${name}`, firstName: name });
      return acts.callWebhook({ idempotencyKey: `url:${name}`, contactId: c.id, journeyId: 'inj', workflowId: 'w', stepId: 'url', url: `${hooks.url}/u/{{contact.first_name}}`, method: 'POST', headers: {}, body: {}, timeoutMs: WEBHOOK_TIMEOUT_MS });
    };
    for (const name of ['../../admin?x=1#y', 'a/b', '%2e%2e', 'evil.example/']) {
      expect(await hook(name)).toMatchObject({ status: 'delivered' });
      expect(lastRequest('/u/')!.url).toBe(`/u/${encodeURIComponent(name)}`);
    }
    const before = hooks.requests.length;
    await expect(hook('..')).rejects.toMatchObject({ type: 'InvalidWebhookUrl', nonRetryable: true });
    expect(hooks.requests.length).toBe(before);
  });

  describe('journey-authored inline templates', () => {
    let temporal: TestTemporal;
    let app: ReturnType<typeof buildApp>;
    let key: string;
    beforeAll(async () => {
      temporal = await connectTestTemporal();
      app = buildApp({ database: db, temporal: temporal.client, taskQueue: temporal.taskQueue, triggers: dbTriggerSource(db.db), signingSecrets: TEST_SECRETS });
      key = (await createApiKey(db.db, { name: 'marketer', role: 'marketer' })).key;
    });
    afterAll(async () => {
      await temporal?.close();
    });

    const HOSTILE_INLINE = [
      '{{constructor.constructor "return process"}}',
      '{{#with __proto__}}{{constructor}}{{/with}}',
      '{{#with constructor}}{{name}}{{/with}}',
      '{{lookup this "constructor"}}',
      '{{#with (lookup this "constructor")}}{{#with (lookup this "constructor")}}{{this "return process"}}{{/with}}{{/with}}',
      '{{contact.__proto__.polluted}}',
      '{{event.constructor.prototype}}',
      '{{[constructor]}}',
      '{{@root.constructor}}',
      '{{#each event}}{{constructor.constructor "return 1"}}{{/each}}',
      '{{#with contact}}{{toString}}{{/with}}',
      '{{log contact.email level="error"}}',
      '{{> evil}}',
      '{{helperMissing "x"}}',
      '{{blockHelperMissing}}',
      '{{eval "1+1"}}',
      '{{#unless x}}{{/unless}}{{#if (constructor)}}{{/if}}',
    ];
    const journeyWith = (id: string, t: string) =>
      JSON.stringify({
        id,
        name: id,
        triggers: [{ type: 'event', event: 'lead.created' }],
        steps: {
          sms: { type: 'send_sms', body: t, category: 'transactional', next: 'hook' },
          hook: { type: 'webhook', url: 'https://example.com/hook', body: { x: t }, next: 'chat' },
          chat: { type: 'notify', channel: 'wecom', to: 'owner', message: t, next: 'done' },
          done: { type: 'exit' },
        },
      });

    it.each(HOSTILE_INLINE.map((t, i) => [t, i] as const))('refuses %s at validate and publish, naming each step field', async (t, i) => {
      const auth = { Authorization: `Bearer ${key}` };
      const id = `inline-${i}`;
      const created = await request(app).post('/v1/journeys').set(auth).send({ source: journeyWith(id, t) }).expect(201);
      expect(created.body.validation.valid).toBe(false);
      for (const action of ['validate', 'publish']) {
        const res = await request(app).post(`/v1/journeys/${id}/${action}`).set(auth).expect(422);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        const paths = (res.body.errors as { path: string }[]).map((e) => e.path);
        expect(paths).toEqual(expect.arrayContaining(['steps.sms.body', 'steps.hook.body.x', 'steps.chat.message']));
      }
      // Never published: nothing runs it.
      const detail = await request(app).get(`/v1/journeys/${id}`).set(auth).expect(200);
      expect(detail.body.versions).toEqual([]);
    });

    it('the same sources render inert if a version holding them was published before the compiler refused them', () => {
      const context = { first_name: 'Na', contact: { id: 'c', first_name: 'Na', attributes: {} }, event: { note: 'n' }, journey: { id: 'j', name: 'J' }, owner: {}, manager: {}, links: {} };
      const before = Object.keys(Object.prototype);
      for (const t of HOSTILE_INLINE.filter((x) => !x.includes('log'))) {
        let out: string;
        try {
          out = renderInline(t, context);
        } catch (err) {
          // Missing helpers and partials fail the send; they never run anything.
          expect((err as Error).message, t).toMatch(/Missing helper|could not be found|not a function|Cannot read properties/);
          continue;
        }
        expect(out, t).not.toMatch(/function|native code|\[object|process|return/);
      }
      expect(Object.keys(Object.prototype)).toEqual(before);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });
});
