import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { DNS_NAME, dkimKeyProblem, type DkimOptions } from './channels/email/dkim';
import { DEFAULT_TOPICS, Topics } from './contacts/topics';
import type { KeyObject } from 'node:crypto';
import { DEFAULT_DELIVERABILITY, DEFAULT_REPORT_MAX_BYTES } from './deliverability/settings';
import { MAIL_RELAYS, type MailRelay } from './deliverability/correlation';
import { sendgridPublicKey } from './deliverability/providers/sendgrid';
import { SCORING_MODEL_FILE } from './paths';
import { EMPTY_ALLOW_LIST, literalHostProblem, parseOutboundAllow, type OutboundAllowList } from './net/addresses';

/** The public endpoints Twilio posts to (src/api/routes/sms-webhooks.ts). */
export const TWILIO_STATUS_PATH = '/v1/sms/twilio/status';
export const TWILIO_INBOUND_PATH = '/v1/sms/twilio/inbound';
/** Where Aliyun pushes delivery reports and replies (HTTP batch push), each followed by /ALIYUN_SMS_CALLBACK_TOKEN. */
export const ALIYUN_REPORT_PATH = '/v1/sms/aliyun/report';
export const ALIYUN_UP_PATH = '/v1/sms/aliyun/up';
/** @default answer to an inbound HELP (SMS_HELP_TEXT). */
export const DEFAULT_SMS_HELP_TEXT = 'Reply STOP to unsubscribe, START to subscribe again. 回复 TD 退订，回复 订阅 重新订阅。';

/**
 * Every setting itinera reads from the environment, parsed once. A bad value stops start-up with a sentence naming
 * the variable, so a typo in a deployment never turns into a silently wrong default.
 */
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const port = (fallback: number) =>
  z.coerce.number().int().min(1).max(65535).default(fallback);

/**
 * Worker sizing defaults, measured (see README, configuration): parked runs cost memory only while they are in the
 * sticky cache, so the cache bounds RSS however many runs wait on timers; a run that wakes outside it is replayed.
 */
export const WORKER_DEFAULTS = {
  /**
   * ~0.21 MB of RSS per cached run over a ~400 MB process (measured: 3,000 parked runs all cached → 992 MB; with a
   * cache of 100 the RSS stayed at 370-480 MB while 3,000 parked): 1,500 keeps a worker near 720 MB, under 1 GiB with
   * room for GC swings, however many runs are parked. Far more than the runs a worker advances at once.
   */
  maxCachedWorkflows: 1500,
  /** The SDK's own default. */
  maxConcurrentActivities: 100,
  /** The SDK's own default. */
  maxConcurrentWorkflowTasks: 40,
} as const;

/**
 * Express `trust proxy`: `false` (the socket's address is the client), `true` (the left-most `X-Forwarded-For`
 * entry — only when every request comes through a proxy that sets it), a hop count, or the proxies' addresses,
 * subnets and presets (`loopback`, `linklocal`, `uniquelocal`).
 */
export type TrustProxy = boolean | number | string[];
const PROXY_PRESETS = new Set(['loopback', 'linklocal', 'uniquelocal']);
const TrustProxySetting = z
  .string()
  .default('false')
  .transform((v, ctx): TrustProxy => {
    const t = v.trim().toLowerCase();
    if (t === '' || t === 'false') return false;
    if (t === 'true') return true;
    if (/^\d+$/.test(t)) return Number(t);
    const entries = t.split(',').map((x) => x.trim()).filter(Boolean);
    for (const entry of entries) {
      const [address, bits, ...rest] = entry.split('/');
      const family = isIP(address ?? '');
      const prefixOk = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32)) || (family === 4 && isIP(bits) === 4);
      if (!PROXY_PRESETS.has(entry) && (family === 0 || !prefixOk || rest.length > 0)) {
        ctx.addIssue({ code: 'custom', message: `has "${entry}", which is not an address, a subnet (10.0.0.0/8), a hop count, true/false or one of loopback, linklocal, uniquelocal` });
        return z.NEVER;
      }
    }
    return entries;
  });

