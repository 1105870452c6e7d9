import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq, sql } from 'drizzle-orm';
import { contactAudit, events, journeyRuns, messages } from '../../src/db/schema';
import { journeyStats, type JourneyStats } from '../../src/db/stats';
import { publishJourney } from '../../src/publishing/journeys';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { eraseContactCli, exportContactJson } from '../../src/cli/contacts';
import { CliError } from '../../src/cli/errors';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

// An email, an SMS, then an hour's wait: the run is still running when the contact asks to be erased.
const JOURNEY = `
id: rights
name: Rights
triggers: [{ type: event, event: lead.created }]
start: hello
steps:
  hello: { type: send_email, template: welcome, next: text }
  text: { type: send_sms, body: "Hi {{contact.first_name}}", next: hold }
  hold: { type: wait, duration: 1h, next: done }
  done: { type: exit }
`;

// Everything that identifies the person, as sent; none may survive the erasure anywhere.
const PERSON = {
  externalId: 'crm-rights-7731',
  email: 'meiqiu.linwood@example.cn',
  phone: '+8613912345678',
  firstName: 'Meiqiu',
  lastName: 'Linwood',
  company: 'Linwood Tea Trading',
  attributes: { note: 'prefers-jasmine-oolong' },
};
const TRACES = [PERSON.externalId, PERSON.email, '13912345678', PERSON.firstName, PERSON.lastName, PERSON.company, PERSON.attributes.note, 'secret-referrer-9931'];

type Rows = { rows?: Record<string, unknown>[] } | Record<string, unknown>[];
const rowsOf = (r: unknown) => (Array.isArray(r) ? r : ((r as Rows & { rows?: Record<string, unknown>[] }).rows ?? [])) as Record<string, unknown>[];

/** Stats a run's cancellation rightly changes (status, where it waits) left out: the rest must not move. */
const counted = (s: JourneyStats) => ({
  entered: s.entered,
  runs: s.runs.total,
  steps: s.steps.map((st) => ({ stepId: st.stepId, entered: st.entered, passed: st.passed })),
  messages: s.messages,
  goals: s.goals,
  mqls: s.mqls,
});

