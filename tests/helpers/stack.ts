import type { Express } from 'express';
import { createActivities, type Activities } from '../../src/activities';
import type { EmailRenderer, Mailer } from '../../src/activities/deps';
import { buildApp, type AppDeps } from '../../src/api/app';
import { createApiKey, type Role } from '../../src/api/auth';
import { createSmtpMailer } from '../../src/channels/email/mailer';
import type { MailRelay } from '../../src/deliverability/correlation';
import type { TriggerSource } from '../../src/ingest/router';
import { dbTriggerSource } from '../../src/publishing/journeys';
import type { ScoringModel } from '../../src/scoring/model';
import type { SalesDeps } from '../../src/sales';
import type { ChatWebhooks } from '../../src/config';
import { sampleRenderer } from './renderer';
import { ingestDeps } from '../../src/wiring/ingest';
import { TEMPLATES_DIR } from '../../src/paths';
import { createTextRenderer } from '../../src/templates/text';
import { createOutboxSmsSender, type SmsSender } from '../../src/channels/sms';
import { randomUUID } from 'node:crypto';
import { createTestDatabase } from './db';
import { LOCAL_ALLOW } from './outbound';
import type { OutboundAllowList } from '../../src/net/addresses';
import { createOutboundHttp } from '../../src/net/outbound';
import { startSmtpSink, type SmtpSink } from './smtp';
import { connectTestTemporal, type TestTemporal } from './temporal';

export const TEST_SECRETS = ['test-signing-secret-0123456789abcdef0123456789'];

export type TestStack = {
  db: Awaited<ReturnType<typeof createTestDatabase>>;
  smtp: SmtpSink;
  temporal: TestTemporal;
  mailer: Mailer;
  activities: Activities;
  app: Express;
  keys: Record<Role, string>;
  /** Stops the worker (in-flight tasks finish) and starts a fresh one on the same task queue: a worker restart. */
  restartWorker(): Promise<void>;
  stop(): Promise<void>;
};

/** Real parts end to end: a fresh database, a real SMTP server, the shared Temporal dev server and a worker. */
export async function startTestStack(
  opts: {
    triggers?: TriggerSource;
    renderer?: EmailRenderer;
    sms?: SmsSender;
    scoring?: ScoringModel;
    sales?: SalesDeps;
    chatWebhooks?: ChatWebhooks;
    /** OUTBOUND_ALLOW of the worker and the API. @default 127.0.0.1, where the suite's receivers listen */
    outboundAllow?: OutboundAllowList;
    /**
     * settings.unknown_contact as published (`honour`), or every journey creating the contacts its events name
     * (`create`): most suites' journeys are written for contacts their first event creates, which predates the
     * setting being honoured; tests of the setting itself pass `honour`.
     * @default 'create'
     */
    unknownContact?: 'honour' | 'create';
    /**
     * Whether change and audience triggers enter contacts on contact writes (as in production), or only events do
     * (a suite that creates its contacts first and then enters them by an event).
     * @default true
     */
    contactTriggers?: boolean;
    /** The built console the app serves at `/`. @default console/dist */
    consoleDist?: string;
    /** Twilio callback verification for the API (see AppDeps.twilio). */
    twilio?: AppDeps['twilio'];
    /** `messages.provider` of SMS sends. @default 'twilio' when `sms` is given, else 'outbox' */
    smsProvider?: string;
    /** Aliyun SMS push authentication for the API (see AppDeps.aliyun). */
    aliyun?: AppDeps['aliyun'];
    /** Bounce and complaint intake of the API (see AppDeps.emailFeedback). */
    emailFeedback?: AppDeps['emailFeedback'];
    /** The provider the mailer writes correlation headers for (MAIL_RELAY). */
    mailRelay?: MailRelay;
    /** BOUNCE_VERP_DOMAIN: envelope senders become signed `bounces+<token>@<domain>` addresses. */
    verpDomain?: string;
  } = {},
): Promise<TestStack> {
  const [db, smtp, temporal] = await Promise.all([createTestDatabase(), startSmtpSink(), connectTestTemporal()]);
  const published = dbTriggerSource(db.db);
  const { contactTriggers: _onContactWrites, ...eventTriggers } = published;
  const base: TriggerSource = opts.contactTriggers === false ? eventTriggers : published;
  const triggers: TriggerSource =
    opts.triggers ??
    (opts.unknownContact === 'honour' ? base : { ...base, triggersFor: async (type) => (await published.triggersFor(type)).map((t) => ({ ...t, unknownContact: 'create' as const })) });
  const mailer = createSmtpMailer({ url: smtp.url, pool: { maxConnections: 2 }, ...(opts.mailRelay ? { relay: opts.mailRelay } : {}) });
  const outboundAllow = opts.outboundAllow ?? LOCAL_ALLOW;
  const activities = createActivities({
    db: db.db,
    mailer,
    renderer: opts.renderer ?? await sampleRenderer(),
    text: createTextRenderer(TEMPLATES_DIR),
    sms: opts.sms ?? createOutboxSmsSender(async () => `outbox-${randomUUID()}`),
    smsProvider: opts.smsProvider ?? (opts.sms ? 'twilio' : 'outbox'),
    defaultFrom: 'itinera tests <journeys@itinera.test>',
    ...(opts.scoring ? { scoring: opts.scoring } : {}),
    ...(opts.sales ? { sales: opts.sales } : {}),
    ...(opts.chatWebhooks ? { chatWebhooks: opts.chatWebhooks } : {}),
    ...(opts.verpDomain ? { verp: { domain: opts.verpDomain } } : {}),
    tracking: { baseUrl: 'http://itinera.test', secrets: TEST_SECRETS, physicalAddress: 'ACME Ltd · 100 Century Ave · Shanghai' },
    temporal: { client: temporal.client, taskQueue: temporal.taskQueue },
    ingest: ingestDeps({ db: db.db, temporal: temporal.client, taskQueue: temporal.taskQueue, scoring: opts.scoring, triggers }),
    outbound: createOutboundHttp({ allow: outboundAllow }),
  });
  let worker = await temporal.startWorker(activities);
  const app = buildApp({ database: db, temporal: temporal.client, taskQueue: temporal.taskQueue, triggers, signingSecrets: TEST_SECRETS, outboundAllow,
    ...(opts.scoring ? { scoring: opts.scoring } : {}),
    ...(opts.consoleDist ? { consoleDist: opts.consoleDist } : {}),
    ...(opts.twilio ? { twilio: opts.twilio } : {}),
    ...(opts.emailFeedback ? { emailFeedback: opts.emailFeedback } : {}),
    ...(opts.aliyun ? { aliyun: opts.aliyun } : {}),
  });
  const keys = {} as Record<Role, string>;
  for (const role of ['marketer', 'integration', 'ops', 'admin'] as const) {
    keys[role] = (await createApiKey(db.db, { name: `test ${role}`, role })).key;
  }
  return {
    db,
    smtp,
    temporal,
    mailer,
    activities,
    app,
    keys,
    async restartWorker() {
      await worker.stop();
      worker = await temporal.startWorker(activities);
    },
    async stop() {
      await worker.stop();
      await temporal.close();
      await mailer.close?.();
      await smtp.close();
      await db.drop();
    },
  };
}