/** Per-address limits of the API (see AddressLimitOptions in src/api/rate-limit.ts). */
export const ADDRESS_LIMIT_DEFAULTS = { unauthenticatedPerMinute: 60, publicPerMinute: 3000, maxAddresses: 100_000, ipv6Subnet: 64 } as const;

const perMinute = (fallback: number) => z.coerce.number().int().min(1).default(fallback);

const RobotUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
const ChatRobot = z.strictObject({
  /** The robot for messages to a person (mentioned) or to nobody in particular. */
  default: RobotUrl.optional(),
  /** Robots per group name, for `notify: { to: { group } }`. */
  groups: z.record(z.string().min(1), RobotUrl).default({}),
});
/** DingTalk and Feishu robots can sign requests; WeCom and Slack have no signing, so a secret there is an error. */
const SignedChatRobot = ChatRobot.extend({
  /** DingTalk 加签 / Feishu 签名校验 secret: signs every request to this channel's robots (default and groups). */
  secret: z.string().min(1, 'must not be empty (leave it out when the robot has no signing)').optional(),
});
const ChatWebhooks = z.strictObject({
  wecom: ChatRobot.optional(),
  dingtalk: SignedChatRobot.optional(),
  feishu: SignedChatRobot.optional(),
  slack: ChatRobot.optional(),
});
export type ChatWebhooks = z.infer<typeof ChatWebhooks>;

const DomainName = z.string().regex(DNS_NAME, 'must be a domain name such as example.com').refine((d) => d.includes('.'), 'must be a domain name such as example.com');

/** One entry of DKIM_KEYS: a From domain, its selector, and the private key inline or in a file. */
const DkimKeyEntry = z
  .strictObject({
    domain: DomainName.transform((d) => d.toLowerCase()),
    selector: z.string().regex(DNS_NAME, 'must be a DNS label such as s2026'),
    privateKey: z.string().min(1).optional(),
    privateKeyFile: z.string().min(1).optional(),
  })
  .refine((k) => (k.privateKey === undefined) !== (k.privateKeyFile === undefined), 'needs exactly one of privateKey and privateKeyFile');


