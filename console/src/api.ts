/**
 * The console is a client of the public API and nothing more: every call here is one a script can make with a key.
 * The session cookie rides along by itself (same origin); unsafe methods add the session's CSRF token.
 */
export type Role = 'marketer' | 'integration' | 'ops' | 'admin';
export type Me = { keyId: string; name: string; role: Role; via: 'session' | 'key'; expiresAt: string | null; csrfToken: string | null };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;

/** Answers to the opening page's GETs, sent before it asked (boot.ts): each taken once; dropped when the session changes. */
type EarlyAnswers = { take(path: string): Promise<Response> | undefined; drop(): void };
let early: EarlyAnswers | null = null;
export function acceptEarlyAnswers(answers: EarlyAnswers): void {
  early = answers;
}

/** One API request as JSON; a problem answer becomes an ApiError. */
export async function call<T>(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...extra };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const res = await ((method === 'GET' && Object.keys(extra).length === 0 ? early?.take(path) : undefined) ??
    fetch(path, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) }));
  if (res.status === 204) return undefined as T;
  const data = (await res.json().catch(() => ({}))) as { code?: string; detail?: string; title?: string };
  if (!res.ok) throw new ApiError(res.status, data.code ?? 'error', data.detail ?? data.title ?? `HTTP ${res.status}`);
  return data as T;
}

