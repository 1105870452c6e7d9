import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbTriggerSource, publishJourney, setJourneyStatus } from '../../src/publishing/journeys';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { createTestDatabase } from '../helpers/db';
import request from 'supertest';
import { eq } from 'drizzle-orm';
import { journeyWorkflowId } from '../../src/contracts';
import { contacts } from '../../src/db/schema';
import { entryHistory, runningRunIds, upsertContactByExternalId } from '../../src/db/queries';
import { routeEvent } from '../../src/ingest/router';
import { startTestStack, type TestStack } from '../helpers/stack';

const templates = await loadTemplateCatalog(TEMPLATES_DIR);

/** dbTriggerSource keeps plans (immutable per version) but reads which version is live on every call. */
describe('dbTriggerSource', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const source = readFileSync('journeys/new-lead-nurture.yaml', 'utf8');

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('follows publish, pause and resume at once while the plans stay cached', async () => {
    const triggers = dbTriggerSource(db.db);
    expect(await triggers.triggersFor('lead.created')).toEqual([]);
    await publishJourney(db.db, source, { templates });
    expect(await triggers.triggersFor('lead.created')).toMatchObject([{ journeyId: 'new-lead-nurture', version: 1, eventType: 'lead.created' }]);
    expect(await triggers.triggersFor('lead.updated')).toEqual([]);

    // A new version with another trigger type replaces the first for new entries.
    await publishJourney(db.db, source.replace('event: lead.created', 'event: lead.imported'), { templates });
    expect(await triggers.triggersFor('lead.created')).toEqual([]);
    expect(await triggers.triggersFor('lead.imported')).toMatchObject([{ journeyId: 'new-lead-nurture', version: 2 }]);

    await setJourneyStatus(db.db, 'new-lead-nurture', 'pause');
    expect(await triggers.triggersFor('lead.imported')).toEqual([]);
    await setJourneyStatus(db.db, 'new-lead-nurture', 'resume');
    expect(await triggers.triggersFor('lead.imported')).toMatchObject([{ version: 2 }]);
  });

  it('gives the change and audience triggers of live versions, and none of a paused journey', async () => {
    const triggers = dbTriggerSource(db.db);
    const journey = (triggersYaml: string) => `{ id: on-change, name: on-change, triggers: ${triggersYaml}, steps: { e: { type: exit } } }`;
    await publishJourney(db.db, journey('[{ type: change, field: industry, to: manufacturing }, { type: audience, filter: { tag: vip } }, { type: event, event: x }]'), {});
    const live = (await triggers.contactTriggers!()).filter((t) => t.journeyId === 'on-change');
    expect(live).toEqual([
      { journeyId: 'on-change', version: 1, trigger: { type: 'change', field: ['industry'], to: 'manufacturing' }, entry: { reEntry: 'once', maxConcurrent: 1 } },
      { journeyId: 'on-change', version: 1, trigger: { type: 'audience', filter: { op: 'tag', tag: 'vip' } }, entry: { reEntry: 'once', maxConcurrent: 1 } },
    ]);
    await publishJourney(db.db, journey('[{ type: change, field: region }]'), {});
    expect((await triggers.contactTriggers!()).filter((t) => t.journeyId === 'on-change')).toMatchObject([{ version: 2, trigger: { type: 'change', field: ['region'] } }]);
    await setJourneyStatus(db.db, 'on-change', 'pause');
    expect((await triggers.contactTriggers!()).filter((t) => t.journeyId === 'on-change')).toEqual([]);
  });
});

/**
 * Trigger `where:` filters as production applies them: routeEvent (src/ingest/router.ts) with the database's triggers,
 * on the real dev server, both called directly and through POST /v1/events. A filtered-out event starts nothing
 * (no workflow exists under the run's id); a matching one starts a run that does its work.
 */