/** A setting whose value is JSON text: parsed, or one issue with `invalid` (what was expected) on the setting. */
function parsedJson(invalid: string) {
  return (raw: string, ctx: z.RefinementCtx): unknown => {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: invalid });
      return z.NEVER;
    }
  };
}
const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: port(3000),
  HOST: z.string().default('127.0.0.1'),
  PUBLIC_BASE_URL: z.url().optional(),
  DATA_DIR: z.string().default('.data'),
  SCORING_MODEL_FILE: z.string().min(1).default(SCORING_MODEL_FILE),
  IMPORT_MAX_BYTES: z.coerce.number().int().min(1024).max(2 ** 31 - 1).default(256 * 1024 * 1024),
  DATABASE_URL: optionalString.pipe(
    z.string().regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://').optional(),
  ),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  TEMPORAL_ADDRESS: optionalString.pipe(
    z.string().regex(/^[^\s:]+:\d+$/, 'must be host:port, e.g. localhost:7233').optional(),
  ),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('itinera'),
  TEMPORAL_CLI_PATH: optionalString,
  TEMPORAL_DEV_PORT: port(7233),
  TEMPORAL_UI_PORT: port(8233),
  SMTP_URL: optionalString.pipe(
    z.string().regex(/^smtps?:\/\//, 'must start with smtp:// or smtps://').optional(),
  ),
  SMTP_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(5),
  SMTP_RATE_PER_SECOND: z.coerce.number().min(0).default(0),
  MAIL_FROM: z.string().min(3).default('itinera <no-reply@itinera.localhost>'),
  SIGNING_SECRET: optionalString.pipe(z.string().min(32, 'must be at least 32 characters').optional()),
  SIGNING_SECRETS_PREVIOUS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.string().min(32, 'each previous secret must be at least 32 characters'))),
  MAIL_PHYSICAL_ADDRESS: optionalString,
  MAIL_TOPICS: optionalString
    .pipe(
      z
        .string()
        .transform(parsedJson('must be a JSON array of {"id", "label": {"en", "zh-CN"}}'))
        .pipe(Topics)
        .optional(),
    )
    .transform((t) => t ?? DEFAULT_TOPICS),
  MAIL_UNSUBSCRIBE_MAILTO: optionalString.pipe(z.email('must be an email address').optional()),
  DKIM_DOMAIN: optionalString.pipe(DomainName.optional()),
  DKIM_SELECTOR: optionalString.pipe(z.string().regex(DNS_NAME, 'must be a DNS label such as s2026').optional()),
  DKIM_PRIVATE_KEY: optionalString,
  DKIM_PRIVATE_KEY_FILE: optionalString,
  DKIM_KEYS: z
    .string()
    .default('[]')
    .transform((v) => (v.trim() === '' ? '[]' : v))
    .transform(parsedJson('is not valid JSON: expected [{"domain": …, "selector": …, "privateKeyFile": …}, …]'))
    .pipe(z.array(DkimKeyEntry).max(100)),
  WEBHOOK_SECRETS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.string().startsWith('whsec_', 'each secret must look like whsec_<base64>'))),
  CHAT_WEBHOOKS: z
    .string()
    .default('{}')
    .transform(parsedJson('is not valid JSON'))
    .pipe(ChatWebhooks),
  ANALYTICS_CURRENCY: z.string().default('USD').pipe(z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code in capitals, such as USD or CNY')),
  ANALYTICS_FX_RATES: z
    .string()
    .default('{}')
    .transform((v) => (v.trim() === '' ? '{}' : v))
    .transform(parsedJson('is not valid JSON: expected {"CNY": 0.14, …}, the value of 1 unit in ANALYTICS_CURRENCY'))
    .pipe(z.record(z.string().regex(/^[A-Z]{3}$/, 'keys must be ISO 4217 codes in capitals'), z.number().positive('must be a positive number'))),
  CRM_WEBHOOK_URL: optionalString.pipe(z.url('must be an http(s) URL').optional()),
  OUTBOUND_ALLOW: z.string().default('').transform((v, ctx) => {
    const { allow, errors } = parseOutboundAllow(v);
    for (const e of errors) ctx.addIssue({ code: 'custom', message: `entry ${e}` });
    return allow;
  }),
  CRM_WEBHOOK_SECRETS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.string().startsWith('whsec_', 'each secret must look like whsec_<base64>'))),
  CRM_WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(10),
  SMS_PROVIDER: z.enum(['outbox', 'twilio', 'aliyun']).default('outbox'),
  ALIYUN_SMS_ENDPOINT: z.url().default('https://dysmsapi.aliyuncs.com'),
  ALIYUN_ACCESS_KEY_ID: optionalString,
  ALIYUN_ACCESS_KEY_SECRET: optionalString,
  ALIYUN_SMS_SIGN_NAME: optionalString,
  ALIYUN_SMS_CALLBACK_TOKEN: optionalString.pipe(z.string().min(24, 'must be at least 24 characters (it is the only thing authenticating Aliyun\'s pushes)').regex(/^[A-Za-z0-9_-]+$/, 'must be URL-safe: letters, digits, _ and -').optional()),
  ALIYUN_SMS_TEMPLATES: z
    .string()
    .default('{}')
    .transform(parsedJson('is not JSON; expected {"<template>": {"code": "SMS_123", "params": {"<name>": "{{contact.first_name}}"}}}'))
    .pipe(z.record(z.string().min(1), z.object({ code: z.string().regex(/^SMS_\d+$/, 'must be an Aliyun TemplateCode such as SMS_123456'), params: z.record(z.string(), z.string().max(500)).default({}) }).strict())),
  MAIL_RELAY: z.enum(MAIL_RELAYS as [MailRelay, ...MailRelay[]]).default('smtp'),
  BOUNCE_SOFT_LIMIT: z.coerce.number().int().min(1).max(100).default(DEFAULT_DELIVERABILITY.softBounceLimit),
  BOUNCE_SOFT_WINDOW_DAYS: z.coerce.number().int().min(1).max(365).default(DEFAULT_DELIVERABILITY.softBounceWindowMs / 86_400_000),
  INBOUND_REPORT_MAX_BYTES: z.coerce.number().int().min(1024).max(64 * 1024 * 1024).default(DEFAULT_REPORT_MAX_BYTES),
  BOUNCE_SMTP_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  BOUNCE_SMTP_HOST: z.string().min(1).optional(),
  BOUNCE_VERP_DOMAIN: optionalString.pipe(
    z.string().toLowerCase().regex(DNS_NAME, 'must be a domain name such as bounces.example.com, whose MX delivers to the bounce mailbox').refine((d) => d.includes('.'), 'must be a domain name such as bounces.example.com, whose MX delivers to the bounce mailbox').optional(),
  ),
  SES_SNS_TOPIC_ARNS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^arn:aws(-cn|-us-gov)?:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+$/, 'each entry must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)'))),
  MAILGUN_WEBHOOK_SIGNING_KEY: optionalString,
  SENDGRID_WEBHOOK_PUBLIC_KEY: optionalString.transform((v, ctx) => {
    if (v === undefined) return undefined;
    try {
      return sendgridPublicKey(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  }),
  POSTMARK_WEBHOOK_USER: optionalString,
  POSTMARK_WEBHOOK_PASSWORD: optionalString.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  TWILIO_BASE_URL: z.url().default('https://api.twilio.com'),
  TWILIO_ACCOUNT_SID: optionalString,
  TWILIO_AUTH_TOKEN: optionalString,
  SMS_FROM: optionalString,
  SMS_HELP_TEXT: z.string().trim().min(1).max(480).default(DEFAULT_SMS_HELP_TEXT),
  TRUST_PROXY: TrustProxySetting,
  CONSOLE_SESSION_MINUTES: z.coerce.number().int().min(5).max(7 * 24 * 60).default(480),
  RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: perMinute(ADDRESS_LIMIT_DEFAULTS.unauthenticatedPerMinute),
  RATE_LIMIT_PUBLIC_PER_MINUTE: perMinute(ADDRESS_LIMIT_DEFAULTS.publicPerMinute),
  RATE_LIMIT_MAX_ADDRESSES: z.coerce.number().int().min(100).default(ADDRESS_LIMIT_DEFAULTS.maxAddresses),
  RATE_LIMIT_PER_KEY_PER_SECOND: z.coerce.number().positive().max(1_000_000).default(50),
  RATE_LIMIT_PER_KEY_BURST: z.coerce.number().int().min(1).max(1_000_000).default(200),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(WORKER_DEFAULTS.maxCachedWorkflows),
  WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).default(WORKER_DEFAULTS.maxConcurrentActivities),
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: z.coerce.number().int().min(2).default(WORKER_DEFAULTS.maxConcurrentWorkflowTasks),
  WORKER_METRICS_ADDRESS: optionalString.pipe(z.string().regex(/^[^\s:]+:\d+$/, 'must be host:port, e.g. 0.0.0.0:9464').optional()),
}).superRefine((e, ctx) => {
  // The CRM acts on hand-offs (assigns leads, creates tasks): an unsigned call could be forged by anyone who finds the URL.
  if (e.CRM_WEBHOOK_URL && e.CRM_WEBHOOK_SECRETS.length === 0 && e.WEBHOOK_SECRETS.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['CRM_WEBHOOK_URL'], message: 'is set, but no secret signs its calls: set CRM_WEBHOOK_SECRETS (or WEBHOOK_SECRETS)' });
  }
  // The operator's own URLs get the same check as a journey's literal hosts: better a start-up error naming the
  // variable than every CRM call, robot message or SMS failing later.
  const ownUrls: Array<[string, string | undefined]> = [
    ['CRM_WEBHOOK_URL', e.CRM_WEBHOOK_URL],
    ...(e.SMS_PROVIDER === 'twilio' ? [['TWILIO_BASE_URL', e.TWILIO_BASE_URL] as [string, string]] : []),
    ...(e.SMS_PROVIDER === 'aliyun' ? [['ALIYUN_SMS_ENDPOINT', e.ALIYUN_SMS_ENDPOINT] as [string, string]] : []),
    // Zod runs this refinement even when a field above failed: every value is read defensively.
    ...Object.values(typeof e.CHAT_WEBHOOKS === 'object' && e.CHAT_WEBHOOKS !== null ? e.CHAT_WEBHOOKS : {}).flatMap((robot) => [robot?.default, ...Object.values(robot?.groups ?? {})].map((u): [string, string | undefined] => ['CHAT_WEBHOOKS', u])),
  ];
  for (const [name, url] of ownUrls) {
    if (typeof url !== 'string' || !URL.canParse(url)) continue;
    const problem = literalHostProblem(new URL(url).hostname, e.OUTBOUND_ALLOW ?? EMPTY_ALLOW_LIST);
    // The URL itself is not shown: robot URLs carry their key.
    if (problem) ctx.addIssue({ code: 'custom', path: [name], message: `points at ${problem}: add it to OUTBOUND_ALLOW if that is intended` });
  }
  const dkimSingle = ['DKIM_DOMAIN', 'DKIM_SELECTOR', 'DKIM_PRIVATE_KEY', 'DKIM_PRIVATE_KEY_FILE'] as const;
  if (dkimSingle.some((n) => e[n] !== undefined)) {
    for (const name of ['DKIM_DOMAIN', 'DKIM_SELECTOR'] as const) {
      if (!e[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'is required when any DKIM_* key setting is set' });
    }
    if ((e.DKIM_PRIVATE_KEY === undefined) === (e.DKIM_PRIVATE_KEY_FILE === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['DKIM_PRIVATE_KEY'], message: 'or DKIM_PRIVATE_KEY_FILE (exactly one of them) is required with DKIM_DOMAIN' });
    }
  }
  if (e.SMS_PROVIDER === 'aliyun') {
    for (const name of ['ALIYUN_ACCESS_KEY_ID', 'ALIYUN_ACCESS_KEY_SECRET', 'ALIYUN_SMS_SIGN_NAME'] as const) {
      if (!e[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'is required when SMS_PROVIDER=aliyun' });
    }
    if (typeof e.ALIYUN_SMS_TEMPLATES === 'object' && Object.keys(e.ALIYUN_SMS_TEMPLATES ?? {}).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['ALIYUN_SMS_TEMPLATES'], message: 'maps no template: Aliyun sends approved templates only, so every SMS would fail' });
    }
  }
  if ((e.POSTMARK_WEBHOOK_USER === undefined) !== (e.POSTMARK_WEBHOOK_PASSWORD === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['POSTMARK_WEBHOOK_PASSWORD'], message: 'and POSTMARK_WEBHOOK_USER are set together (the Basic credentials of the Postmark webhook URL)' });
  }
  if (e.SMS_PROVIDER !== 'twilio') return;
  for (const name of ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'SMS_FROM'] as const) {
    if (!e[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'is required when SMS_PROVIDER=twilio' });
  }
});

