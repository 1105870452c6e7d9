/**
 * One example per operation of the route table, shown in /openapi.json (and so in /docs and the generated client's
 * types). Kept apart from the route files so an example can be reviewed as the CRM reads it; tests/api/openapi-examples
 * fails on an operation without one and checks every request-side example against the route's own zod schemas.
 */

/** Request-side examples are parsed by the route's schemas in a test; `response` is shown for its `status`. */
export type OperationExample = {
  params?: Record<string, string>;
  query?: Record<string, string>;
  request?: unknown;
  response?: { status: number; body: unknown };
};

const at = '2026-12-07T09:30:00.000Z';
const later = '2026-12-07T09:30:02.000Z';
const contactId = '0b9f4a52-6d0e-4c1e-9a55-2f1d3c7e8a10';
const workflowId = `journey:welcome:${contactId}`;
const token = 'v1.eyJjIjoiMGI5ZjRhNTIiLCJtIjoibXNnLTEifQ.q7nD3xY0';
const handoffId = '7c1e2d34-0a5b-4f6e-8d9c-1b2a3c4d5e6f';
const importId = 'e3a1c5b7-2d4f-4a6b-8c9d-0e1f2a3b4c5d';
const launchId = 'b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e';

const contact = {
  id: contactId,
  externalId: 'crm-42',
  email: 'li.na@example.cn',
  phone: '+8613800138000',
  firstName: 'Na',
  lastName: 'Li',
  company: 'Example 科技',
  region: '北京',
  industry: 'software',
  jobTitle: 'CTO',
  timezone: 'Asia/Shanghai',
  locale: 'zh-CN',
  lifecycleStage: 'lead',
  ownerId: null,
  score: 35,
  tags: ['webinar-2026'],
  attributes: { plan: 'trial' },
  consent: { email: 'opted_in' },
  createdAt: at,
  updatedAt: later,
};

