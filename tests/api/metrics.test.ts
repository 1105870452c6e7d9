import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { eq } from 'drizzle-orm';
import { journeyRuns, messages } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

const journey = `
id: metered
name: Metered
triggers: [{ type: event, event: trial.started }]
start: hold
steps:
  hold: { type: wait_for_event, event: never.happens, timeout: 1h, on_event: done, on_timeout: done }
  done: { type: exit }
`;

/** The value of one series in Prometheus text format, or undefined when it is absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const got = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v) && Object.keys(got).length === Object.keys(labels).length) return Number(m[2]);
  }
  return undefined;
}

describe('/metrics', () => {
  let stack: TestStack;
  let runId: string;
  let contactId: string;

  beforeAll(async () => {
    stack = await startTestStack();
    await publishJourney(stack.db.db, journey, {});
    const send = (body: object) => request(stack.app).post('/v1/events').set('Authorization', `Bearer ${stack.keys.integration}`).send(body).expect(202);
    const first = await send({ id: 'm-1', type: 'trial.started', contact: { externalId: 'metrics-contact-x1', email: 'metered.person@example.com' } });
    runId = first.body.accepted[0].runs[0];
    await send({ id: 'm-1', type: 'trial.started', contact: { externalId: 'metrics-contact-x1' } });
    await send({ events: [{ id: 'm-2', type: 'page.viewed', contact: { externalId: 'metrics-contact-x1' } }, { id: 'm-3', type: 'Not A Type', contact: { externalId: 'k' } }] });
    contactId = await until('the run to reach hold', async () => {
      const [row] = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.workflowId, runId));
      return row?.currentStep === 'hold' ? row.contactId : undefined;
    }, 60_000);
    await stack.db.db.insert(messages).values([
      { idempotencyKey: 'metrics-sms-1', channel: 'sms', recipient: '+8613800000000', status: 'sent', contactId },
      { idempotencyKey: 'metrics-sms-2', channel: 'sms', recipient: '+8613800000001', status: 'sent' },
      { idempotencyKey: 'metrics-mail-1', channel: 'email', recipient: 'metered.person@example.com', status: 'bounced' },
    ]);
    await request(stack.app).get('/nope').expect(404);
    await request(stack.app).get(`/v1/runs/${encodeURIComponent(runId)}`).set('Authorization', `Bearer ${stack.keys.ops}`).expect(200);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('serves Prometheus text without a key, with request, event, run and message metrics', async () => {
    const res = await request(stack.app).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.text;

    expect(text).toContain('# TYPE itinera_http_request_duration_seconds histogram');
    expect(sample(text, 'itinera_http_request_duration_seconds_count', { method: 'POST', route: '/v1/events', status: '202' })).toBe(3);
    expect(sample(text, 'itinera_http_request_duration_seconds_count', { method: 'GET', route: '/v1/runs/:workflowId', status: '200' })).toBe(1);
    expect(sample(text, 'itinera_http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(sample(text, 'itinera_http_request_duration_seconds_bucket', { method: 'POST', route: '/v1/events', status: '202', le: '+Inf' })).toBe(3);

    expect(text).toContain('# TYPE itinera_events_ingested_total counter');
    expect(sample(text, 'itinera_events_ingested_total', { type: 'trial.started', outcome: 'accepted' })).toBe(1);
    expect(sample(text, 'itinera_events_ingested_total', { type: 'trial.started', outcome: 'duplicate' })).toBe(1);
    expect(sample(text, 'itinera_events_ingested_total', { type: 'page.viewed', outcome: 'accepted' })).toBe(1);
    expect(sample(text, 'itinera_events_ingested_total', { type: 'invalid', outcome: 'rejected' })).toBe(1);

    expect(sample(text, 'itinera_runs_running', { journey: 'metered', step: 'hold' })).toBe(1);
    expect(sample(text, 'itinera_messages', { channel: 'sms', status: 'sent' })).toBe(2);
    expect(sample(text, 'itinera_messages', { channel: 'email', status: 'bounced' })).toBe(1);
    expect(text).toContain('itinera_process_cpu_seconds_total');

    // Route templates and ids of journeys and steps only: no contact, run or address leaks into a label.
    for (const secret of ['metered.person@example.com', 'metrics-contact-x1', contactId, runId, '+8613800000000']) expect(text).not.toContain(secret);
  });

  it('reads run gauges at scrape time', async () => {
    await stack.temporal.client.workflow.getHandle(runId).cancel();
    await until('the cancelled run to leave itinera_runs_running', async () => {
      const text = (await request(stack.app).get('/metrics').expect(200)).text;
      return sample(text, 'itinera_runs_running', { journey: 'metered', step: 'hold' }) === undefined ? true : undefined;
    }, 60_000);
    const [row] = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.workflowId, runId));
    expect(row!.status).toBe('cancelled');
  });
});
