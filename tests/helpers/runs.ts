import request from 'supertest';
import { expect } from 'vitest';
import type { TestStack } from './stack';
import { until } from './until';

/**
 * Watching runs through the ops API (GET /v1/runs/:workflowId), as ops would: `runOf` is undefined until the worker
 * has projected the run; `atStep` and `ended` wait for it.
 *
 * `ended` waits for both records of the end: the projection's status (written by a local activity just before the
 * workflow returns) and Temporal's (closed only once the worker has reported the workflow task that returned). On a
 * busy machine there are seconds between the two, and a test that read `temporal.status` as soon as the projection
 * said `goal` saw RUNNING.
 */
export function runWatch(stack: () => TestStack) {
  const runOf = async (workflowId: string) => {
    const res = await request(stack().app).get(`/v1/runs/${encodeURIComponent(workflowId)}`).set('Authorization', `Bearer ${stack().keys.ops}`);
    if (res.status === 404) return undefined;
    expect(res.status).toBe(200);
    return res.body;
  };
  const atStep = (workflowId: string, stepId: string) =>
    until(`${workflowId} at ${stepId}`, async () => {
      const r = await runOf(workflowId);
      return r?.currentStep === stepId ? r : undefined;
    });
  const ended = (workflowId: string) =>
    until(`${workflowId} to end`, async () => {
      const r = await runOf(workflowId);
      return r && r.status !== 'running' && r.temporal.status !== 'RUNNING' ? r : undefined;
    });
  return { runOf, atStep, ended };
}
