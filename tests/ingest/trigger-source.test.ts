import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbTriggerSource, publishJourney, setJourneyStatus } from '../../src/publishing/journeys';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { createTestDatabase } from '../helpers/db';

/** dbTriggerSource keeps plans (immutable per version) but reads which version is live on every call. */
describe('dbTriggerSource', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const templates = loadTemplateCatalog(TEMPLATES_DIR);
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