export async function currentSession(): Promise<Me | null> {
  try {
    const me = await call<Me>('GET', '/v1/session');
    csrfToken = me.csrfToken;
    return me;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

export async function signIn(apiKey: string): Promise<Me> {
  early?.drop();
  const me = await call<Me>('POST', '/v1/session', { apiKey });
  csrfToken = me.csrfToken;
  return me;
}

export async function signOut(): Promise<void> {
  early?.drop();
  await call<void>('DELETE', '/v1/session');
  csrfToken = null;
}

/** What each role may see here; the API enforces the same (route table `auth`). */
export const can = {
  journeys: (r: Role) => r === 'marketer' || r === 'admin',
  contacts: (r: Role) => r === 'marketer' || r === 'ops' || r === 'integration' || r === 'admin',
  runs: (r: Role) => r === 'ops' || r === 'admin',
  analytics: (r: Role) => r === 'marketer' || r === 'ops' || r === 'admin',
};

export type JourneySummary = { id: string; name: string; status: string; latestVersion: number | null };
export type VersionSummary = { version: number; publishedAt: string };
export type JourneyDetail = { id: string; name: string; status: string; latestVersion: VersionSummary | null; versions: VersionSummary[] };
export type LiveStep = { stepId: string; type: string | null; entered: number; waiting: number; exitedHere: number; failed: number };
export type Live = {
  version: number | null;
  runs: { running: number; waiting: number };
  entries7d: number;
  contacts: { entered: number; converted: number };
  conversionRate: number | null;
  steps: LiveStep[];
};
export type Run = { workflowId: string; contactId: string; currentStep: string | null; status: string; startedAt: string };

// The plan as compiled (src/journey/plan.ts); only what the graph draws.
export type PlanStep = {
  id: string;
  type: string;
  name?: string;
  next?: string;
  onFailure?: string;
  onMissing?: string;
  onEvent?: string;
  onTimeout?: string;
  event?: string;
  timeoutMs?: number;
  wait?: { mode: string; ms?: number };
  conditions?: { next: string }[];
  else?: string;
  paths?: { name: string; percent: number; holdout: boolean; next: string }[];
};
export type Plan = { id: string; name: string; start: string; steps: Record<string, PlanStep>; settings: { timezone: string } };

export type ContactSummary = {
  id: string;
  externalId: string | null;
  email: string | null;
  phone: string | null;
  firstName: string | null;
  lastName: string | null;
  company: string | null;
  lifecycleStage: string;
  score: number;
  tags: string[];
};
export type ScoreLine = { rule: string; source: string; points: number; count: number; lastAt: string | null };
export type ScoreExplanation = {
  score: number;
  breakdown: ScoreLine[];
  fit: number;
  behaviour: number;
  decay: number;
  other: number;
  thresholds: { next: { id: string; at: number; lifecycleStage?: string; pointsToGo: number } | null; reached: { id: string; at: number; lifecycleStage?: string }[] };
};
export type ContactView = ContactSummary & {
  region: string | null;
  industry: string | null;
  jobTitle: string | null;
  timezone: string | null;
  locale: string | null;
  ownerId: string | null;
  attributes: Record<string, unknown>;
  consent: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  mergedFrom: string[];
  scoreExplanation: ScoreExplanation | null;
  lifecycleHistory: { at: string; from: string | null; to: string; source: string | null }[];
  journeys: { workflowId: string; journeyId: string; journeyName: string | null; version: number; currentStep: string | null; status: string; startedAt: string; endedAt: string | null }[];
  messages: {
    id: string;
    channel: string;
    status: string;
    template: string | null;
    subject: string | null;
    journeyId: string | null;
    stepId: string | null;
    sentAt: string | null;
    createdAt: string;
    opens: number;
    clicks: number;
    firstOpenedAt: string | null;
    firstClickedAt: string | null;
  }[];
  handoffs: { id: string; status: string; journeyId: string | null; team: string | null; repId: string | null; reason: string | null; taskTitle: string | null; dueAt: string | null; createdAt: string }[];
  timeline: { id: string; type: string; occurredAt: string; source: string; properties: Record<string, unknown> }[];
};
export type ChannelPreferences = { marketing: string; suppressed: string | null; topics: Record<string, boolean> };
export type Preferences = { email: ChannelPreferences; sms: ChannelPreferences; topics: { id: string; label: Record<string, string> }[] };
export type PendingActivity = { activityId: string; activityType: string; attempt: number; maximumAttempts: number; state: string; lastFailure: string | null; nextAttemptAt: string | null };
export type RunRow = Run & { journeyId: string; version: number; stuck?: { reasons: ('activity_retrying' | 'overdue')[]; pendingActivity: PendingActivity | null } };
export type RunList = { items: RunRow[]; nextCursor: string | null; inspection?: { inspected: number; capped: boolean; limit: number; minAttempts: number; graceSeconds: number } };
export type TimelineEntry = {
  at: string;
  kind: string;
  step?: string;
  activityType?: string;
  attempt?: number;
  error?: string;
  fireAt?: string;
  signal?: string;
  eventType?: string;
  reason?: string;
  update?: string;
  by?: string;
};
export type RunDetail = RunRow & {
  /** The journey version's settings.timezone. */
  timeZone: string | null;
  endedAt: string | null;
  temporal: { runId: string; status: string; historyLength: number };
  pendingActivities: PendingActivity[];
  timeline: TimelineEntry[];
  timelineTruncated: boolean;
};
export type RunFilter = { journeyId?: string; stuck?: boolean; minAttempts?: number };
export type BulkAction = 'skip-wait' | 'retry-now' | 'cancel' | 'terminate' | 'migrate';
export type Bulk = {
  bulkId: string;
  action: BulkAction;
  dryRun: boolean;
  status: 'running' | 'completed' | 'cancelled' | 'failed';
  total: number;
  scanned: number;
  matched: number;
  succeeded: number;
  skipped: number;
  failed: number;
  errors: { workflowId: string; message: string }[];
  notes?: { workflowId: string; message: string }[];
  error?: string;
};
export type RunAction = { kind: 'skip-wait' | 'retry-now' | 'cancel' } | { kind: 'terminate'; reason: string } | { kind: 'move'; stepId: string } | { kind: 'migrate'; version?: number };

export type ArmGoal = {
  goal: string;
  conversions: number;
  rate: number | null;
  interval: { low: number; high: number } | null;
  vsControl: { difference: number; lift: number | null; pValue: number | null; tooSmall: boolean; reason: string | null } | null;
};
export type SplitStats = { splitId: string; control: string | null; arms: { arm: string; holdout: boolean; control: boolean; percent: number | null; entered: number; messagesHeldOut: number; goals: ArmGoal[] }[] };
export type JourneyStats = {
  steps: { stepId: string; type: string | null; entered: number; passed: number; waiting: number; exitedHere: number }[];
  goals: { goal: string; name: string; conversions: number; contacts: number; value: number }[];
  splits: SplitStats[];
  entered: { runs: number; contacts: number };
  roi: { currency: string; cost: number; revenue: number; roi: number | null };
};
export type StepDetail = {
  stepId: string;
  type: string;
  entered: number;
  contacts: number;
  messages: { total: number; byChannel: Record<string, Record<string, number>>; opened: number; clicked: number };
  conversions: { goal: string; conversions: number; contacts: number }[];
};

export type LaunchBody = { filter?: unknown; consent: 'email' | 'sms' | 'none' };
export type LaunchPreview = { version: number; scanned: number; total: number; matched: number; enrol: number; skipped: number; skipReasons: Record<string, number>; complete: boolean };
export type Launch = {
  launchId: string;
  version: number;
  status: 'running' | 'completed' | 'cancelled' | 'failed';
  scanned: number;
  total: number;
  enrolled: number;
  skipped: number;
  skipReasons: Record<string, number>;
  ratePerSecond: number;
  createdBy: string | null;
  createdAt: string;
  completedAt: string | null;
  error: string | null;
};

export type LifecycleStage = 'lead' | 'mql' | 'sql' | 'opportunity' | 'customer';
export type FunnelReport = {
  from: string;
  to: string;
  groups: { group: string | null; contacts: number; stages: { stage: LifecycleStage; reached: number; conversionToNext: number | null; medianSecondsInStage: number | null; p90SecondsInStage: number | null; stuck: number }[] }[];
};
export type Spread = { median: number | null; p90: number | null; count: number };
export type ResponseReport = {
  from: string;
  to: string;
  slaSeconds: number;
  groups: { group: string | null; mqls: number; handedOff: number; touched: number; mqlToHandoffSeconds: Spread; handoffToTouchSeconds: Spread; mqlToTouchSeconds: Spread; withinSla: number; pending: number; slaShare: number | null }[];
};
export type ChannelCounts = { total: number; byStatus: Record<string, number> };
export type MessageBucket = 'hour' | 'day' | 'week';
export type MessageVolume = { from: string; to: string; bucket: MessageBucket; timeZone: string; channels: Record<string, ChannelCounts>; buckets: { start: string; channels: Record<string, ChannelCounts> }[] };
export type ReplayReport = {
  journeyId: string;
  results: { workflowId: string; runId: string | null; version: number; status: 'ok' | 'nondeterministic' | 'failed' | 'unavailable' | 'not_replayed'; error?: string }[];
  totals: { ok: number; nondeterministic: number; failed: number; unavailable: number; notReplayed: number };
  timedOut: boolean;
};

export type ContactSearch = { email?: string; phone?: string; externalId?: string; name?: string };

const enc = encodeURIComponent;
const qs = (q: Record<string, string | number | boolean | undefined>) =>
  Object.entries(q)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${enc(String(v))}`)
    .join('&');

export const api = {
  journeys: () => call<{ items: JourneySummary[] }>('GET', '/v1/journeys?limit=200'),
  journey: (id: string) => call<JourneyDetail>('GET', `/v1/journeys/${enc(id)}`),
  /** Without a version: the latest published one (the answer names it). */
  plan: (id: string, version?: number) => call<{ version: number; plan: Plan }>('GET', `/v1/journeys/${enc(id)}/plan${version ? `?version=${version}` : ''}`),
  /** `latest`: the latest published version's counts, the answer naming it. */
  live: (id: string, version?: number | 'latest') => call<Live>('GET', `/v1/journeys/${enc(id)}/live${version ? `?version=${version}` : ''}`),
  stats: (id: string, version: number) => call<JourneyStats>('GET', `/v1/journeys/${enc(id)}/stats?version=${version}`),
  step: (id: string, version: number, step: string) => call<StepDetail>('GET', `/v1/journeys/${enc(id)}/steps/${enc(step)}?version=${version}`),
  runsAt: (journeyId: string, version: number, step: string) =>
    call<{ items: Run[] }>('GET', `/v1/runs?journeyId=${enc(journeyId)}&version=${version}&step=${enc(step)}&status=running&limit=50`),
  contacts: (q: ContactSearch) => call<{ items: ContactSummary[]; nextCursor: string | null }>('GET', `/v1/contacts?${qs({ ...q, limit: 50 })}`),
  contact: (id: string) => call<ContactView>('GET', `/v1/contacts/${enc(id)}`),
  runs: (f: RunFilter) =>
    call<RunList>('GET', `/v1/runs?${qs({ journeyId: f.journeyId, ...(f.stuck ? { stuck: 'true', minAttempts: f.minAttempts } : { status: 'running' }), limit: 100 })}`),
  run: (workflowId: string) => call<RunDetail>('GET', `/v1/runs/${enc(workflowId)}`),
  /** One run's repair; `key` (one per confirmation) makes a repeated click the same request, not a second repair. */
  runAction: (workflowId: string, a: RunAction, key: string) => {
    const path = `/v1/runs/${enc(workflowId)}/${a.kind}`;
    const body = a.kind === 'terminate' ? { reason: a.reason } : a.kind === 'move' ? { stepId: a.stepId } : a.kind === 'migrate' ? (a.version ? { version: a.version } : {}) : undefined;
    return call<unknown>('POST', path, body, { 'idempotency-key': key });
  },
  bulk: (action: BulkAction, filter: RunFilter, dryRun: boolean, key: string, reason?: string) =>
    call<Bulk>(
      'POST',
      '/v1/runs/bulk',
      { action, filter: { ...(filter.journeyId ? { journeyId: filter.journeyId } : {}), ...(filter.stuck ? { stuck: true, ...(filter.minAttempts ? { minAttempts: filter.minAttempts } : {}) } : {}) }, dryRun, ...(reason ? { reason } : {}) },
      { 'idempotency-key': key },
    ),
  bulkProgress: (bulkId: string) => call<Bulk>('GET', `/v1/runs/bulk/${enc(bulkId)}`),
  launchPreview: (journeyId: string, b: LaunchBody) => call<LaunchPreview>('POST', `/v1/journeys/${enc(journeyId)}/launches/preview`, b),
  launch: (journeyId: string, b: LaunchBody & { ratePerSecond: number }, key: string) => call<Launch>('POST', `/v1/journeys/${enc(journeyId)}/launches`, b, { 'idempotency-key': key }),
  launchProgress: (launchId: string) => call<Launch>('GET', `/v1/launches/${enc(launchId)}`),
  launches: (journeyId: string) => call<{ items: Launch[] }>('GET', `/v1/journeys/${enc(journeyId)}/launches?limit=20`),
  cancelLaunch: (launchId: string) => call<Launch>('POST', `/v1/launches/${enc(launchId)}/cancel`),
  funnel: (from: string, to: string) => call<FunnelReport>('GET', `/v1/analytics/funnel?${qs({ from, to })}`),
  responseTimes: (from: string, to: string) => call<ResponseReport>('GET', `/v1/analytics/response-times?${qs({ from, to })}`),
  messageVolume: (from: string, to: string, bucket: MessageBucket, timeZone: string) => call<MessageVolume>('GET', `/v1/analytics/messages?${qs({ from, to, bucket, timeZone })}`),
  /** Replays the journey's newest runs against the workflow code the API has now (before a deploy). */
  replay: (journeyId: string, limit: number) => call<ReplayReport>('POST', `/v1/journeys/${enc(journeyId)}/replay`, { limit }),
  preferences: (id: string) => call<Preferences>('GET', `/v1/contacts/${enc(id)}/preferences`),
};
