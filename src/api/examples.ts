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
const launch = { launchId, journeyId: 'welcome', version: 3, status: 'running', scanned: 500, total: 12000, enrolled: 480, skipped: 20, skipReasons: { no_consent: 20 }, ratePerSecond: 100, createdBy: 'api:marketing', createdAt: at, updatedAt: later, completedAt: null, error: null };
const imp = { importId, status: 'running', dryRun: false, fileName: 'contacts.csv', bytes: 1048576, sha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', totalRows: 10000, rowsDone: 2000, created: 1500, updated: 420, merged: 60, rejected: 20, rowsPerSecond: 950.5, etaSeconds: 9, rejectsUrl: `/v1/imports/${importId}/rejects`, launchId: null, createdBy: 'api:crm-sync', createdAt: at, updatedAt: later, completedAt: null, error: null };
const bulk = { bulkId: 'c4d5e6f7-a8b9-4c0d-9e1f-2a3b4c5d6e7f', action: 'cancel', dryRun: false, status: 'running', total: 40, scanned: 100, matched: 40, succeeded: 12, skipped: 0, failed: 0, errors: [], notes: [], pages: 1 };
const key = { id: 'f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b', name: 'crm-sync', role: 'integration', prefix: 'itk_3f9a', createdAt: at, lastUsedAt: null, revokedAt: null, dev: false };
const session = { keyId: key.id, name: 'marketing', role: 'marketer', via: 'session', expiresAt: '2026-12-07T17:30:00.000Z', csrfToken: 'b6f1c2d3e4a5' };
const health = { status: 'ok', checks: { database: { ok: true }, temporal: { ok: true } } };

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
  'post /u/{token}': { params: { token } },
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
  'get /metrics': { response: { status: 200, body: '# HELP itinera_events_ingested_total Events accepted\n# TYPE itinera_events_ingested_total counter\nitinera_events_ingested_total 1042\n' } },
};
