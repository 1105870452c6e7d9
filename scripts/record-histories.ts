// Records a Temporal history for every sample journey into tests/workflows/histories/, for the replay test.
// Run after an intended change to workflow behaviour: `npm run record:histories` (see README, "Changing workflow code").
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../src/activities';
import { createFileMailer } from '../src/channels/email/mailer';
import { createOutboxSmsSender } from '../src/channels/sms';
import { migrateDatabase, openDatabase } from '../src/db/client';
import { upsertContactByExternalId } from '../src/db/queries';
import { publishJourney } from '../src/publishing/journeys';
import { createTextRenderer } from '../src/templates/text';
import type { Contact } from '../src/journey/schema';
import { loadTemplateCatalog } from '../src/templates/catalog';
import { createRenderer } from '../src/wiring/channels';
import { JOURNEYS_DIR, TEMPLATES_DIR } from '../src/paths';
import { resolveTemporalBinary } from '../src/temporal/cli-binary';
import { journeyEventSignal, SEARCH_ATTRIBUTES } from '../src/contracts';
import { ensureWorkflowBundle } from '../src/temporal/workflow-bundle';
import type { journeyWorkflow } from '../src/workflows/journey';

const OUT = path.resolve('tests/workflows/histories');
Runtime.install({ logger: new DefaultLogger('WARN') });

const bin = await resolveTemporalBinary();
const env = await TestWorkflowEnvironment.createLocal({
  server: { ...(bin.kind === 'path' ? { executable: { type: 'existing-path', path: bin.path } } : {}), searchAttributes: [...SEARCH_ATTRIBUTES] },
});
const db = await openDatabase({});
await migrateDatabase(db);
const codePath = await ensureWorkflowBundle();
const activities = createActivities({
  db: db.db,
  mailer: createFileMailer(path.join(os.tmpdir(), `itinera-record-${process.pid}`)),
  renderer: await createRenderer(),
  text: createTextRenderer(TEMPLATES_DIR),
  sms: createOutboxSmsSender(async () => `outbox-${randomUUID()}`),
  smsProvider: 'outbox',
  defaultFrom: 'record@itinera.test',
  tracking: { baseUrl: 'http://itinera.test', secrets: ['r'.repeat(32)], physicalAddress: 'itinera · recording' },
});
const taskQueue = 'record';
const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: { codePath }, activities });
const templates = await loadTemplateCatalog(TEMPLATES_DIR);

await worker.runUntil(async () => {
  mkdirSync(OUT, { recursive: true });
  const files = readdirSync(JOURNEYS_DIR).filter((f) => f.endsWith('.yaml') && f !== 'scoring.yaml');
  for (const f of files) {
    const published = await publishJourney(db.db, readFileSync(path.join(JOURNEYS_DIR, f), 'utf8'), { file: f, templates });
    const plan = (await import('../src/publishing/journeys')).loadPlan(db.db, published.journeyId, published.version);
    const trigger = (await plan).triggers.find((t) => t.type === 'event');
    const sampleDir = path.join(JOURNEYS_DIR, 'samples', published.journeyId);
    const contactFile = existsSync(sampleDir) ? readdirSync(sampleDir).find((n) => n.startsWith('contact')) : undefined;
    const c: Partial<Contact> = contactFile ? JSON.parse(readFileSync(path.join(sampleDir, contactFile), 'utf8')) : {};
    const row = await upsertContactByExternalId(db.db, {
      externalId: `${published.journeyId}-${c.id ?? 'sample'}`,
      email: c.email ?? 'sample@example.com',
      phone: c.phone ?? null,
      firstName: c.first_name ?? null,
      jobTitle: c.job_title ?? null,
      industry: c.industry ?? null,
      region: c.region ?? null,
      timezone: c.timezone ?? null,
      locale: c.locale ?? null,
      attributes: c.attributes ?? {},
    });
    const timelineFile = existsSync(sampleDir) ? readdirSync(sampleDir).find((n) => n.startsWith('timeline')) : undefined;
    const timeline: { trigger?: { type: string; properties?: Record<string, unknown> }; events?: { type: string; properties?: Record<string, unknown> }[] } =
      timelineFile ? JSON.parse(readFileSync(path.join(sampleDir, timelineFile), 'utf8')) : {};
    const event = {
      id: `rec-${published.journeyId}`,
      type: timeline.trigger?.type ?? (trigger?.type === 'event' ? trigger.event : 'manual'),
      properties: timeline.trigger?.properties ?? {},
      occurredAt: Date.now(),
    };
    const handle = await env.client.workflow.start<typeof journeyWorkflow>('journeyWorkflow', {
      workflowId: `record:${published.journeyId}`,
      taskQueue,
      args: [{ v: 1, journeyId: published.journeyId, version: published.version, contactId: row.id, trigger: event }],
    });
    // Feed the sample timeline's events right away, so signal handling is part of the recording.
    for (const [i, e] of (timeline.events ?? []).entries()) {
      await new Promise((r) => setTimeout(r, 300));
      await handle.signal(journeyEventSignal, { id: `rec-${published.journeyId}-${i}`, type: e.type, properties: e.properties ?? {}, occurredAt: Date.now() });
    }
    await new Promise((r) => setTimeout(r, 1500));
    const history = await handle.fetchHistory();
    writeFileSync(path.join(OUT, `${published.journeyId}.json`), JSON.stringify(history, null, 1));
    console.log(`recorded ${published.journeyId}: ${history.events?.length} events`);
  }
});
await db.close();
await env.teardown();
