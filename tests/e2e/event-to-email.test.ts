import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { eq } from 'drizzle-orm';
import { contacts } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

/**
 * A real journey, compiled and published like any other. The click path gets an hour to click in: with a window of a
 * few seconds, a busy machine could take longer between the run reaching the wait and the click reaching the run, and
 * the run went cold under a test that clicked. The no-click path is the same journey with a 4-second window, under
 * its own trigger, so a test can watch it time out.
 */
const journey = (id: string, event: string, clickWindow: string) => `
id: ${id}
name: E2E welcome (${id})
triggers:
  - type: event
    event: ${event}
start: welcome
steps:
  welcome:
    type: send_email
    template: welcome
    next: wait-click
  wait-click:
    type: wait_for_event
    event: email.clicked
    where: { link_tag: product-a }
    timeout: ${clickWindow}
    on_event: tag-hot
    on_timeout: tag-cold
  tag-hot:
    type: tag
    tags: [hot]
    next: done
  tag-cold:
    type: tag
    tags: [cold]
    next: done
  done:
    type: exit
    reason: finished
`;
const JOURNEY = journey('e2e-welcome', 'lead.created', '1h');
const NO_CLICK = journey('e2e-no-click', 'lead.imported', '4s');

describe('event → journey workflow → email → run status', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
    const templates = await loadTemplateCatalog(TEMPLATES_DIR);
    const published = await publishJourney(stack.db.db, JOURNEY, { templates });
    expect(published).toMatchObject({ journeyId: 'e2e-welcome', version: 1, created: true });
    // Identical content publishes no new version.
    expect(await publishJourney(stack.db.db, JOURNEY, { templates })).toMatchObject({ version: 1, created: false });
    expect(await publishJourney(stack.db.db, NO_CLICK, { templates })).toMatchObject({ journeyId: 'e2e-no-click', version: 1, created: true });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const post = (body: object) =>
    request(stack.app).post('/v1/events').set('Authorization', `Bearer ${stack.keys.integration}`).send(body).expect(202);
  const runOf = async (workflowId: string) =>
    (await request(stack.app).get(`/v1/runs/${encodeURIComponent(workflowId)}`).set('Authorization', `Bearer ${stack.keys.ops}`)).body;

  it('sends the welcome email once, follows the click through the tracking link, and completes', async () => {
    const event = {
      id: 'evt-e2e-1',
      type: 'lead.created',
      contact: { externalId: 'crm-42', email: 'Wang.Fang@Example.CN', firstName: 'Fang', locale: 'en' },
      properties: { source: 'webinar' },
    };
    const res = await post(event);
    expect(res.body.rejected).toEqual([]);
    const workflowId: string = res.body.accepted[0].runs[0];
    expect(workflowId).toMatch(/^journey:e2e-welcome:[0-9a-f-]{36}$/);

    const [mail] = await stack.smtp.waitFor(1);
    expect(mail!.envelopeTo).toEqual(['wang.fang@example.cn']);
    expect(mail!.parsed.text).toContain('Fang');
    expect(mail!.parsed.headers.get('x-itinera-idempotency-key')).toBe(`${workflowId}:welcome:1`);
    const waiting = await until(async () => {
      const r = await runOf(workflowId);
      return r.currentStep === 'wait-click' ? r : undefined;
    });
    expect(waiting.status).toBe('running');

    // The recipient clicks the product-A link: the tracking endpoint records email.clicked, which reaches the run.
    const click = String(mail!.parsed.html).match(/href="http:\/\/itinera\.test(\/t\/c\/[^"]+)"/)![1]!;
    await request(stack.app).get(click).expect(302);
    // The projection records the end just before the workflow returns; Temporal closes the run a moment later.
    const done = await until(async () => {
      const r = await runOf(workflowId);
      return r.status === 'completed' && r.temporal.status === 'COMPLETED' ? r : undefined;
    });
    expect(done.currentStep).toBe('done');
    const [contact] = await stack.db.db.select().from(contacts).where(eq(contacts.id, done.contactId));
    expect(contact!.tags).toEqual(['hot']);
    // The send ran under a heartbeat timeout (a worker dying mid-send is noticed in seconds) and heartbeated.
    const history = await stack.temporal.client.workflow.getHandle(workflowId).fetchHistory();
    const scheduled = history.events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'sendEmail');
    expect(Number(scheduled!.activityTaskScheduledEventAttributes!.heartbeatTimeout!.seconds)).toBe(10);

    // The same event delivered again is stored once and starts nothing.
    const again = await post(event);
    expect(again.body.accepted[0]).toMatchObject({ id: 'evt-e2e-1', duplicate: true, runs: [] });
    await new Promise((r) => setTimeout(r, 500));
    expect(stack.smtp.messages).toHaveLength(1);
  });

  it('takes the timeout branch when nobody clicks', async () => {
    const res = await post({ id: 'evt-e2e-2', type: 'lead.imported', contact: { externalId: 'crm-43', email: 'li@example.cn' } });
    const workflowId: string = res.body.accepted[0].runs[0];
    const done = await until(async () => {
      const r = await runOf(workflowId);
      return r.status === 'completed' ? r : undefined;
    }, 30_000);
    const [contact] = await stack.db.db.select().from(contacts).where(eq(contacts.id, done.contactId));
    expect(contact!.tags).toEqual(['cold']);
  });

  it('rejects an invalid event naming the field, and refuses callers without the integration role', async () => {
    const bad = await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id: 'x', type: 'Lead Created', contact: { externalId: 'c1' } })
      .expect(400);
    expect(bad.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(bad.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'type' })]));
    await request(stack.app).post('/v1/events').send({}).expect(401);
    const forbidden = await request(stack.app).post('/v1/events').set('Authorization', `Bearer ${stack.keys.marketer}`).send({}).expect(403);
    expect(forbidden.body.code).toBe('forbidden');
  });
});
