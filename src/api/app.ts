import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import express, { type Express } from 'express';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { DatabaseHandle } from '../db/client';
import type { ScoringModel } from '../scoring/model';
import type { TriggerSource } from '../ingest/router';
import { authenticate } from './auth';
import { buildOpenApi, DOCS_HTML, DOCS_INIT_JS } from './openapi';
import { mountConsole } from './console';
import { errorHandler, notFoundHandler } from './problem';
import { rateLimitPerKey, rateLimitPublic, rateLimitUnauthenticated, type AddressLimitOptions, type RateLimitOptions } from './rate-limit';
import { securityHeaders } from './security-headers';
import { ingestDeps } from '../wiring/ingest';
import type { TrustProxy } from '../config';
import { mountRoutes, type RouteDef } from './route';
import { createMetrics, type Metrics } from '../metrics';
import { metricsRoutes } from './routes/metrics';
import { analyticsRoutes } from './routes/analytics';
import { campaignRoutes } from './routes/campaigns';
import { contactRoutes } from './routes/contacts';
import { contactSearchRoutes } from './routes/contact-search';
import { contactRightsRoutes } from './routes/contact-rights';
import { eventRoutes } from './routes/events';
import { handoffRoutes } from './routes/handoffs';
import { healthRoutes } from './routes/health';
import { importRoutes } from './routes/imports';
import { journeyRoutes } from './routes/journeys';
import type { OutboundAllowList } from '../net/addresses';
import { syncJourneySchedulesExclusive } from '../publishing/schedules';
import { keyRoutes } from './routes/keys';
import { journeyStepRoutes } from './routes/journey-steps';
import { launchRoutes } from './routes/launches';
import { messageRoutes } from './routes/messages';
import { runActionRoutes } from './routes/run-actions';
import { runRoutes } from './routes/runs';
import { sessionRoutes } from './routes/session';
import { SESSION_TTL_DEFAULT_MS } from './sessions';
import { trackingRoutes } from './routes/tracking';
import { smsWebhookRoutes, type AliyunCallbackOptions, type TwilioWebhookOptions } from './routes/sms-webhooks';
import { mailPageRoutes } from './routes/mail-pages';
import { preferenceRoutes } from './routes/preferences';
import { emailFeedbackRoutes, keepRawBody, type EmailFeedbackOptions } from './routes/email-feedback';
import { DEFAULT_TOPICS, type Topics } from '../contacts/topics';

declare module 'express-serve-static-core' {
  interface Request {
    id?: string;
    log?: Logger;
  }
}

export type AppDeps = {
  database: DatabaseHandle;
  temporal: Client;
  taskQueue: string;
  triggers: TriggerSource;
  logger?: Logger;
  /** @default '1mb' — a 1,000-event batch fits; anything larger is refused with 413. */
  bodyLimit?: string;
  /** Per-key limit; on Postgres its buckets are shared by every API process (RateLimitOptions.shared), on PGlite in memory. */
  rateLimit?: RateLimitOptions;
  /** Per-address limits on failed authentications and public endpoints. */
  addressLimits?: AddressLimitOptions;
  /**
   * Express `trust proxy`: which proxies' `X-Forwarded-For` names the client whose address is rate-limited.
   * @default false — the socket's address
   */
  trustProxy?: TrustProxy;
  /** Verify tracking and unsubscribe tokens; the first also signs. */
  signingSecrets: readonly string[];
  /** Subscription topics (MAIL_TOPICS) of the preference centre and the preferences API. @default DEFAULT_TOPICS */
  topics?: Topics;
  /** Lead-scoring model applied at ingest. */
  scoring?: ScoringModel;
  /** OUTBOUND_ALLOW, so validate and publish accept the private webhook hosts the worker will reach. */
  outboundAllow?: OutboundAllowList;
  /** Prometheus registry and instruments for /metrics. @default a registry of the app's own */
  metrics?: Metrics;
  /** How long a console session lasts after sign-in (absolute). @default SESSION_TTL_DEFAULT_MS (8 hours) */
  sessionTtlMs?: number;
  /** The built console served at `/`. @default CONSOLE_DIST (console/dist) */
  consoleDist?: string;
  /** Verifies Twilio's delivery receipts and inbound messages; without it those endpoints answer 404. */
  twilio?: TwilioWebhookOptions;
  /** Authenticates Aliyun's pushed delivery reports and replies; without it those endpoints answer 404. */
  aliyun?: AliyunCallbackOptions;
  /** Largest contact import upload (IMPORT_MAX_BYTES). @default 256 MiB */
  importMaxBytes?: number;
  /** Bounce and complaint intake: raw reports, and the providers whose webhooks are configured (others answer 404). */
  emailFeedback?: EmailFeedbackOptions;
  /** Reporting currency and exchange rates (ANALYTICS_CURRENCY, ANALYTICS_FX_RATES). @default USD, no rates */
  analytics?: { currency: string; rates: Record<string, number> };
};