export type Config = {
  nodeEnv: 'development' | 'production' | 'test';
  port: number;
  host: string;
  publicBaseUrl: string;
  dataDir: string;
  /**
   * The lead-scoring model the API and the worker apply to every event and contact change.
   * @default journeys/scoring.yaml
   */
  scoringModelFile: string;
  /** Largest contact import upload, in bytes. @default 256 MiB */
  importMaxBytes: number;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  temporal: {
    /** `undefined` means "start the embedded dev server". */
    address: string | undefined;
    namespace: string;
    taskQueue: string;
    cliPath: string | undefined;
    devPort: number;
    uiPort: number;
  };
  smtp: { url: string | undefined; poolSize: number; ratePerSecond: number; from: string };
  signingSecret: string | undefined;
  /** Still accepted when verifying links, so a rotation does not break mail already sent. */
  previousSigningSecrets: string[];
  mail: { physicalAddress: string | undefined; unsubscribeMailto: string | undefined; topics: Topics };
  /**
   * Bounce and complaint intake (src/deliverability): the relay the mailer writes correlation headers for (MAIL_RELAY),
   * the soft-bounce policy, the raw report size limit and each provider's webhook verification (unset: that webhook 404s).
   */
  deliverability: {
    relay: MailRelay;
    softBounceLimit: number;
    softBounceWindowMs: number;
    reportMaxBytes: number;
    sesTopicArns: string[];
    mailgunSigningKey: string | undefined;
    sendgridPublicKey: KeyObject | undefined;
    postmark: { user: string; password: string } | undefined;
    /** The SMTP bounce mailbox the API process listens on (BOUNCE_SMTP_PORT, BOUNCE_SMTP_HOST, default HOST); unset: none. */
    bounceSmtp: { host: string; port: number } | undefined;
    /**
     * BOUNCE_VERP_DOMAIN: each email's envelope sender becomes `bounces+<signed token>@<domain>`, so a report without
     * the original Message-ID is still matched (src/deliverability/verp.ts); unset: the From address, no VERP.
     */
    verpDomain: string | undefined;
  };
  /** DKIM keys by From domain (DKIM_DOMAIN/… and DKIM_KEYS), each checked to sign at start-up; empty: mail is unsigned. */
  dkim: DkimOptions[];
  sms:
    | { provider: 'outbox' }
    | {
        provider: 'twilio';
        baseUrl: string;
        accountSid: string;
        authToken: string;
        from: string;
        /** Where Twilio posts delivery receipts: PUBLIC_BASE_URL + /v1/sms/twilio/status. */
        statusCallbackUrl: string;
        /** The answer to an inbound HELP (SMS_HELP_TEXT). */
        helpText: string;
      }
    | {
        provider: 'aliyun';
        endpoint: string;
        accessKeyId: string;
        accessKeySecret: string;
        signName: string;
        /** Our SMS template name → Aliyun TemplateCode and its variables' inline templates (ALIYUN_SMS_TEMPLATES). */
        templates: Record<string, { code: string; params: Record<string, string> }>;
        /** The secret last segment of the report and reply push URLs (ALIYUN_SMS_CALLBACK_TOKEN); unset: they answer 404. */
        callbackToken: string | undefined;
      };
  /** Incoming-webhook robots for the notify step; a channel without one keeps its messages in the outbox. */
  chatWebhooks: ChatWebhooks;
  /** Standard Webhooks secrets for the webhook step; the first signs. */
  webhookSecrets: string[];
  /**
   * The CRM's endpoint for new sales hand-offs (Standard Webhooks, signed with `secrets`, the first signing).
   * `url` undefined: no call is made and each hand-off records that none was sent.
   */
  crmWebhook: { url: string | undefined; secrets: string[]; maxAttempts: number };
  /** Which proxies' `X-Forwarded-For` names the client (rate limits are per client address). */
  trustProxy: TrustProxy;
  /**
   * Reports' money (src/analytics/money.ts): `currency` (ANALYTICS_CURRENCY, default USD) is the one amounts without a
   * currency are in and the one totals convert to; `rates` (ANALYTICS_FX_RATES) the value of 1 unit of each other
   * currency in it. A currency without a rate is reported on its own, never added.
   */
  analytics: { currency: string; rates: Record<string, number> };
  /** How long a console session lasts after sign-in, in milliseconds (CONSOLE_SESSION_MINUTES, default 480). */
  consoleSessionMs: number;
  /** Per client address and minute: failed authentications, and requests to public endpoints; addresses remembered. */
  addressLimits: { unauthenticatedPerMinute: number; publicPerMinute: number; maxAddresses: number };
  /** Per API key, shared by every API process on one Postgres (src/api/rate-limit.ts). */
  keyRateLimit: { perSecond: number; burst: number };
  /**
   * OUTBOUND_ALLOW: the private addresses, ranges and host names that outbound HTTP (webhook steps, chat robots, the
   * CRM, SMS gateways) may reach; every other private, loopback, link-local or metadata address is refused.
   */
  outboundAllow: OutboundAllowList;
  logLevel: z.infer<typeof EnvSchema>['LOG_LEVEL'];
  workerMaxCachedWorkflows: number;
  /** Activities (sends, DB writes) one worker process runs at once. */
  workerMaxConcurrentActivities: number;
  /** Workflow tasks one worker process runs at once. */
  workerMaxConcurrentWorkflowTasks: number;
  /** Where the worker serves the Temporal SDK's Prometheus metrics (`host:port`); off when undefined. */
  workerMetricsAddress: string | undefined;
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses an environment (defaults to `process.env`) into a typed config or throws a readable `ConfigError`. */
/** Settings whose value is JSON: their errors name the entry and field inside. */
const JSON_SETTINGS = new Set(['DKIM_KEYS', 'MAIL_TOPICS', 'ALIYUN_SMS_TEMPLATES', 'CHAT_WEBHOOKS', 'ANALYTICS_FX_RATES']);

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      const value = env[name];
      const shown = /SECRET|TOKEN|URL|WEBHOOK|KEY/.test(name) ? '(hidden)' : JSON.stringify(value);
      // Inside a JSON setting (DKIM_KEYS, MAIL_TOPICS, …): which entry and field. A list setting (CRM_WEBHOOK_SECRETS) keeps the plain form.
      const inner = JSON_SETTINGS.has(name) ? issue.path.slice(1).map((p) => (typeof p === 'number' ? `entry ${p + 1}` : String(p))).join(' ') : '';
      const where = inner ? `${name} ${inner}` : name;
      if (issue.code === 'custom' || inner) return `${where} ${issue.message}`;
      return `${name} ${value === undefined ? 'is missing' : `is ${shown}`}: ${issue.message}`;
    });
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const dkim = dkimKeys(e);
  return {
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    publicBaseUrl: (e.PUBLIC_BASE_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    dataDir: e.DATA_DIR,
    scoringModelFile: e.SCORING_MODEL_FILE,
    importMaxBytes: e.IMPORT_MAX_BYTES,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      cliPath: e.TEMPORAL_CLI_PATH,
      devPort: e.TEMPORAL_DEV_PORT,
      uiPort: e.TEMPORAL_UI_PORT,
    },
    smtp: { url: e.SMTP_URL, poolSize: e.SMTP_POOL_SIZE, ratePerSecond: e.SMTP_RATE_PER_SECOND, from: e.MAIL_FROM },
    signingSecret: e.SIGNING_SECRET,
    previousSigningSecrets: e.SIGNING_SECRETS_PREVIOUS,
    mail: { physicalAddress: e.MAIL_PHYSICAL_ADDRESS, unsubscribeMailto: e.MAIL_UNSUBSCRIBE_MAILTO, topics: e.MAIL_TOPICS },
    deliverability: {
      relay: e.MAIL_RELAY,
      softBounceLimit: e.BOUNCE_SOFT_LIMIT,
      softBounceWindowMs: e.BOUNCE_SOFT_WINDOW_DAYS * 86_400_000,
      reportMaxBytes: e.INBOUND_REPORT_MAX_BYTES,
      sesTopicArns: e.SES_SNS_TOPIC_ARNS,
      mailgunSigningKey: e.MAILGUN_WEBHOOK_SIGNING_KEY,
      sendgridPublicKey: e.SENDGRID_WEBHOOK_PUBLIC_KEY,
      postmark: e.POSTMARK_WEBHOOK_USER && e.POSTMARK_WEBHOOK_PASSWORD ? { user: e.POSTMARK_WEBHOOK_USER, password: e.POSTMARK_WEBHOOK_PASSWORD } : undefined,
      bounceSmtp: e.BOUNCE_SMTP_PORT !== undefined ? { host: e.BOUNCE_SMTP_HOST ?? e.HOST, port: e.BOUNCE_SMTP_PORT } : undefined,
      verpDomain: e.BOUNCE_VERP_DOMAIN,
    },
    dkim,
    sms:
      e.SMS_PROVIDER === 'twilio'
        ? {
            provider: 'twilio',
            baseUrl: e.TWILIO_BASE_URL,
            accountSid: e.TWILIO_ACCOUNT_SID!,
            authToken: e.TWILIO_AUTH_TOKEN!,
            from: e.SMS_FROM!,
            statusCallbackUrl: `${(e.PUBLIC_BASE_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, '')}${TWILIO_STATUS_PATH}`,
            helpText: e.SMS_HELP_TEXT,
          }
        : e.SMS_PROVIDER === 'aliyun'
          ? {
              provider: 'aliyun',
              endpoint: e.ALIYUN_SMS_ENDPOINT,
              accessKeyId: e.ALIYUN_ACCESS_KEY_ID!,
              accessKeySecret: e.ALIYUN_ACCESS_KEY_SECRET!,
              signName: e.ALIYUN_SMS_SIGN_NAME!,
              templates: e.ALIYUN_SMS_TEMPLATES,
              callbackToken: e.ALIYUN_SMS_CALLBACK_TOKEN,
            }
          : { provider: 'outbox' },
    webhookSecrets: e.WEBHOOK_SECRETS,
    chatWebhooks: e.CHAT_WEBHOOKS,
    crmWebhook: {
      url: e.CRM_WEBHOOK_URL,
      secrets: e.CRM_WEBHOOK_SECRETS.length > 0 ? e.CRM_WEBHOOK_SECRETS : e.WEBHOOK_SECRETS,
      maxAttempts: e.CRM_WEBHOOK_MAX_ATTEMPTS,
    },
    trustProxy: e.TRUST_PROXY,
    analytics: { currency: e.ANALYTICS_CURRENCY, rates: e.ANALYTICS_FX_RATES },
    consoleSessionMs: e.CONSOLE_SESSION_MINUTES * 60_000,
    addressLimits: {
      unauthenticatedPerMinute: e.RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE,
      publicPerMinute: e.RATE_LIMIT_PUBLIC_PER_MINUTE,
      maxAddresses: e.RATE_LIMIT_MAX_ADDRESSES,
    },
    keyRateLimit: { perSecond: e.RATE_LIMIT_PER_KEY_PER_SECOND, burst: e.RATE_LIMIT_PER_KEY_BURST },
    outboundAllow: e.OUTBOUND_ALLOW,
    logLevel: e.LOG_LEVEL,
    workerMaxCachedWorkflows: e.WORKER_MAX_CACHED_WORKFLOWS,
    workerMaxConcurrentActivities: e.WORKER_MAX_CONCURRENT_ACTIVITIES,
    workerMaxConcurrentWorkflowTasks: e.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    workerMetricsAddress: e.WORKER_METRICS_ADDRESS,
  };
}

