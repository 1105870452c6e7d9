/**
 * Prometheus metrics of the API process. One registry per app (not prom-client's global one), so several apps in one
 * process — tests, the embedded single-process mode — never collide. Labels carry no contact data: route templates,
 * journey and step ids, channels, statuses, event types.
 */
import type { RequestHandler } from 'express';
import { eq, sql } from 'drizzle-orm';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from './db/client';
import { journeyRuns, messages } from './db/schema';

/** Distinct event types given their own label value; the rest count as "other", so a noisy source cannot explode the series. */
const MAX_EVENT_TYPES = 200;

export type Metrics = {
  registry: Registry;
  /** Times every request by route template (`/v1/runs/:workflowId`), method and status. */
  httpMiddleware: RequestHandler;
  /** Counts an ingested event: accepted (new), duplicate (already seen by id) or rejected (invalid). */
  eventIngested(type: string | undefined, outcome: 'accepted' | 'duplicate' | 'rejected'): void;
};

export function createMetrics(db: Db, opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'itinera_' });

  const http = new Histogram({
    name: 'itinera_http_request_duration_seconds',
    help: 'API request latency by route template, method and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  const events = new Counter({
    name: 'itinera_events_ingested_total',
    help: 'Events received by POST /v1/events, by type and outcome (accepted, duplicate, rejected)',
    labelNames: ['type', 'outcome'] as const,
    registers: [registry],
  });
  const seenTypes = new Set<string>();

  // Gauges read at scrape time from the projection and the message log: always current, no bookkeeping to drift.
  new Gauge({
    name: 'itinera_runs_running',
    help: 'Runs in flight, by journey and current step',
    labelNames: ['journey', 'step'] as const,
    registers: [registry],
    async collect() {
      const rows = await db
        .select({ journey: journeyRuns.journeyId, step: journeyRuns.currentStep, n: sql<number>`count(*)::int` })
        .from(journeyRuns)
        .where(eq(journeyRuns.status, 'running'))
        .groupBy(journeyRuns.journeyId, journeyRuns.currentStep);
      this.reset();
      for (const r of rows) this.set({ journey: r.journey, step: r.step ?? '' }, r.n);
    },
  });
  new Gauge({
    name: 'itinera_messages',
    help: 'Messages by channel and status (email, sms, webhook, chat; sent, delivered, failed, …)',
    labelNames: ['channel', 'status'] as const,
    registers: [registry],
    async collect() {
      const rows = await db
        .select({ channel: messages.channel, status: messages.status, n: sql<number>`count(*)::int` })
        .from(messages)
        .groupBy(messages.channel, messages.status);
      this.reset();
      for (const r of rows) this.set({ channel: r.channel, status: r.status }, r.n);
    },
  });

  const httpMiddleware: RequestHandler = (req, res, next) => {
    const end = http.startTimer();
    res.on('finish', () => {
      // The matched route's template, never the raw URL (ids would make a series per run); unmatched paths pool.
      const route = (req.route as { path?: unknown } | undefined)?.path;
      end({ method: req.method, route: typeof route === 'string' ? route : 'unmatched', status: String(res.statusCode) });
    });
    next();
  };

  return {
    registry,
    httpMiddleware,
    eventIngested(type, outcome) {
      let label = type ?? 'unknown';
      if (!seenTypes.has(label)) {
        if (seenTypes.size >= MAX_EVENT_TYPES) label = 'other';
        else seenTypes.add(label);
      }
      events.inc({ type: label, outcome });
    },
  };
}