const run = { workflowId, runId: '4f2c8e1a-9b3d-4c5e-8f7a-6b5c4d3e2f1a', journeyId: 'welcome', version: 3, contactId, entryKey: '', currentStep: 'wait-2d', status: 'running', startedAt: at, updatedAt: later, endedAt: null };
const handoff = {
  id: handoffId,
  idempotencyKey: `${workflowId}:assign:1`,
  contactId,
  journeyId: 'mql-to-sales',
  workflowId,
  team: 'east',
  repId: 'li.na',
  status: 'pending',
  reason: null,
  taskTitle: 'Call Na about mql-to-sales',
  dueAt: '2026-12-09T09:30:00.000Z',
  escalatedAt: null,
  createdAt: at,
  updatedAt: at,
  crm: { status: 'delivered', attempts: 1, error: null, deliveredAt: later },
  feedback: null,
};
const journey = { id: 'welcome', name: 'Welcome series', status: 'active', createdAt: at, updatedAt: later, latestVersion: { version: 3, contentHash: 'sha256:9f86d081884c7d65', publishedAt: later, publishedBy: 'api:marketing' }, draft: { source: null, publishedAs: 3 }, versions: [{ version: 3, contentHash: 'sha256:9f86d081884c7d65', publishedAt: later, publishedBy: 'api:marketing' }] };
const journeyYaml = 'id: welcome\nname: Welcome series\ntriggers:\n  - type: event\n    event: signup\nstart: hello\nsteps:\n  hello:\n    type: send_email\n    template: welcome\n    next: done\n  done:\n    type: exit\n';
const status = (s: string, previous: string) => ({ journeyId: 'welcome', status: s, previous, changed: true });
const launch = { launchId, journeyId: 'welcome', version: 3, status: 'running', scanned: 500, total: 12000, enrolled: 480, skipped: 20, skipReasons: { 'opted out of email': 20 }, ratePerSecond: 100, createdBy: 'api:marketing', createdAt: at, updatedAt: later, completedAt: null, error: null };
const imp = { importId, status: 'running', dryRun: false, format: 'csv', encoding: 'utf-8', fileName: 'contacts.csv', bytes: 1048576, sha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', totalRows: 10000, rowsDone: 2000, created: 1500, updated: 420, merged: 60, rejected: 20, rowsPerSecond: 950.5, etaSeconds: 9, rejectsUrl: `/v1/imports/${importId}/rejects`, launchId: null, createdBy: 'api:crm-sync', createdAt: at, updatedAt: later, completedAt: null, error: null };
const bulk = { bulkId: 'c4d5e6f7-a8b9-4c0d-9e1f-2a3b4c5d6e7f', action: 'cancel', dryRun: false, status: 'running', total: 40, scanned: 100, matched: 40, succeeded: 12, skipped: 0, failed: 0, errors: [], notes: [], pages: 1 };
const key = { id: 'f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b', name: 'crm-sync', role: 'integration', prefix: 'itk_3f9a', createdAt: at, lastUsedAt: null, revokedAt: null, dev: false };
const session = { keyId: key.id, name: 'marketing', role: 'marketer', via: 'session', expiresAt: '2026-12-07T17:30:00.000Z', csrfToken: 'b6f1c2d3e4a5' };
const health = { status: 'ok', checks: { database: { ok: true }, temporal: { ok: true } } };

// Analytics: money per currency, converted with ANALYTICS_RATES into the reporting currency (here USD).
const usd = (total: number, byCurrency: Record<string, number>) => ({ byCurrency, currency: 'USD', total, missingRates: [] });
const stage = (name: string, reached: number, conversionToNext: number | null, medianSecondsInStage: number | null, p90SecondsInStage: number | null, stuck: number) => ({ stage: name, reached, conversionToNext, medianSecondsInStage, p90SecondsInStage, stuck });
const range = { from: '2026-09-01T00:00:00.000Z', to: '2026-12-01T00:00:00.000Z' };
const credited = { leads: 412.5, mqls: 96.25, sqls: 31.5, deals: 6.5, revenue: usd(48750, { CNY: 210000, USD: 19350 }) };
const campaign = { id: 'q4-webinar', name: 'Q4 launch webinar', channel: 'event', budget: 20000, currency: 'CNY', startsOn: '2026-10-01', endsOn: '2026-12-31', utmCampaign: 'q4-launch', journeyIds: ['welcome'], createdAt: at, updatedAt: later };
const cost = { id: 17, campaignId: campaign.id, amount: 18000, currency: 'CNY', incurredOn: '2026-11-15', note: '会场与直播平台费用', createdAt: at };
const deal = {
  id: 'D-2026-0042', contactId, company: 'Example 科技', amount: 125000, currency: 'CNY', stage: 'negotiation', status: 'won', ownerId: 'rep.wang',
  expectedCloseAt: '2026-12-31T00:00:00.000Z', openedAt: '2026-10-12T02:00:00.000Z', closedAt: '2026-12-03T08:15:00.000Z', regressions: 1, paid: { CNY: 62500 }, lastEventAt: '2026-12-05T03:00:00.000Z',
  history: [
    { stage: 'discovery', at: '2026-10-12T02:00:00.000Z', eventId: 'crm-deal-42-1', regression: false, afterClose: false },
    { stage: 'proposal', at: '2026-11-02T06:30:00.000Z', eventId: 'crm-deal-42-2', regression: false, afterClose: false },
    { stage: 'discovery', at: '2026-11-09T01:00:00.000Z', eventId: 'crm-deal-42-3', regression: true, afterClose: false },
    { stage: 'negotiation', at: '2026-11-20T07:45:00.000Z', eventId: 'crm-deal-42-4', regression: false, afterClose: false },
  ],
};

// Email feedback: our message to li.na@example.cn, its idempotency key (`<workflowId>:<stepId>:<seq>`) and the
// Message-ID the mailer derives from it (sha256 of the key, 40 hex digits, @ the sending domain).
const messageKey = `${workflowId}:hello:1`;
const messageId = '<4f615475bb410167350dccc8e1a6d235815be3d0@mail.example.com>';
const feedbackAnswer = (outcome: string) => ({ status: 200, body: { results: [{ matched: true, duplicate: false, outcome, messageId }] } });
const sesNotification = {
  notificationType: 'Bounce',
  bounce: {
    feedbackId: '0100019a1b2c3d4e-5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c-000000',
    bounceType: 'Permanent',
    bounceSubType: 'General',
    bouncedRecipients: [{ emailAddress: 'li.na@example.cn', action: 'failed', status: '5.1.1', diagnosticCode: 'smtp; 550 5.1.1 <li.na@example.cn>: Recipient address rejected: User unknown' }],
    timestamp: '2026-12-07T09:30:02.000Z',
    reportingMTA: 'dsn; a8-70.smtp-out.amazonses.com',
  },
  mail: {
    timestamp: at,
    source: 'journeys@mail.example.com',
    messageId: '0100019a1b2c3d4e-aa11bb22-cc33-4d44-8e55-ff6677889900-000000',
    destination: ['li.na@example.cn'],
    headersTruncated: false,
    headers: [{ name: 'Message-ID', value: messageId }, { name: 'X-Itinera-Idempotency-Key', value: messageKey }],
    commonHeaders: { from: ['journeys@mail.example.com'], to: ['li.na@example.cn'], messageId, subject: '欢迎加入 Example' },
  },
};
const dsnReport = [
  'Return-Path: <>',
  'Message-ID: <20261207093002.4QbX1k0Z3Hz9@mx.example.cn>',
  'Date: Mon,  7 Dec 2026 17:30:02 +0800 (CST)',
  'From: MAILER-DAEMON@mx.example.cn (Mail Delivery System)',
  'Subject: Undelivered Mail Returned to Sender',
  'To: bounces@mail.example.com',
  'MIME-Version: 1.0',
  'Content-Type: multipart/report; report-type=delivery-status; boundary="4QbX1k0Z3Hz9/mx.example.cn"',
  '',
  '--4QbX1k0Z3Hz9/mx.example.cn',
  'Content-Type: text/plain; charset=us-ascii',
  '',
  'Your message could not be delivered to one or more recipients.',
  '',
  '--4QbX1k0Z3Hz9/mx.example.cn',
  'Content-Type: message/delivery-status',
  '',
  'Reporting-MTA: dns; mx.example.cn',
  'Arrival-Date: Mon,  7 Dec 2026 17:30:00 +0800 (CST)',
  '',
  'Final-Recipient: rfc822; li.na@example.cn',
  'Action: failed',
  'Status: 5.1.1',
  'Diagnostic-Code: smtp; 550 5.1.1 <li.na@example.cn>: Recipient address rejected: User unknown',
  '',
  '--4QbX1k0Z3Hz9/mx.example.cn',
  'Content-Type: text/rfc822-headers',
  '',
  'From: Example <journeys@mail.example.com>',
  'To: li.na@example.cn',
  'Subject: =?UTF-8?B?5qyi6L+O5Yqg5YWlIEV4YW1wbGU=?=',
  `Message-ID: ${messageId}`,
  `X-Itinera-Idempotency-Key: ${messageKey}`,
  '',
  '--4QbX1k0Z3Hz9/mx.example.cn--',
  '',
].join('\r\n');
const aliyunOk = { status: 200, body: { code: 0, msg: '接收成功' } };
const aliyunToken = 'cb-7f3e9a1c5d2b8e4f6a0c';

export const OPERATION_EXAMPLES: Record<string, OperationExample> = {
  'get /healthz': { response: { status: 200, body: health } },
  'get /readyz': { response: { status: 200, body: health } },
  'post /v1/events': {
    request: { id: 'evt-20261207-0001', type: 'webinar.attended', occurredAt: at, contact: { externalId: 'crm-42', email: 'Li.Na@Example.cn', firstName: 'Na' }, properties: { webinar: 'q4-launch', minutes: 42 } },
    response: { status: 202, body: { accepted: [{ id: 'evt-20261207-0001', contactId, duplicate: false, runs: [workflowId] }], rejected: [] } },
  },
  'put /v1/contacts/{externalId}': {
    params: { externalId: 'crm-42' },
    request: { email: 'Li.Na@Example.cn', phone: '138 0013 8000', country: 'CN', firstName: 'Na', lastName: 'Li', region: '北京市', lifecycleStage: 'lead', tags: ['webinar-2026'], consent: { email: 'opted_in' } },
    response: { status: 201, body: { ...contact, merged: [], changes: { email: { from: null, to: 'li.na@example.cn' } } } },
  },
  'get /v1/contacts/{id}': { params: { id: 'crm-42' }, response: { status: 200, body: { ...contact, mergedFrom: [], scoreExplanation: null, journeys: [{ workflowId, journeyId: 'welcome', version: 3, currentStep: 'wait-2d', status: 'running', startedAt: at }], messages: [], timeline: [] } } },
  'delete /v1/contacts/{id}': { params: { id: 'crm-42' }, response: { status: 200, body: { contactId, contacts: 1, runsCancelled: [workflowId], rows: { events: 12, messages: 3 }, auditId: 981 } } },
  'get /v1/contacts': { query: { tag: 'webinar-2026', updatedSince: at, limit: '50' }, response: { status: 200, body: { items: [contact], nextCursor: null } } },
  'get /v1/contacts/{id}/export': { params: { id: 'crm-42' } },
  'get /t/c/{token}': { params: { token } },
  'get /t/o/{token}': { params: { token } },
  'get /u/{token}': { params: { token } },
  'post /u/{token}': { params: { token }, request: { 'List-Unsubscribe': 'One-Click' } },
  'post /v1/sms/twilio/status': { request: { MessageSid: 'SM0123456789abcdef0123456789abcdef', MessageStatus: 'delivered', To: '+8613800138000' } },
  'post /v1/sms/twilio/inbound': { request: { MessageSid: 'SM0123456789abcdef0123456789abcdee', From: '+8613800138000', Body: 'TD' } },
  'get /v1/contacts/{id}/preferences': { params: { id: contactId } },
  'put /v1/contacts/{id}/preferences': { params: { id: contactId }, request: { email: { topics: { newsletter: true, product_updates: false } } } },
  'get /v/{token}': { params: { token } },
  'get /p/{token}': { params: { token } },
  'post /p/{token}': { params: { token }, request: { form: 'v1.f6c2a1d4e5b7', action: 'save', topic: ['newsletter'] } },
  'get /v1/runs': { query: { journeyId: 'welcome', status: 'running', limit: '50' }, response: { status: 200, body: { items: [run], nextCursor: null } } },
  'get /v1/runs/{workflowId}': { params: { workflowId } },
  'post /v1/runs/{workflowId}/cancel': { params: { workflowId }, response: { status: 202, body: { workflowId, status: 'cancelling' } } },
  'post /v1/runs/{workflowId}/terminate': { params: { workflowId }, request: { reason: 'contact asked to stop all contact' }, response: { status: 200, body: { ...run, status: 'terminated', endedAt: later } } },
  'post /v1/runs/bulk': { request: { action: 'cancel', filter: { journeyId: 'welcome', step: 'wait-2d' }, reason: 'wrong audience', dryRun: true }, response: { status: 202, body: { ...bulk, dryRun: true } } },
  'get /v1/runs/bulk/{bulkId}': { params: { bulkId: bulk.bulkId }, response: { status: 200, body: bulk } },
  'post /v1/journeys/{journeyId}/replay': { params: { journeyId: 'welcome' }, request: { limit: 20 }, response: { status: 200, body: { journeyId: 'welcome', results: [{ workflowId, runId: run.runId, version: 3, status: 'ok' }], totals: { ok: 1, nondeterministic: 0, failed: 0, unavailable: 0, notReplayed: 0 }, timedOut: false } } },
  'get /v1/handoffs': { query: { status: 'pending', team: 'east' }, response: { status: 200, body: { items: [handoff], nextCursor: null } } },
  'get /v1/handoffs/{id}': { params: { id: handoffId }, response: { status: 200, body: handoff } },
  'post /v1/handoffs/{id}/feedback': { params: { id: handoffId }, request: { outcome: 'accepted', opportunityId: 'opp-7731', by: 'li.na' } },
  'post /v1/journeys': { request: { source: journeyYaml } },
  'get /v1/journeys': { query: { status: 'active' }, response: { status: 200, body: { items: [{ id: 'welcome', name: 'Welcome series', status: 'active', latestVersion: 3, createdAt: at, updatedAt: later }], nextCursor: null } } },
  'put /v1/journeys/{id}/draft': { params: { id: 'welcome' }, request: { source: journeyYaml } },
  'get /v1/journeys/{id}': { params: { id: 'welcome' }, response: { status: 200, body: journey } },
  'get /v1/journey-schema': {
    response: {
      status: 200,
      body: {
        schema: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { id: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]*$' } }, required: ['id', 'name', 'triggers', 'start', 'steps'] },
        templates: { email: ['welcome', 'webinar-replay'], sms: ['reminder'], chat: ['mql-alert'] },
        eventTypes: ['demo.booked', 'lead.created', 'webinar.attended'],
        topics: ['newsletter', 'product_updates', 'events'],
      },
    },
  },
  'get /v1/journeys/{id}/versions/{version}': {
    params: { id: 'welcome', version: '3' },
    response: { status: 200, body: { journeyId: 'welcome', version: 3, contentHash: 'sha256:9f86d081884c7d65', publishedAt: at, publishedBy: 'marketing-team', source: journeyYaml } },
  },
  'post /v1/journeys/{id}/validate': { params: { id: 'welcome' }, response: { status: 200, body: { valid: true, contentHash: 'sha256:9f86d081884c7d65', changed: false, latestVersion: 3, warnings: [] } } },
  'post /v1/journeys/{id}/publish': { params: { id: 'welcome' }, response: { status: 201, body: { journeyId: 'welcome', version: 4, contentHash: 'sha256:2c26b46b68ffc68f', created: true, status: 'active', warnings: [] } } },
  'get /v1/journeys/{id}/diff': { params: { id: 'welcome' }, query: { from: '3', to: 'draft' } },
  'post /v1/journeys/{id}/pause': { params: { id: 'welcome' }, response: { status: 200, body: status('paused', 'active') } },
  'post /v1/journeys/{id}/resume': { params: { id: 'welcome' }, response: { status: 200, body: status('active', 'paused') } },
  'post /v1/journeys/{id}/archive': { params: { id: 'welcome' }, response: { status: 200, body: status('archived', 'active') } },
  'post /v1/journeys/{id}/simulate': { params: { id: 'welcome' }, request: { contact: { id: 'sim-1', email: 'li.na@example.cn' }, timeline: [{ at: 0, type: 'signup' }] } },
  'get /v1/journeys/{id}/stats': { params: { id: 'welcome' }, query: { version: '3' } },
  'get /v1/journeys/{id}/plan': { params: { id: 'welcome' }, query: { version: '3' } },
  'get /v1/journeys/{id}/live': { params: { id: 'welcome' }, response: { status: 200, body: { journeyId: 'welcome', version: 3, runs: { running: 120, waiting: 95 }, entries7d: 340, contacts: { entered: 340, converted: 51 }, conversionRate: 0.15, steps: [{ stepId: 'hello', type: 'send_email', entered: 340, waiting: 0, exitedHere: 0, failed: 1 }] } } },
  'post /v1/journeys/{journeyId}/launches': { params: { journeyId: 'welcome' }, request: { filter: { tag: 'webinar-2026' }, consent: 'email', ratePerSecond: 100 }, response: { status: 202, body: launch } },
  'get /v1/journeys/{journeyId}/launches': { params: { journeyId: 'welcome' }, response: { status: 200, body: { items: [launch], nextCursor: null } } },
  'get /v1/launches/{launchId}': { params: { launchId }, response: { status: 200, body: launch } },
  'post /v1/launches/{launchId}/cancel': { params: { launchId }, response: { status: 202, body: { ...launch, status: 'cancelled', completedAt: later } } },
  'post /v1/imports': {
    query: { format: 'csv', dryRun: 'true', encoding: 'utf-8', country: 'CN', fileName: 'contacts.csv' },
    request: 'crm_id,email,mobile,city,tags\ncrm-42,Li.Na@Example.cn,138 0013 8000,北京市,webinar;vip\n', response: { status: 202, body: { ...imp, dryRun: true } } },
  'get /v1/imports/{importId}': { params: { importId }, response: { status: 200, body: imp } },
  'get /v1/imports/{importId}/rejects': { params: { importId } },
  'post /v1/imports/{importId}/cancel': { params: { importId }, response: { status: 202, body: { ...imp, status: 'cancelled', completedAt: later } } },
  'get /v1/messages': { query: { channel: 'email', status: 'bounced', limit: '50' } },
  'post /v1/runs/{workflowId}/skip-wait': { params: { workflowId }, response: { status: 200, body: { workflowId, skippedStep: 'wait-2d' } } },
  'post /v1/runs/{workflowId}/retry-now': { params: { workflowId }, response: { status: 200, body: { workflowId, activities: [{ activityId: '7', type: 'sendEmail', attempt: 4 }] } } },
  'post /v1/runs/{workflowId}/move': { params: { workflowId }, request: { stepId: 'follow-up' }, response: { status: 200, body: { workflowId, from: 'wait-2d', to: 'follow-up' } } },
  'post /v1/runs/{workflowId}/migrate': { params: { workflowId }, request: { version: 4 }, response: { status: 200, body: { workflowId, from: 3, to: 4 } } },
  'post /v1/keys': { request: { name: 'crm-sync', role: 'integration' }, response: { status: 201, body: { ...key, key: 'itk_3f9a_8c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f' } } },
  'get /v1/keys': { response: { status: 200, body: { items: [key] } } },
  'post /v1/keys/{id}/revoke': { params: { id: key.id }, response: { status: 200, body: { ...key, revokedAt: later } } },
  'post /v1/session': { request: { apiKey: 'itk_3f9a_8c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f' }, response: { status: 201, body: session } },
  'get /v1/session': { response: { status: 200, body: session } },
  'delete /v1/session': {},
  'get /v1/analytics/funnel': {
    query: { ...range, groupBy: 'source', stuckDays: '30' },
    response: {
      status: 200,
      body: {
        ...range, groupBy: 'source', stuckDays: 30, asOf: at,
        groups: [{ group: 'baidu', contacts: 1200, stages: [stage('lead', 1200, 0.25, 604800, 2592000, 140), stage('mql', 300, 0.4, 259200, 1209600, 22), stage('sql', 120, 0.5, 864000, 3456000, 9), stage('opportunity', 60, 0.3, 1728000, 4320000, 5), stage('customer', 18, null, null, null, 0)] }],
      },
    },
  },
  'get /v1/analytics/response-times': {
    query: { ...range, groupBy: 'owner', slaMinutes: '60' },
    response: {
      status: 200,
      body: {
        ...range, slaSeconds: 3600, asOf: at, groupBy: 'owner',
        groups: [{ group: 'rep.wang', mqls: 85, handedOff: 83, touched: 78, touchedBeforeMql: 2, mqlToHandoffSeconds: { median: 42, p90: 180, count: 83 }, handoffToTouchSeconds: { median: 1860, p90: 7200, count: 76 }, mqlToTouchSeconds: { median: 1920, p90: 7380, count: 78 }, withinSla: 61, pending: 3, slaShare: 0.7439 }],
      },
    },
  },
  'get /v1/analytics/messages': {
    query: { from: '2026-12-05T16:00:00.000Z', to: '2026-12-07T16:00:00.000Z', bucket: 'day', timeZone: 'Asia/Shanghai' },
    response: {
      status: 200,
      body: {
        from: '2026-12-05T16:00:00.000Z', to: '2026-12-07T16:00:00.000Z', bucket: 'day', timeZone: 'Asia/Shanghai',
        channels: { email: { total: 1840, byStatus: { delivered: 1790, bounced: 38, suppressed: 12 } }, sms: { total: 310, byStatus: { delivered: 302, failed: 8 } } },
        buckets: [
          { start: '2026-12-05T16:00:00.000Z', channels: { email: { total: 920, byStatus: { delivered: 896, bounced: 18, suppressed: 6 } }, sms: { total: 160, byStatus: { delivered: 156, failed: 4 } } } },
          { start: '2026-12-06T16:00:00.000Z', channels: { email: { total: 920, byStatus: { delivered: 894, bounced: 20, suppressed: 6 } }, sms: { total: 150, byStatus: { delivered: 146, failed: 4 } } } },
        ],
      },
    },
  },
  'get /v1/analytics/deals': {
    query: { ...range, groupBy: 'owner' },
    response: {
      status: 200,
      body: {
        ...range, groupBy: 'owner',
        groups: [{ group: 'rep.wang', opened: 14, won: 5, lost: 3, winRate: 0.625, wonRevenue: usd(38350, { CNY: 210000, USD: 8950 }), openPipeline: usd(91000, { CNY: 650000 }), paid: usd(17500, { CNY: 125000 }), medianDaysToWin: 38.5, regressions: 2, unpriced: 1 }],
      },
    },
  },
  'get /v1/analytics/campaigns': {
    query: { ...range, model: 'time_decay', halfLifeDays: '7', lookbackDays: '90' },
    response: {
      status: 200,
      body: {
        ...range, model: 'time_decay', halfLifeDays: 7, lookbackDays: 90,
        campaigns: [{ campaignId: campaign.id, name: campaign.name, channel: campaign.channel, utmCampaign: campaign.utmCampaign, journeyIds: campaign.journeyIds, spend: usd(2968.42, { CNY: 21203 }), spendSource: 'costs', messageCost: usd(448.42, { CNY: 3203 }), ...credited, roi: 15.42, costPerLead: 7.2, costPerMql: 30.84, costPerSql: 94.23 }],
        otherTouches: { leads: 80.5, mqls: 12.75, sqls: 4, deals: 1, revenue: usd(3500, { USD: 3500 }) },
        unattributed: { leads: 40, mqls: 6, sqls: 1.5, deals: 0.5, revenue: usd(1250, { USD: 1250 }) },
        totals: { leads: 533, mqls: 115, sqls: 37, deals: 8, revenue: usd(53500, { CNY: 210000, USD: 24100 }), unpricedDeals: 1 },
      },
    },
  },
  'get /v1/deals/{id}': { params: { id: deal.id }, response: { status: 200, body: deal } },
  'put /v1/campaigns/{id}': {
    params: { id: campaign.id },
    request: { name: campaign.name, channel: 'event', budget: '20000.00', currency: 'CNY', startsOn: '2026-10-01', endsOn: '2026-12-31', utmCampaign: 'q4-launch', journeyIds: ['welcome'] },
    response: { status: 200, body: campaign },
  },
  'get /v1/campaigns': { response: { status: 200, body: { campaigns: [campaign] } } },
  'get /v1/campaigns/{id}': { params: { id: campaign.id }, response: { status: 200, body: { ...campaign, costs: [cost] } } },
  'post /v1/campaigns/{id}/costs': {
    params: { id: campaign.id },
    request: { amount: '18000.00', currency: 'CNY', incurredOn: '2026-11-15', note: '会场与直播平台费用' },
    response: { status: 201, body: cost },
  },
  'get /v1/journeys/{id}/steps/{stepId}': {
    params: { id: 'welcome', stepId: 'hello' },
    query: { version: '3' },
    response: {
      status: 200,
      body: {
        journeyId: 'welcome', version: 3, stepId: 'hello', type: 'send_email', entered: 342, contacts: 340,
        messages: { total: 340, byChannel: { email: { delivered: 331, bounced: 4, suppressed: 5 } }, opened: 198, clicked: 57 },
        conversions: [{ goal: 'booked-demo', conversions: 23, contacts: 23 }],
      },
    },
  },
  'post /v1/journeys/validate': {
    request: { source: journeyYaml.replace('    next: done\n  done:', '    next: pause\n  pause:\n    type: wait\n    duration: 2 dayz\n    next: done\n  done:') },
    response: {
      status: 200,
      body: {
        valid: false, contentHash: null, changed: null, latestVersion: null, plan: null, warnings: [],
        errors: [{ path: 'steps.pause.duration', message: '"2 dayz" is not a duration (use 2d, 48h or P2D)', line: 14, column: 15, text: 'draft: steps.pause.duration: "2 dayz" is not a duration (use 2d, 48h or P2D)' }],
      },
    },
  },
  'post /v1/journeys/{journeyId}/launches/preview': {
    params: { journeyId: 'welcome' },
    request: { filter: { tag: 'webinar-2026' }, consent: 'email' },
    response: { status: 200, body: { version: 3, scanned: 12500, total: 12500, matched: 1830, enrol: 1742, skipped: 88, skipReasons: { 'no email address': 12, 'opted out of email': 41, 'email address suppressed': 9, 'already entered (re_entry: once)': 26 }, complete: true } },
  },
  'post /v1/email/reports': { request: dsnReport, response: feedbackAnswer('suppressed') },
  'post /v1/email/ses': {
    request: {
      Type: 'Notification',
      MessageId: '5b2f7c1e-8a3d-5e4f-9b0c-1d2e3f4a5b6c',
      TopicArn: 'arn:aws:sns:ap-northeast-1:123456789012:ses-feedback',
      Message: JSON.stringify(sesNotification),
      Timestamp: '2026-12-07T09:30:03.120Z',
      SignatureVersion: '2',
      Signature: 'cL2v0T1mZq3yXr8kW5nH7pA9sD4fG6jK1lQ0wE2rT3yU5iO7pA9sD4fG6jK8lZ0xC2vB4nM6qW8eR0tY2uI4oP6aS8dF0gH2jK4lZ6xC8vB0nM2qW4eR6tY8uI0oP2aS4dF6gH8jK0l==',
      SigningCertURL: 'https://sns.ap-northeast-1.amazonaws.com/SimpleNotificationService-6209c161c6221fdf56ec1eb5c821d112.pem',
      UnsubscribeURL: 'https://sns.ap-northeast-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:ap-northeast-1:123456789012:ses-feedback:2f8e6d4c-1a3b-4c5d-8e9f-0a1b2c3d4e5f',
    },
    response: feedbackAnswer('suppressed'),
  },
  'post /v1/email/mailgun': {
    request: {
      signature: { timestamp: '1796635800', token: '8f3b2c1d9e0a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b', signature: '5bceb62c189cd771c65fe41d06a82119d6e0f2dd0a139e1c7e39d1cf7de980ef' },
      'event-data': {
        id: 'CPgfbmQMTCKtHW6uIWtuVe', timestamp: 1796635800.512, 'log-level': 'warn', event: 'failed', severity: 'temporary', reason: 'generic',
        recipient: 'li.na@example.cn', 'recipient-domain': 'example.cn',
        'delivery-status': { code: 452, 'enhanced-code': '4.2.2', message: '4.2.2 The email account that you tried to reach is over quota.', description: '', 'attempt-no': 1 },
        message: { headers: { 'message-id': messageId.replace(/^<|>$/g, ''), to: 'li.na@example.cn', from: 'journeys@mail.example.com', subject: '欢迎加入 Example' }, size: 18234 },
        envelope: { transport: 'smtp', sender: 'journeys@mail.example.com', targets: 'li.na@example.cn' },
        flags: { 'is-authenticated': true }, tags: [], 'user-variables': { itinera_key: messageKey },
      },
    },
    response: feedbackAnswer('counted'),
  },
  'post /v1/email/sendgrid': {
    request: [
      { email: 'li.na@example.cn', timestamp: 1796635802, 'smtp-id': messageId, event: 'bounce', type: 'bounce', status: '5.1.1', reason: '550 5.1.1 <li.na@example.cn>: Recipient address rejected: User unknown', bounce_classification: 'Invalid Address', sg_event_id: 'Ym91bmNlLTAtMjE4MzQ2NTUtNDU2', sg_message_id: '14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0', itinera_key: messageKey },
    ],
    response: feedbackAnswer('suppressed'),
  },
  'post /v1/email/postmark': {
    request: {
      RecordType: 'Bounce', ID: 4323372036, Type: 'HardBounce', TypeCode: 1, Name: 'Hard bounce', Tag: 'welcome', MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
      ServerID: 23, MessageStream: 'outbound', Description: 'The server was unable to deliver your message (ex: unknown user, mailbox not found).',
      Details: 'smtp;550 5.1.1 The email account that you tried to reach does not exist.', Email: 'li.na@example.cn', From: 'journeys@mail.example.com',
      BouncedAt: later, DumpAvailable: true, Inactive: true, CanActivate: true, Subject: '欢迎加入 Example', Metadata: { itinera_key: messageKey },
    },
    response: feedbackAnswer('suppressed'),
  },
  'post /v1/sms/aliyun/report/{token}': {
    params: { token: aliyunToken },
    request: [
      { phone_number: '13800138000', send_time: '2026-12-07 17:30:00', report_time: '2026-12-07 17:30:05', success: true, err_code: 'DELIVERED', err_msg: '用户接收成功', sms_size: '1', biz_id: '800217733554400000^0', out_id: '' },
      { phone_number: '13900139000', send_time: '2026-12-07 17:30:00', report_time: '2026-12-07 17:30:06', success: false, err_code: 'MK:0001', err_msg: '空号', sms_size: '1', biz_id: '800218733554400001^0', out_id: '' },
    ],
    response: aliyunOk,
  },
  'post /v1/sms/aliyun/up/{token}': {
    params: { token: aliyunToken },
    request: [{ phone_number: '13800138000', send_time: '2026-12-07 17:42:10', content: '退订', sign_name: 'Example科技', dest_code: '1234', sequence_id: 1234567890 }],
    response: aliyunOk,
  },
  'get /metrics': { response: { status: 200, body: '# HELP itinera_events_ingested_total Events accepted\n# TYPE itinera_events_ingested_total counter\nitinera_events_ingested_total 1042\n' } },
};