/**
 * The DKIM keys, read (from the environment or their files) and each proven able to sign: a key that cannot would
 * otherwise surface as every message failing, or going out unsigned, long after start-up.
 */
function dkimKeys(e: z.infer<typeof EnvSchema>): DkimOptions[] {
  const problems: string[] = [];
  const keys: DkimOptions[] = [];
  const add = (setting: string, domain: string, selector: string, inline: string | undefined, file: string | undefined) => {
    let pem: string;
    if (file !== undefined) {
      try {
        pem = readFileSync(file, 'utf8');
      } catch (err) {
        problems.push(`${setting} "${file}" cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
        return;
      }
    } else {
      // An environment variable often cannot hold line breaks (docker env files): accept them written as \n.
      pem = inline!.includes('\n') ? inline! : inline!.replace(/\\n/g, '\n');
    }
    const problem = dkimKeyProblem(pem);
    if (problem) return void problems.push(`${setting} ${problem}.`);
    if (keys.some((k) => k.domainName === domain)) return void problems.push(`${setting} is a second DKIM key for ${domain}: give each From domain one key.`);
    keys.push({ domainName: domain, keySelector: selector, privateKey: pem });
  };
  if (e.DKIM_DOMAIN && e.DKIM_SELECTOR) {
    const setting = e.DKIM_PRIVATE_KEY_FILE !== undefined ? 'DKIM_PRIVATE_KEY_FILE' : 'DKIM_PRIVATE_KEY';
    add(setting, e.DKIM_DOMAIN.toLowerCase(), e.DKIM_SELECTOR, e.DKIM_PRIVATE_KEY, e.DKIM_PRIVATE_KEY_FILE);
  }
  e.DKIM_KEYS.forEach((k, i) => {
    const setting = `DKIM_KEYS entry ${i + 1} (${k.domain}) ${k.privateKeyFile !== undefined ? 'privateKeyFile' : 'privateKey'}`;
    add(setting, k.domain, k.selector, k.privateKey, k.privateKeyFile);
  });
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  return keys;
}
