import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { migrateDatabase, openDatabase } from '../../src/db/client';
import { insertEventOnce, upsertContactByExternalId, upsertRunProjection, findRun } from '../../src/db/queries';
import { journeyRunSteps, messages } from '../../src/db/schema';
import { createTestDatabase } from '../helpers/db';

const TABLES = [
  'analytics_rollup_state',
  'analytics_touches',
  'api_key_rate_buckets',
  'api_keys',
  'attribution_contact_credits',
  'attribution_credits',
  'attribution_dirty',
  'audience_launch_entries',
  'audience_launches',
  'campaign_costs',
  'campaigns',
  'console_sessions',
  'contact_audit',
  'contact_funnel',
  'contact_import_chunks',
  'contact_import_rows',
  'contact_imports',
  'contacts',
  'conversions',
  'date_trigger_sweeps',
  'deal_events',
  'deals',
  'email_feedback',
  'events',
  'idempotency_keys',
  'journey_entry_counters',
  'journey_run_steps',
  'journey_runs',
  'journey_versions',
  'journeys',
  'messages',
  'run_arms',
  'sales_assignment_cursors',
  'sales_handoff_feedback',
  'sales_handoffs',
  'score_events',
  'sms_provider_events',
  'suppressions',
];

async function tableNames(db: Awaited<ReturnType<typeof openDatabase>>['db']): Promise<string[]> {
  const result = await db.execute(sql`select table_name from information_schema.tables where table_schema = 'public' order by 1`);
  const rows = (Array.isArray(result) ? result : (result as { rows: { table_name: string }[] }).rows) as { table_name: string }[];
  return rows.map((r) => r.table_name);
}

describe('migrations', () => {
  it('apply on PGlite, twice without error', async () => {
    const handle = await openDatabase({});
    await migrateDatabase(handle);
    await migrateDatabase(handle);
    expect(await tableNames(handle.db)).toEqual(TABLES);
    await handle.close();
  });

  it.runIf(process.env.DATABASE_URL)('apply on node-postgres', async () => {
    const handle = await createTestDatabase();
    expect(handle.kind).toBe('postgres');
    expect(await tableNames(handle.db)).toEqual(TABLES);
    await handle.drop();
  });
});

describe('core constraints', () => {
  let handle: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    handle = await createTestDatabase();
  });
  afterAll(async () => {
    await handle.drop();
  });

  it('stores an event once by id', async () => {
    const c = await upsertContactByExternalId(handle.db, { externalId: 'x1', email: 'a@example.com' });
    const e = { id: 'evt-1', type: 'lead.created', contactId: c.id, properties: {}, occurredAt: new Date() };
    expect(await insertEventOnce(handle.db, e)).toBe(true);
    expect(await insertEventOnce(handle.db, e)).toBe(false);
  });

  it('upserts contacts by external id without duplicating them', async () => {
    const a = await upsertContactByExternalId(handle.db, { externalId: 'x2', email: 'b@example.com' });
    const b = await upsertContactByExternalId(handle.db, { externalId: 'x2', company: 'ACME' });
    expect(b.id).toBe(a.id);
    expect(b.email).toBe('b@example.com');
    expect(b.company).toBe('ACME');
  });

  it('enforces unique idempotency keys on messages', async () => {
    const row = { idempotencyKey: 'wf:step', channel: 'email', recipient: 'a@example.com' };
    await handle.db.insert(messages).values(row);
    await expect(handle.db.insert(messages).values(row)).rejects.toThrow();
  });

  it('keeps the run projection current and stamps the end', async () => {
    const c = await upsertContactByExternalId(handle.db, { externalId: 'x3' });
    const run = { workflowId: 'journey:j:1', runId: 'r1', journeyId: 'j', version: 1, contactId: c.id, entryKey: '0' };
    await upsertRunProjection(handle.db, { ...run, currentStep: 'a', status: 'running' });
    expect((await findRun(handle.db, run.workflowId))?.endedAt).toBeNull();
    await upsertRunProjection(handle.db, { ...run, currentStep: 'b', status: 'completed' });
    const after = await findRun(handle.db, run.workflowId);
    expect(after?.currentStep).toBe('b');
    expect(after?.status).toBe('completed');
    expect(after?.endedAt).toBeInstanceOf(Date);
  });

  it('journals each step entry once, even when the same write is retried', async () => {
    const c = await upsertContactByExternalId(handle.db, { externalId: 'x4' });
    const run = { workflowId: 'journey:j:4', runId: 'r4', journeyId: 'j', version: 2, contactId: c.id, entryKey: '0', status: 'running' };
    await upsertRunProjection(handle.db, { ...run, currentStep: 'a', stepSeq: 1 });
    await upsertRunProjection(handle.db, { ...run, currentStep: 'a', stepSeq: 1 });
    await upsertRunProjection(handle.db, { ...run, currentStep: 'b', stepSeq: 2 });
    await upsertRunProjection(handle.db, { ...run, currentStep: 'a', stepSeq: 3 });
    await upsertRunProjection(handle.db, { ...run, currentStep: 'a', status: 'completed' });
    const rows = await handle.db.select().from(journeyRunSteps).where(eq(journeyRunSteps.workflowId, run.workflowId)).orderBy(journeyRunSteps.seq);
    expect(rows.map((r) => [r.seq, r.stepId, r.version])).toEqual([[1, 'a', 2], [2, 'b', 2], [3, 'a', 2]]);
  });
});
