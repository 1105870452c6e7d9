/** The API calls of the journey editor (all public routes: a script with a marketer key can make each one). */
import { call, type Plan } from '../api';

export type Issue = { path: string; message: string; line?: number; column?: number; text: string };
export type Validation = { valid: boolean; contentHash: string | null; errors: Issue[]; warnings: Issue[]; changed: boolean | null; latestVersion: number | null; plan?: Plan | null };
export type VersionSummary = { version: number; contentHash: string; publishedAt: string; publishedBy: string | null };
export type EditableJourney = {
  id: string;
  name: string;
  status: string;
  latestVersion: VersionSummary | null;
  draft: { source: string | null; publishedAs: number | null };
  versions: VersionSummary[];
};
export type JourneyLanguage = { schema: Record<string, unknown>; templates: { email: string[]; sms: string[]; chat: string[] }; eventTypes: string[]; topics: string[] };
export type Published = { journeyId: string; version: number; created: boolean; status: string; warnings: Issue[] };

/** The contact as the simulator reads it (the journey language's field names). */
export type SimContact = {
  id: string;
  email?: string | null;
  phone?: string | null;
  first_name?: string | null;
  last_name?: string | null;
  company?: string | null;
  job_title?: string | null;
  industry?: string | null;
  region?: string | null;
  timezone?: string | null;
  locale?: string | null;
  lifecycle_stage?: string | null;
  score?: number;
  tags?: string[];
  owner_id?: string | null;
  created_at?: string | null;
  attributes?: Record<string, unknown>;
};
export type SimEvent = { at: string; type: string; properties?: Record<string, unknown> };
export type Simulation = {
  version: number | 'draft';
  start: string;
  timezone: string;
  outcome: { status: string; reason: string; at: string };
  path: { at: string; atMs: number; stepId: string; type: string }[];
  actions: { at: string; atMs: number; stepId: string; action: { kind: string }; result: string }[];
  schedule?: { trigger: number; schedule: string; timezone: string; next: number[]; local: string[] }[];
  text: string;
};

const enc = encodeURIComponent;

export const editorApi = {
  journey: (id: string) => call<EditableJourney>('GET', `/v1/journeys/${enc(id)}`),
  language: () => call<JourneyLanguage>('GET', '/v1/journey-schema'),
  versionSource: (id: string, version: number) => call<VersionSummary & { source: string }>('GET', `/v1/journeys/${enc(id)}/versions/${version}`),
  validate: (source: string) => call<Validation>('POST', '/v1/journeys/validate', { source }),
  create: (source: string) => call<EditableJourney & { validation: Validation }>('POST', '/v1/journeys', { source }),
  saveDraft: (id: string, source: string) => call<EditableJourney & { validation: Validation }>('PUT', `/v1/journeys/${enc(id)}/draft`, { source }),
  draftPlan: (id: string) => call<{ plan: Plan }>('GET', `/v1/journeys/${enc(id)}/plan?version=draft`),
  plan: (id: string, version: number) => call<{ plan: Plan }>('GET', `/v1/journeys/${enc(id)}/plan?version=${version}`),
  diff: (id: string, from: number) => call<{ text: string; changes: unknown[] }>('GET', `/v1/journeys/${enc(id)}/diff?from=${from}&to=draft`),
  /** `key` (one per confirmation) makes a repeated click the same publish. */
  publish: (id: string, key: string) => call<Published>('POST', `/v1/journeys/${enc(id)}/publish`, undefined, { 'idempotency-key': key }),
  simulate: (id: string, body: { contact: SimContact; timeline: { start?: string; events: SimEvent[] }; version: 'draft' }) =>
    call<Simulation>('POST', `/v1/journeys/${enc(id)}/simulate`, body),
};