describe("the contact's rights: export and erase, end to end", () => {
  let stack: TestStack;
  let server: Server;
  let base: string;
  beforeAll(async () => {
    stack = await startTestStack();
    await publishJourney(stack.db.db, JOURNEY, { templates: await loadTemplateCatalog(TEMPLATES_DIR) });
    server = stack.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await stack?.stop();
  });

  it('finds a contact by CRM id, exports everything, erases them: runs cancelled, no trace left, stats unchanged, address suppressed, audited', async () => {
    const as = (role: keyof TestStack['keys']) => `Bearer ${stack.keys[role]}`;
    const { externalId, ...fields } = PERSON;
    const created = await request(stack.app)
      .put(`/v1/contacts/${externalId}`)
      .set('Authorization', as('integration'))
      .send({ ...fields, timezone: 'UTC', consent: { email: 'opted_in', sms: 'opted_in' } })
      .expect(201);
    const contactId: string = created.body.id;

    // The events response names our contact id; the CRM id reads the same contact.
    const posted = await request(stack.app)
      .post('/v1/events')
      .set('Authorization', as('integration'))
      .send({ id: 'rights-e1', type: 'lead.created', contact: { externalId }, properties: { referrer: 'secret-referrer-9931', email: PERSON.email } })
      .expect(202);
    expect(posted.body.accepted[0].contactId).toBe(contactId);
    const workflowId: string = posted.body.accepted[0].runs[0];
    const byCrm = await request(stack.app).get(`/v1/contacts/${externalId}`).set('Authorization', as('marketer')).expect(200);
    expect(byCrm.body.id).toBe(contactId);
    await request(stack.app).get('/v1/contacts/no-such-crm-id').set('Authorization', as('marketer')).expect(404);

    // The email arrives and is opened; the SMS goes; the run waits.
    const [mail] = await stack.smtp.waitFor(1, 30_000);
    const pixel = String(mail!.parsed.html).match(/<img[^>]+src="http:\/\/itinera\.test(\/t\/o\/[^"]+)"/)![1]!;
    await request(stack.app).get(pixel).expect(200);
    await until('the run waiting, the SMS sent and the open recorded', async () => {
      const [run] = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.workflowId, workflowId));
      const sms = await stack.db.db.select().from(messages).where(and(eq(messages.contactId, contactId), eq(messages.channel, 'sms'), eq(messages.status, 'sent')));
      const opens = await stack.db.db.select().from(events).where(and(eq(events.contactId, contactId), eq(events.type, 'email.opened')));
      return run?.currentStep === 'hold' && sms.length === 1 && opens.length === 1 ? true : undefined;
    });

    // An import updated them too: the uploaded file's row holds their email and company.
    const upload = await request(stack.app)
      .post('/v1/imports')
      .set('Authorization', as('marketer'))
      .set('Content-Type', 'text/csv')
      .send(`email,company\n${PERSON.email},${PERSON.company}\nsomeone.else@example.cn,Other Co\n`)
      .expect(202);
    const imported = await until('the import to end', async () => {
      const r = await request(stack.app).get(`/v1/imports/${upload.body.importId}`).set('Authorization', as('marketer')).expect(200);
      return r.body.status === 'running' ? undefined : r.body;
    }, 60_000);
    expect(imported).toMatchObject({ status: 'completed', updated: 1, created: 1 });

    // Export: API (ops) and CLI, every section; a marketer may not.
    await request(stack.app).get(`/v1/contacts/${contactId}/export`).set('Authorization', as('marketer')).expect(403);
    const exported = await request(stack.app).get(`/v1/contacts/${externalId}/export`).set('Authorization', as('ops')).expect(200);
    expect(exported.body.contactId).toBe(contactId);
    const t = exported.body.tables;
    expect(t.contacts[0]).toMatchObject({ id: contactId, email: PERSON.email, phone: PERSON.phone, firstName: PERSON.firstName });
    expect(t.events.map((e: { type: string }) => e.type)).toEqual(expect.arrayContaining(['lead.created', 'email.opened']));
    expect(t.messages.map((m: { channel: string; recipient: string }) => `${m.channel}:${m.recipient}`).sort()).toEqual([`email:${PERSON.email}`, `sms:${PERSON.phone}`]);
    expect(t.contact_import_rows).toEqual([expect.objectContaining({ row: 1, outcome: 'update', record: { f: [PERSON.email, PERSON.company] } })]);
    expect(t.journey_runs).toEqual([expect.objectContaining({ workflowId, status: 'running' })]);
    expect(t.journey_run_steps.length).toBeGreaterThanOrEqual(3);
    expect(t.contact_audit.length).toBeGreaterThanOrEqual(1);
    const cliJson = JSON.parse(await exportContactJson({ base, key: stack.keys.admin }, externalId));
    expect(cliJson.tables.messages).toHaveLength(2);

    const before = counted((await journeyStats(stack.db.db, { journeyId: 'rights' }))!);
    expect(before.messages.opened).toBe(1);

    // Only an admin may erase; the CLI asks for confirmation.
    for (const role of ['integration', 'marketer', 'ops'] as const) {
      const refused = await request(stack.app).delete(`/v1/contacts/${contactId}`).set('Authorization', as(role)).expect(403);
      expect(refused.body.code).toBe('forbidden');
    }
    await expect(eraseContactCli({ base, key: stack.keys.admin }, externalId, {})).rejects.toBeInstanceOf(CliError);
    const report = await eraseContactCli({ base, key: stack.keys.admin }, externalId, { yes: true });
    expect(report).toMatchObject({ contactId, contacts: 1, runsCancelled: [workflowId] });
    expect(report.rows).toMatchObject({ contacts: 1, messages: 2 });

    // The run is cancelled in Temporal and records it.
    await until('the run cancelled', async () => {
      const [run] = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.workflowId, workflowId));
      return run?.status === 'cancelled' ? run : undefined;
    });
    // The run records `cancelled` in its last activity, then closes.
    await until('the workflow closed as cancelled', async () =>
      (await stack.temporal.client.workflow.getHandle(workflowId).describe()).status.name === 'CANCELLED' ? true : undefined,
    );

    // No table holds anything that identifies them.
    const tables = rowsOf(await stack.db.db.execute(sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`));
    expect(tables.length).toBeGreaterThan(15);
    for (const { table_name } of tables) {
      const dump = rowsOf(await stack.db.db.execute(sql`select t::text as row from ${sql.identifier(String(table_name))} t`)).map((r) => String(r.row)).join('\n');
      for (const trace of TRACES) expect(dump, `${String(table_name)} holds "${trace}"`).not.toContain(trace);
    }

    // Statistics count what they counted.
    expect(counted((await journeyStats(stack.db.db, { journeyId: 'rights' }))!)).toEqual(before);

    // The contact reads as erased, by either id; erasing again is refused the same way.
    expect((await request(stack.app).get(`/v1/contacts/${contactId}`).set('Authorization', as('marketer')).expect(410)).body.code).toBe('contact_erased');
    await request(stack.app).get(`/v1/contacts/${externalId}`).set('Authorization', as('marketer')).expect(404);
    await request(stack.app).delete(`/v1/contacts/${contactId}`).set('Authorization', as('admin')).expect(410);

    // The audit row: who, when, what — no personal data (the table scan above covers it).
    const [audit] = await stack.db.db.select().from(contactAudit).where(and(eq(contactAudit.contactId, contactId), eq(contactAudit.action, 'erase')));
    expect(audit).toMatchObject({ id: report.auditId, detail: { contacts: 1, runsCancelled: 1, rows: { contacts: 1, messages: 2 } } });
    expect(audit!.actor).toMatch(/^api:admin:/);

    // The CRM sends the same person again under a new id: the address is suppressed by its hash, nothing goes out.
    const again = await request(stack.app)
      .put('/v1/contacts/crm-rights-new')
      .set('Authorization', as('integration'))
      .send({ email: PERSON.email, phone: PERSON.phone, tags: ['came-back'], consent: { email: 'opted_in', sms: 'opted_in' } })
      .expect(201);
    await request(stack.app).post('/v1/events').set('Authorization', as('integration')).send({ id: 'rights-e2', type: 'lead.created', contact: { externalId: 'crm-rights-new' } }).expect(202);
    const sent = await until('both sends decided', async () => {
      const rows = await stack.db.db.select().from(messages).where(eq(messages.contactId, again.body.id));
      return rows.length === 2 && rows.every((m) => m.status !== 'reserved' && m.status !== 'sending') ? rows : undefined;
    });
    expect(sent.map((m) => `${m.channel}:${m.status}`).sort()).toEqual(['email:suppressed', 'sms:suppressed']);
    expect(stack.smtp.messages).toHaveLength(1);

    // An audience launch checks the hashes too: the returning address is skipped as suppressed.
    const launch = await request(stack.app)
      .post('/v1/journeys/rights/launches')
      .set('Authorization', as('marketer'))
      .send({ filter: { tag: 'came-back' }, consent: 'email' })
      .expect(202);
    const done = await until('the launch completed', async () => {
      const r = await request(stack.app).get(`/v1/launches/${launch.body.launchId as string}`).set('Authorization', as('marketer')).expect(200);
      return r.body.status === 'completed' ? r.body : undefined;
    });
    expect(done).toMatchObject({ enrolled: 0, skipped: 1, skipReasons: { 'email address suppressed': 1 } });
  });
});
