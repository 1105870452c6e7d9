import { z } from 'zod';
import type { Metrics } from '../../metrics';
import { defineRoute } from '../route';

/** Public like /healthz: Prometheus scrapes without keys, and nothing here names a contact. */
export function metricsRoutes(deps: { metrics: Metrics }) {
  return [
    defineRoute({
      method: 'get',
      path: '/metrics',
      tag: 'health',
      summary: 'Prometheus metrics: request latency, events ingested, runs in flight by journey and step, messages by channel and status',
      auth: 'public',
      responses: { 200: { description: 'Prometheus text exposition format', contentType: 'text/plain', schema: z.string() } },
      handler: async ({ res }) => {
        const body = await deps.metrics.registry.metrics();
        res.status(200).type(deps.metrics.registry.contentType).send(body);
      },
    }),
  ];
}
