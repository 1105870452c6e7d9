import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq } from 'drizzle-orm';
import { contacts, journeyRuns } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { compileJourney, formatError } from '../../src/journey/compiler';
import { journeyWorkflowId } from '../../src/contracts';
import { startTestStack, type TestStack } from '../helpers/stack';
import { runWatch } from '../helpers/runs';
import { until } from '../helpers/until';

// stale-opportunity's shape with an hour for its 15 days: each update must restart only its own deal's clock.
const JOURNEY = `
id: deal-watch
name: Deal watch
triggers:
  - { type: event, event: opportunity.created }
  - { type: event, event: opportunity.updated }
entry: { key: event.properties.opportunity_id, re_entry: after_exit }
exit: [{ event: opportunity.closed, reason: closed }]
steps:
  watch: { type: wait_for_event, event: opportunity.updated, timeout: 1h, lookback: 0s, on_event: watch, on_timeout: stale }
  stale: { type: exit, reason: stale }
`;

describe('keyed runs: one run per contact per key on the real server', () => {
  let stack: TestStack;
  let n = 0;
  const { atStep, ended } = runWatch(() => stack);
  beforeAll(async () => {
    stack = await startTestStack();
    await publishJourney(stack.db.db, JOURNEY, {});
  });
  afterAll(async () => {
    await stack?.stop();
  });
  const post = async (type: string, properties: Record<string, unknown>) =>
    (
      await request(stack.app)
        .post('/v1/events')
        .set('Authorization', `Bearer ${stack.keys.integration}`)
        .send({ id: `k-${++n}`, type, contact: { externalId: 'keyed-c' }, properties })
        .expect(202)
    ).body.accepted[0] as { runs: string[]; notEntered?: { journeyId: string; reason: string }[] };
  const timers = async (workflowId: string) => {
    const h = await stack.temporal.client.workflow.getHandle(workflowId).fetchHistory();
    return (h.events ?? []).filter((e) => e.timerStartedEventAttributes).length;
  };
  const signals = async (workflowId: string) => {
    const h = await stack.temporal.client.workflow.getHandle(workflowId).fetchHistory();
    return (h.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes).length;
  };

  it('bad key paths are path-qualified compile errors', () => {
    const r = compileJourney(JOURNEY.replace('event.properties.opportunity_id', 'event.opportunity_id'));
    expect(r.ok ? [] : r.errors.map(formatError)).toEqual([
      'entry.key: "event.opportunity_id" is not a path into the triggering event (use event.properties.<name>, such as event.properties.opportunity_id)',
    ]);
    const contactPath = compileJourney(JOURNEY.replace('event.properties.opportunity_id', 'contact.owner_id'));
    expect(contactPath.ok).toBe(false);
  });

  it('deals A and B run apart: B\'s update leaves A\'s wait alone, closing B ends B only', async () => {
    const a = await post('opportunity.created', { opportunity_id: 'A' });
    const b = await post('opportunity.created', { opportunity_id: 'B' });
    const [contact] = await stack.db.db.select().from(contacts).where(eq(contacts.externalId, 'keyed-c'));
    const idA = journeyWorkflowId('deal-watch', contact!.id, 'A');
    const idB = journeyWorkflowId('deal-watch', contact!.id, 'B');
    expect(a.runs).toEqual([idA]);
    expect(b.runs).toEqual([idB]);
    await atStep(idA, 'watch');
    await atStep(idB, 'watch');
    // The projection knows each run's key (the router reads it to route).
    const rows = await stack.db.db.select().from(journeyRuns).where(and(eq(journeyRuns.journeyId, 'deal-watch'), eq(journeyRuns.contactId, contact!.id)));
    expect(rows.map((r) => [r.workflowId, r.entryKey]).sort()).toEqual([[idA, 'A'], [idB, 'B']]);

    // An update on B: B's run hears it (a new wait, so a second timer); A's does not (one timer, no extra signal).
    const update = await post('opportunity.updated', { opportunity_id: 'B' });
    expect(update.runs).toEqual([idB]);
    await until('B restarted its wait', async () => ((await timers(idB)) === 2 ? true : undefined));
    expect(await timers(idA)).toBe(1);
    const signalsA = await signals(idA);

    // A trigger event without the key enters nobody.
    const unkeyed = await post('opportunity.updated', { amount: 5 });
    expect(unkeyed.notEntered).toEqual([{ journeyId: 'deal-watch', reason: 'missing_key' }]);

    // Closing B ends B's run only.
    const closeB = await post('opportunity.closed', { opportunity_id: 'B', outcome: 'lost' });
    expect(closeB.runs).toEqual([idB]);
    expect((await ended(idB)).status).toBe('exited');
    const stillA = await stack.temporal.client.workflow.getHandle(idA).describe();
    expect(stillA.status.name).toBe('RUNNING');
    expect(await timers(idA)).toBe(1);

    // A keyless event of a type the journey enters on is a deal's event with no deal: no run got it. One of another
    // type is the contact's, not a deal's: it reaches every keyed run (here a keyless close, which ends A).
    expect(await signals(idA)).toBe(signalsA);
    const closeAll = await post('opportunity.closed', { outcome: 'lost' });
    expect(closeAll.runs).toEqual([idA]);
    expect((await ended(idA)).status).toBe('exited');

    // after_exit applies per key: a new update on B starts B again, under the same id.
    const reopenB = await post('opportunity.updated', { opportunity_id: 'B' });
    expect(reopenB.runs).toEqual([idB]);
  });
});
