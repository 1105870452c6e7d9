import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq } from 'drizzle-orm';
import { contacts, events, journeyRuns } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { loadScoringModel } from '../../src/scoring/model';
import { SCORING_MODEL_FILE } from '../../src/paths';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

const MQL_JOURNEY = `
id: e2e-mql
name: E2E MQL
triggers:
  - type: event
    event: lead.mql
start: tag
steps:
  tag:
    type: tag
    tags: [mql-journey]
    next: done
  done:
    type: exit
`;

describe('every ingested event is scored; crossing the MQL threshold emits lead.mql, which starts its journey', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ scoring: await loadScoringModel(SCORING_MODEL_FILE) });
    await publishJourney(stack.db.db, MQL_JOURNEY, {});
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('scores exactly, emits lead.mql once, and runs the MQL journey', async () => {
    const contact = { externalId: 'score-1', email: 'cfo@example.com' };
    const evts = [
      { id: 's1', type: 'demo.requested' }, // +30
      { id: 's2', type: 'webinar.attended', properties: { minutes_attended: 35 } }, // +20
      { id: 's3', type: 'content.downloaded', properties: { content_type: 'whitepaper' } }, // +15
      { id: 's4', type: 'content.downloaded', properties: { content_type: 'whitepaper' } }, // +15
      { id: 's5', type: 'content.downloaded', properties: { content_type: 'whitepaper' } }, // +15
      { id: 's6', type: 'content.downloaded', properties: { content_type: 'whitepaper' } }, // capped at 45 / 30d: +0
    ];
    const res = await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ events: evts.map((e) => ({ ...e, contact })) })
      .expect(202);
    expect(res.body.rejected).toEqual([]);
    const [before] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'score-1'));
    expect(before!.score).toBe(95);
    expect(before!.lifecycleStage).toBe('lead');

    // +5 page view and +10 pricing page: 110 crosses the 100 threshold.
    await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id: 's7', type: 'page.viewed', contact, properties: { path: '/pricing' } })
      .expect(202);
    // Re-delivering the crossing event scores and emits nothing more.
    await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id: 's7', type: 'page.viewed', contact, properties: { path: '/pricing' } })
      .expect(202);
    const [after] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'score-1'));
    expect(after!.score).toBe(110);
    expect(after!.lifecycleStage).toBe('mql');
    const mql = await stack.db.db.select().from(events).where(and(eq(events.contactId, after!.id), eq(events.type, 'lead.mql')));
    expect(mql).toHaveLength(1);
    expect(mql[0]!.source).toBe('scoring');

    await until('the MQL journey to complete', async () => {
      const [run] = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.contactId, after!.id));
      return run?.status === 'completed' ? true : undefined;
    }, 20_000);
    const [tagged] = await stack.db.db.select().from(contacts).where(eq(contacts.id, after!.id));
    expect(tagged!.tags).toContain('mql-journey');
  });
});