/** Every route of the API. Tests generate the authorization matrix and the OpenAPI coverage check from this. */
export function routeTable(deps: AppDeps): RouteDef[] {
  const db = deps.database.db;
  const metrics = deps.metrics ?? createMetrics(db, { defaultMetrics: false });
  const ingest = ingestDeps({ db, temporal: deps.temporal, taskQueue: deps.taskQueue, scoring: deps.scoring, triggers: deps.triggers });
  return [
    ...healthRoutes({ database: deps.database, temporal: deps.temporal }),
    ...eventRoutes({ ...ingest, metrics }),
    ...contactRoutes({ db, ...(deps.scoring ? { scoring: deps.scoring } : {}), ingest, ...(deps.logger ? { log: deps.logger } : {}) }),
    ...contactSearchRoutes({ db, signingSecrets: deps.signingSecrets }),
    ...contactRightsRoutes({ db, temporal: deps.temporal, signingSecrets: deps.signingSecrets }),
    ...trackingRoutes({ ...ingest, secrets: deps.signingSecrets, topics: deps.topics ?? DEFAULT_TOPICS }),
    ...smsWebhookRoutes({ db, ingest, twilio: deps.twilio, aliyun: deps.aliyun }),
    ...emailFeedbackRoutes({ db, ingest, options: deps.emailFeedback ?? {}, secrets: deps.signingSecrets }),
    ...preferenceRoutes({ db, topics: deps.topics ?? DEFAULT_TOPICS, ingest }),
    ...mailPageRoutes({ ...ingest, secrets: deps.signingSecrets, topics: deps.topics ?? DEFAULT_TOPICS }),
    ...runRoutes({ db, temporal: deps.temporal, taskQueue: deps.taskQueue }),
    ...handoffRoutes(ingest),
    ...journeyRoutes({ db, ...(deps.analytics ? { fx: deps.analytics } : {}), ...(deps.outboundAllow ? { outboundAllow: deps.outboundAllow } : {}), ...(deps.topics ? { topics: deps.topics } : {}), onChange: () => syncJourneySchedulesExclusive(deps.temporal, deps.database, { taskQueue: deps.taskQueue }) }),
    ...journeyStepRoutes({ db }),
    ...launchRoutes({ db, temporal: deps.temporal, taskQueue: deps.taskQueue, signingSecrets: deps.signingSecrets }),
    ...importRoutes({ db, temporal: deps.temporal, taskQueue: deps.taskQueue, ...(deps.importMaxBytes ? { maxBytes: deps.importMaxBytes } : {}) }),
    ...messageRoutes({ db }),
    ...runActionRoutes({ db, temporal: deps.temporal }),
    ...keyRoutes({ db }),
    ...sessionRoutes({ db, ttlMs: deps.sessionTtlMs ?? SESSION_TTL_DEFAULT_MS }),
    ...metricsRoutes({ metrics }),
    ...analyticsRoutes({ db, fx: deps.analytics ?? { currency: 'USD', rates: {} } }),
    ...campaignRoutes({ db }),
  ];
}

const require = createRequire(import.meta.url);
const SWAGGER_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const VERSION = (require('../../package.json') as { version: string }).version;

export function buildApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.set('trust proxy', deps.trustProxy ?? false);
  // First, so every answer carries them, whatever serves it: docs, tracking pages, errors, a future console.
  app.use(securityHeaders());
  app.use((req, res, next) => {
    const incoming = req.get('x-request-id');
    req.id = incoming && /^[\w.-]{1,100}$/.test(incoming) ? incoming : randomUUID();
    res.set('X-Request-Id', req.id);
    req.log = deps.logger?.child({ reqId: req.id });
    next();
  });
  const log = deps.logger;
  const addressLimits: AddressLimitOptions = {
    ...deps.addressLimits,
    ...(log && !deps.addressLimits?.logger
      ? { logger: { warn: (err: unknown, msg?: string) => log.warn({ err }, msg ?? 'rate limiter'), error: (err: unknown, msg?: string) => log.error({ err }, msg ?? 'rate limiter') } }
      : {}),
  };
  // One instance each for the whole app: an address has one budget across all public routes.
  const publicLimit = rateLimitPublic(addressLimits);
  const unauthenticated = rateLimitUnauthenticated(addressLimits);
  app.use(express.json({ limit: deps.bodyLimit ?? '1mb', type: ['application/json', 'application/*+json'], verify: (req, _res, buf) => keepRawBody(req as express.Request, buf) }));
  // RFC 8058 one-click unsubscribe arrives as a form post.
  app.use(express.urlencoded({ extended: false, limit: '16kb' }));

  const metrics = deps.metrics ?? createMetrics(deps.database.db);
  app.use(metrics.httpMiddleware);
  const routes = routeTable({ ...deps, metrics });
  const openapi = buildOpenApi(routes, { version: VERSION });
  app.get('/openapi.json', publicLimit, (_req, res) => res.json(openapi));
  app.get('/docs', publicLimit, (_req, res) => res.type('html').send(DOCS_HTML));
  app.get('/docs/init.js', publicLimit, (_req, res) => res.type('application/javascript').send(DOCS_INIT_JS));
  app.use('/docs/assets', publicLimit, express.static(SWAGGER_DIR, { index: false, maxAge: '1h' }));
  mountConsole(app, { limit: publicLimit, ...(deps.consoleDist ? { dist: deps.consoleDist } : {}) });

  app.use(
    mountRoutes(routes, {
      authenticated: [authenticate(deps.database.db, { exhausted: unauthenticated.exhausted }), unauthenticated.onFailure, rateLimitPerKey({ ...(deps.database.kind === 'postgres' ? { shared: deps.database.db } : {}), ...deps.rateLimit })],
      public: [publicLimit],
    }, { db: deps.database.db }),
  );

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