describe('event trigger filters in routeEvent (Temporal dev server, Postgres)', () => {
  let stack: TestStack;
  const filtered = `
id: filtered-trigger
name: Filtered trigger
triggers:
  - type: event
    event: webinar.ended
    where: { registered: true, minutes: { gte: 10 }, utm.source: { in: [newsletter, partner] } }
entry: { re_entry: always, max_concurrent: 5 }
start: mark
steps:
  mark: { type: tag, tags: [filtered-entered], next: done }
  done: { type: exit, reason: done }
`;
  const unfiltered = `
id: unfiltered-trigger
name: Unfiltered trigger
triggers: [{ type: event, event: webinar.ended }]
entry: { re_entry: always, max_concurrent: 5 }
start: done
steps:
  done: { type: exit, reason: done }
`;

  beforeAll(async () => {
    stack = await startTestStack();
    await publishJourney(stack.db.db, filtered, {});
    await publishJourney(stack.db.db, unfiltered, {});
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const router = () => ({
    temporal: stack.temporal.client,
    taskQueue: stack.temporal.taskQueue,
    triggers: dbTriggerSource(stack.db.db),
    runningRuns: (c: string) => runningRunIds(stack.db.db, c),
    entryHistory: (j: string, c: string) => entryHistory(stack.db.db, j, c),
  });
  const exists = async (workflowId: string) => {
    try {
      await stack.temporal.client.workflow.getHandle(workflowId).describe();
      return true;
    } catch (err) {
      if ((err as Error).name === 'WorkflowNotFoundError') return false;
      throw err;
    }
  };

  it('starts only the journeys whose filter the event matches (routeEvent called directly)', async () => {
    const contact = await upsertContactByExternalId(stack.db.db, { externalId: 'filter-direct', email: 'filter.direct@example.com' });
    const cases: [string, Record<string, unknown>, boolean][] = [
      ['not registered', { registered: false, minutes: 30, utm: { source: 'newsletter' } }, false],
      ['too short', { registered: true, minutes: 9, utm: { source: 'newsletter' } }, false],
      ['other source', { registered: true, minutes: 30, utm: { source: 'ads' } }, false],
      ['nothing known', {}, false],
      // Forms send numbers as strings: "9" is compared as 9.
      ['a numeric string below the bound', { registered: true, minutes: '9', utm: { source: 'partner' } }, false],
      ['registered as the string "true"', { registered: 'true', minutes: 30, utm: { source: 'partner' } }, false],
      ['matching (nested source)', { registered: true, minutes: 10, utm: { source: 'partner' } }, true],
      ['matching (flat dotted key)', { registered: true, minutes: 45, 'utm.source': 'newsletter' }, true],
    ];
    for (const [what, properties, enters] of cases) {
      const event = { id: `direct-${what.replace(/\W+/g, '-')}`, type: 'webinar.ended', properties, occurredAt: Date.now() };
      const routed = await routeEvent(router(), contact.id, event);
      const ids = routed.started.map((s) => s.journeyId).sort();
      expect(ids, what).toEqual(enters ? ['filtered-trigger', 'unfiltered-trigger'] : ['unfiltered-trigger']);
      // Nothing was started under the filtered journey's id for this entry, not even a run that exits at once.
      expect(await exists(journeyWorkflowId('filtered-trigger', contact.id, event.id)), what).toBe(enters);
    }
  });

  it('applies the same filters to events posted to /v1/events, and the matching run does its work', async () => {
    const post = (id: string, properties: Record<string, unknown>) =>
      request(stack.app)
        .post('/v1/events')
        .set('Authorization', `Bearer ${stack.keys.integration}`)
        .send({ id, type: 'webinar.ended', contact: { externalId: 'filter-api', email: 'filter.api@example.com' }, properties })
        .expect(202);
    const miss = await post('api-miss', { registered: true, minutes: 5, utm: { source: 'newsletter' } });
    expect(miss.body.accepted[0].runs.filter((r: string) => r.startsWith('journey:filtered-trigger:'))).toEqual([]);
    const hit = await post('api-hit', { registered: true, minutes: 12, utm: { source: 'newsletter' } });
    const [run] = hit.body.accepted[0].runs.filter((r: string) => r.startsWith('journey:filtered-trigger:'));
    expect(run).toMatch(/:api-hit$/);
    expect(await stack.temporal.client.workflow.getHandle(run).result()).toEqual({ status: 'completed', reason: 'done' });
    const [c] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'filter-api'));
    expect(c!.tags).toEqual(['filtered-entered']);
    expect(await exists(journeyWorkflowId('filtered-trigger', c!.id, 'api-miss'))).toBe(false);
  });
});
