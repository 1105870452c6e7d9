/**
 * Child-process load generator for the ingest scenario (autocannon, so the load does not share the event loop of
 * the server it measures). Reads its job as JSON from argv[2], prints one JSON line with the result.
 */
import autocannon from 'autocannon';

type Job = { url: string; token?: string; warmSeconds: number; seconds: number; connections: number; contacts: number; tag: string };

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
let n = 0;
const fire = (seconds: number) => autocannon({
  url: job.url,
  method: 'POST',
  connections: job.connections,
  duration: seconds,
  headers: { 'content-type': 'application/json', ...(job.token ? { authorization: `Bearer ${job.token}` } : {}) },
  requests: [
    {
      setupRequest: (req) => {
        const i = n++;
        // A unique event id per request (no duplicate short-cut); contacts from a fixed pool, as a CRM would send.
        const c = i % job.contacts;
        return {
          ...req,
          body: JSON.stringify({
            id: `${job.tag}-${i}`,
            type: 'page.viewed',
            contact: { externalId: `ingest-${c}`, email: `visitor${c}@bench.test` },
            properties: { path: `/pricing/${i % 7}` },
          }),
        };
      },
    },
  ],
});
// Warm-up first (JIT, pool connections), unmeasured; then the measured run.
if (job.warmSeconds > 0) await fire(job.warmSeconds);
const result = await fire(job.seconds);
process.stdout.write(
  `${JSON.stringify({
    requests: result.requests.total,
    perSecond: result.requests.total / job.seconds,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    latency: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max, mean: result.latency.average },
  })}\n`,
);
