import { sql } from 'drizzle-orm';
import {
  bigserial,
  customType,
  boolean,
  date,
  doublePrecision,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

/** A 64-bit transaction id (pg_current_xact_id()), read as its decimal text. */
const xid8 = customType<{ data: string; driverData: string }>({ dataType: () => 'xid8' });

/**
 * The stored events the analytics rollup reads (src/analytics/drain.ts), as a condition on the events table: a superset
 * of those that change an analytics table (src/analytics/apply.ts decides exactly; tests/analytics/drain.test.ts checks
 * the superset), written once for the partial index and the drain's scan, which must state it the same way for the
 * planner to use the index. Deal, payment, funnel-stage and sales-touch types; a lifecycle change; any UTM property.
 */
export const ANALYTICS_EVENTS = `contact_id is not null and (type in ('deal.created', 'deal.updated', 'deal.stage_changed', 'deal.won', 'deal.lost', 'order.paid', 'payment.received', 'lead.mql', 'handoff.accepted', 'handoff.rejected', 'sales.touched', 'email.clicked') or (type = 'contact.updated' and (properties -> 'changes') ? 'lifecycle_stage') or properties ? 'utm_campaign' or properties ? 'utm')`;

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();
const updatedAt = () => timestamp('updated_at', { withTimezone: true }).notNull().defaultNow();

/** Consent state per channel. `unknown` means no explicit opt-in or opt-out was recorded. */
export type ConsentStatus = 'opted_in' | 'opted_out' | 'unknown';
export type Consent = Partial<Record<'email' | 'sms' | 'chat', ConsentStatus>>;
/**
 * Consent per channel × subscription topic (src/contacts/topics.ts): channel → topic id → choice. A topic never chosen
 * follows the channel's consent.
 */
export type TopicConsent = Partial<Record<'email' | 'sms', Record<string, 'opted_in' | 'opted_out'>>>;

export const contacts = pgTable(
  'contacts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    externalId: text('external_id'),
    email: text('email'),
    phone: text('phone'),
    firstName: text('first_name'),
    lastName: text('last_name'),
    company: text('company'),
    region: text('region'),
    industry: text('industry'),
    jobTitle: text('job_title'),
    timezone: text('timezone'),
    locale: text('locale'),
    attributes: jsonb('attributes').$type<Record<string, unknown>>().notNull().default({}),
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    score: integer('score').notNull().default(0),
    lifecycleStage: text('lifecycle_stage').notNull().default('lead'),
    ownerId: text('owner_id'),
    consent: jsonb('consent').$type<Consent>().notNull().default({}),
    topicConsent: jsonb('topic_consent').$type<TopicConsent>().notNull().default({}),
    /** Set when this contact was merged into another; reads follow the pointer. */
    mergedInto: uuid('merged_into'),
    /**
     * Set when the contact was erased on request (src/contacts/erase.ts): the row stays, emptied of personal data, so
     * the anonymous rows that count in statistics keep their contact; nothing reads, enters or sends to it again.
     */
    erasedAt: timestamp('erased_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('contacts_external_id_uq').on(t.externalId),
    index('contacts_email_idx').on(t.email),
    index('contacts_phone_idx').on(t.phone),
    index('contacts_lifecycle_idx').on(t.lifecycleStage),
    // GET /v1/contacts?tag=… (tags @> array[tag]).
    index('contacts_tags_idx').using('gin', t.tags),
    // Date triggers on created_at (src/triggers/sweep.ts): one-off dates by range, anniversaries by UTC month-day (MMDD).
    index('contacts_created_at_idx').on(t.createdAt),
    index('contacts_created_mmdd_idx').on(sql`((date_part('month', timezone('UTC', ${t.createdAt})) * 100 + date_part('day', timezone('UTC', ${t.createdAt})))::int)`),
  ],
);

export const events = pgTable(
  'events',
  {
    /** The sender's id: a re-delivered event with the same id is stored once. */
    id: text('id').primaryKey(),
    type: text('type').notNull(),
    contactId: uuid('contact_id').references(() => contacts.id),
    properties: jsonb('properties').$type<Record<string, unknown>>().notNull().default({}),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
    source: text('source').notNull().default('api'),
    /** Set once the event has been routed to journeys; a re-delivery of an event still unrouted is routed again. */
    routedAt: timestamp('routed_at', { withTimezone: true }),
    /**
     * The id of the transaction that stored the event (null on events stored before it was added): the analytics
     * rollup takes in the events committed since its last look by transaction visibility (src/analytics/drain.ts).
     */
    xid: xid8('xid').default(sql`pg_current_xact_id()`),
  },
  (t) => [
    index('events_contact_time_idx').on(t.contactId, t.occurredAt),
    index('events_type_idx').on(t.type),
    // The outbox sweeper's scan: only the few rows still unrouted.
    index('events_unrouted_idx').on(t.receivedAt).where(sql`routed_at is null`),
    // The analytics rollup's scan for events committed since its last look: only the events it may read, so an event
    // of no interest to it (an open, a page view without UTM) costs no entry here; nor do events stored before the
    // column existed (the index builds without writing an entry for them).
    index('events_analytics_xid_idx').on(t.xid).where(sql.raw(`xid is not null and ${ANALYTICS_EVENTS}`)),
  ],
);

export const journeys = pgTable('journeys', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  /** draft | active | paused | archived */
  status: text('status').notNull().default('draft'),
  /** The editable draft as the marketer wrote it (YAML or JSON text). */
  draftSource: text('draft_source'),
  latestVersion: integer('latest_version'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/** Immutable once written: runs pin the version they entered on. */
export const journeyVersions = pgTable(
  'journey_versions',
  {
    journeyId: text('journey_id')
      .notNull()
      .references(() => journeys.id),
    version: integer('version').notNull(),
    contentHash: text('content_hash').notNull(),
    source: text('source').notNull(),
    plan: jsonb('plan').$type<Record<string, unknown>>().notNull(),
    publishedAt: timestamp('published_at', { withTimezone: true }).notNull().defaultNow(),
    publishedBy: text('published_by'),
  },
  (t) => [
    primaryKey({ columns: [t.journeyId, t.version] }),
    uniqueIndex('journey_versions_hash_uq').on(t.journeyId, t.contentHash),
  ],
);

/** A projection of each workflow run, kept in step by the worker so lists and stats never scan Temporal. */
export const journeyRuns = pgTable(
  'journey_runs',
  {
    workflowId: text('workflow_id').primaryKey(),
    runId: text('run_id'),
    journeyId: text('journey_id').notNull(),
    version: integer('version').notNull(),
    contactId: uuid('contact_id').notNull(),
    entryKey: text('entry_key').notNull().default('0'),
    currentStep: text('current_step'),
    /** running | completed | exited | goal | failed | cancelled */
    status: text('status').notNull().default('running'),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: updatedAt(),
    endedAt: timestamp('ended_at', { withTimezone: true }),
  },
  (t) => [
    index('journey_runs_journey_idx').on(t.journeyId, t.version, t.status),
    index('journey_runs_contact_idx').on(t.contactId),
  ],
);

export const messages = pgTable(
  'messages',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** Derived from workflow id + step: the same send, retried, finds its own reservation. */
    idempotencyKey: text('idempotency_key').notNull(),
    channel: text('channel').notNull(),
    contactId: uuid('contact_id'),
    journeyId: text('journey_id'),
    workflowId: text('workflow_id'),
    stepId: text('step_id'),
    recipient: text('recipient').notNull(),
    template: text('template'),
    subject: text('subject'),
    /** Rendered text for SMS and chat (the outbox shows it); email bodies are not stored here. */
    body: text('body'),
    /**
     * An email's HTML as sent (without the open pixel), served at its signed view-in-browser link; null for larger
     * than MAX_HOSTED_HTML_CHARS (src/activities/email.ts) and for other channels.
     */
    html: text('html'),
    provider: text('provider'),
    /** reserved | sent | delivered | bounced | failed | suppressed | skipped */
    status: text('status').notNull().default('reserved'),
    providerMessageId: text('provider_message_id'),
    error: text('error'),
    attempts: integer('attempts').notNull().default(0),
    createdAt: createdAt(),
    sentAt: timestamp('sent_at', { withTimezone: true }),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('messages_idempotency_uq').on(t.idempotencyKey),
    index('messages_contact_idx').on(t.contactId, t.createdAt),
    index('messages_journey_idx').on(t.journeyId, t.status),
    // Messages by channel over time (src/analytics/messages.ts) count a created_at range.
    index('messages_created_idx').on(t.createdAt, t.channel, t.status),
    // Delivery receipts and bounce reports find their message by the id the provider or the report names.
    index('messages_provider_message_idx').on(t.providerMessageId),
  ],
);

export const scoreEvents = pgTable(
  'score_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    idempotencyKey: text('idempotency_key'),
    contactId: uuid('contact_id').notNull(),
    delta: integer('delta').notNull(),
    scoreAfter: integer('score_after').notNull(),
    reason: text('reason').notNull(),
    /** journey | rule | decay | manual */
    source: text('source').notNull(),
    rule: text('rule'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('score_events_idempotency_uq').on(t.idempotencyKey), index('score_events_contact_idx').on(t.contactId)],
);

export const contactAudit = pgTable(
  'contact_audit',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    idempotencyKey: text('idempotency_key'),
    contactId: uuid('contact_id').notNull(),
    /** tag | untag | set_attribute | set_lifecycle_stage | merge | upsert */
    action: text('action').notNull(),
    detail: jsonb('detail').$type<Record<string, unknown>>().notNull().default({}),
    actor: text('actor').notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('contact_audit_idempotency_uq').on(t.idempotencyKey), index('contact_audit_contact_idx').on(t.contactId)],
);

export const salesHandoffs = pgTable(
  'sales_handoffs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    idempotencyKey: text('idempotency_key').notNull(),
    contactId: uuid('contact_id').notNull(),
    journeyId: text('journey_id'),
    workflowId: text('workflow_id'),
    team: text('team'),
    repId: text('rep_id'),
    /** pending | accepted | rejected | escalated */
    status: text('status').notNull().default('pending'),
    reason: text('reason'),
    /** The sales task's title, rendered from the journey's `task.title` for this contact. */
    taskTitle: text('task_title'),
    dueAt: timestamp('due_at', { withTimezone: true }),
    escalatedAt: timestamp('escalated_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('sales_handoffs_idempotency_uq').on(t.idempotencyKey),
    index('sales_handoffs_contact_idx').on(t.contactId),
    // Capacity assignment counts a rep's pending hand-offs.
    index('sales_handoffs_rep_status_idx').on(t.repId, t.status),
  ],
);

export const suppressions = pgTable(
  'suppressions',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    channel: text('channel').notNull(),
    /** Normalized address: lower-cased email or E.164 phone. */
    address: text('address').notNull(),
    /** unsubscribed | bounced | complaint | manual */
    reason: text('reason').notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('suppressions_channel_address_uq').on(t.channel, t.address)],
);

export const conversions = pgTable(
  'conversions',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    idempotencyKey: text('idempotency_key').notNull(),
    journeyId: text('journey_id').notNull(),
    version: integer('version').notNull(),
    contactId: uuid('contact_id').notNull(),
    goal: text('goal').notNull(),
    value: numeric('value', { precision: 14, scale: 2 }),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('conversions_idempotency_uq').on(t.idempotencyKey), index('conversions_journey_idx').on(t.journeyId)],
);

export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** The public, non-secret head of the key used to find its row; the rest is only ever stored hashed. */
    prefix: text('prefix').notNull(),
    hash: text('hash').notNull(),
    name: text('name').notNull(),
    /** marketer | integration | ops | admin */
    role: text('role').notNull(),
    createdAt: createdAt(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    dev: boolean('dev').notNull().default(false),
  },
  (t) => [uniqueIndex('api_keys_prefix_uq').on(t.prefix)],
);

/**
 * The per-key token bucket of the API's rate limit, shared by every API process on this database (src/api/rate-limit.ts):
 * two replicas behind a load balancer give a key the configured rate once, not once each. One row per key that has
 * made a request; the row goes with its key.
 */
export const apiKeyRateBuckets = pgTable('api_key_rate_buckets', {
  keyId: uuid('key_id')
    .primaryKey()
    .references(() => apiKeys.id, { onDelete: 'cascade' }),
  /** Tokens left at `refilledAt` (fractional: the bucket refills continuously). */
  tokens: doublePrecision('tokens').notNull(),
  refilledAt: timestamp('refilled_at', { withTimezone: true, precision: 3 }).notNull(),
  /** Whether the request that last touched the row was let through (what the caller reads back). */
  allowed: boolean('allowed').notNull(),
});

/**
 * Console sessions: an API key exchanged for a cookie. Only a hash of the cookie's value is stored, so a read of this
 * table cannot be replayed as a sign-in. The CSRF token is not a credential on its own (it only counts beside the
 * cookie), so it is kept as issued. A session ends at `expires_at` (absolute), when revoked, or when its key is.
 */
export const consoleSessions = pgTable(
  'console_sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** sha256 of the cookie value, hex. */
    idHash: text('id_hash').notNull(),
    apiKeyId: uuid('api_key_id')
      .notNull()
      .references(() => apiKeys.id),
    /** The key's role when the session was made (keys' roles never change). */
    role: text('role').notNull(),
    csrfToken: text('csrf_token').notNull(),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('console_sessions_id_hash_uq').on(t.idHash), index('console_sessions_key_idx').on(t.apiKeyId)],
);

/**
 * Every step a run entered, in order: the per-step funnel (entered, passed, exited) is counted from here, since the
 * run projection only knows the step a run is in now. `seq` numbers the entries of one run, so loops count twice.
 */
export const journeyRunSteps = pgTable(
  'journey_run_steps',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    workflowId: text('workflow_id').notNull(),
    runId: text('run_id').notNull(),
    seq: integer('seq').notNull(),
    journeyId: text('journey_id').notNull(),
    version: integer('version').notNull(),
    contactId: uuid('contact_id').notNull(),
    stepId: text('step_id').notNull(),
    enteredAt: timestamp('entered_at', { withTimezone: true }).notNull().defaultNow(),
    /**
     * The id of the transaction that wrote the row (null on rows written before it was added): the credit rollup finds
     * the journey entries committed since its last look by transaction visibility (src/analytics/credits.ts).
     */
    xid: xid8('xid').default(sql`pg_current_xact_id()`),
  },
  (t) => [
    uniqueIndex('journey_run_steps_run_seq_uq').on(t.workflowId, t.runId, t.seq),
    // Per step, the runs that entered it: the report's distinct (step, run) pairs come in index order from an
    // index-only scan, neither hashed nor sorted (src/db/stats.ts, stepEntered).
    index('journey_run_steps_journey_idx').on(t.journeyId, t.version, t.stepId, t.workflowId, t.runId),
    // A message's version: the latest entry of its run into its step at or before it was created, one backward
    // index-only probe per message (src/db/stats.ts, messagesCte).
    index('journey_run_steps_message_idx').on(t.workflowId, t.stepId, t.enteredAt, t.version),
    // A run's first journal entry (seq 1) is its entry into the journey: entries in a time window, counted per journey.
    index('journey_run_steps_entries_idx').on(t.journeyId, t.enteredAt).where(sql`${t.seq} = 1`),
    // A contact's journey entries: its journey touches in attribution (src/analytics/attribution.ts).
    index('journey_run_steps_contact_entries_idx').on(t.contactId, t.enteredAt).where(sql`${t.seq} = 1`),
    // Journey entries by writing transaction: the credit rollup's scan for entries committed since its last drain.
    index('journey_run_steps_entries_xid_idx').on(t.xid).where(sql`${t.seq} = 1`),
  ],
);

/** A batch enrolment of every contact matching a filter into a journey version, run by `audienceLaunchWorkflow`. */
export const audienceLaunches = pgTable(
  'audience_launches',
  {
    id: text('id').primaryKey(),
    journeyId: text('journey_id').notNull(),
    version: integer('version').notNull(),
    /** The compiled audience condition (PlanCondition) plus the consent channel required, as requested. */
    filter: jsonb('filter').$type<Record<string, unknown>>().notNull(),
    /** running | completed | failed | cancelled */
    status: text('status').notNull().default('running'),
    scanned: integer('scanned').notNull().default(0),
    enrolled: integer('enrolled').notNull().default(0),
    skipped: integer('skipped').notNull().default(0),
    /** Skip counts by reason, e.g. { "no email consent": 12, "already in journey": 3 }. */
    skipReasons: jsonb('skip_reasons').$type<Record<string, number>>().notNull().default({}),
    ratePerSecond: integer('rate_per_second').notNull(),
    createdBy: text('created_by'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    completedAt: timestamp('completed_at', { withTimezone: true }),
    error: text('error'),
  },
  (t) => [index('audience_launches_journey_idx').on(t.journeyId, t.createdAt)],
);

/**
 * One row per contact a launch considered: reserved before the run is started, so a retried batch knows what it
 * already did and the final counts are exact.
 */
export const audienceLaunchEntries = pgTable(
  'audience_launch_entries',
  {
    launchId: text('launch_id').notNull(),
    contactId: uuid('contact_id').notNull(),
    /** pending | enrolled | skipped */
    outcome: text('outcome').notNull().default('pending'),
    reason: text('reason'),
    workflowId: text('workflow_id'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.launchId, t.contactId] })],
);

/**
 * Round-robin position per sales team (journeys/sales.yaml). Assignments lock their team's row (SELECT … FOR UPDATE) in
 * the transaction that inserts the handoff, so concurrent hand-offs take turns and each rep gets their fair share.
 * The last rep assigned is kept by id, not index, so editing the team's rep list does not reshuffle the rotation.
 */
export const salesAssignmentCursors = pgTable('sales_assignment_cursors', {
  team: text('team').primaryKey(),
  lastRepId: text('last_rep_id'),
  /** Hand-offs assigned through this team's rotation, ever. */
  assigned: integer('assigned').notNull().default(0),
  updatedAt: updatedAt(),
});

/** The CRM's answer to a hand-off (POST /v1/handoffs/:id/feedback), once per hand-off. */
export const salesHandoffFeedback = pgTable('sales_handoff_feedback', {
  handoffId: uuid('handoff_id').primaryKey(),
  /** accepted | rejected */
  outcome: text('outcome').notNull(),
  reason: text('reason'),
  /** What else the CRM sent (opportunity id, note, who decided). */
  detail: jsonb('detail').$type<Record<string, unknown>>().notNull().default({}),
  /** The event ingested for it (handoff.accepted / handoff.rejected). */
  eventId: text('event_id').notNull(),
  actor: text('actor').notNull(),
  createdAt: createdAt(),
});

/**
 * The arm each run got at each split step (written by the run's recordArm activity, once per run and split). Split
 * statistics count a run's goal conversions (conversions rows keyed `<workflowId>:goal:<goal>`) recorded at or after
 * `assigned_at`, and a holdout run's message steps from its journal entries after `step_seq`.
 */
export const runArms = pgTable(
  'run_arms',
  {
    workflowId: text('workflow_id').notNull(),
    /** The first run of the chain (as journey_run_steps.run_id): a re-entry under the same workflow id is a new run. */
    runId: text('run_id').notNull(),
    journeyId: text('journey_id').notNull(),
    version: integer('version').notNull(),
    contactId: uuid('contact_id').notNull(),
    splitId: text('split_id').notNull(),
    arm: text('arm').notNull(),
    holdout: boolean('holdout').notNull().default(false),
    /** The run's journal entry (journey_run_steps.seq) into the split. */
    stepSeq: integer('step_seq').notNull(),
    assignedAt: timestamp('assigned_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.workflowId, t.runId, t.splitId] }), index('run_arms_journey_idx').on(t.journeyId, t.version, t.splitId)],
);

/**
 * How far each journey's date trigger on a field has been swept (src/triggers/sweep.ts): the next sweep starts here, so
 * a late or missed firing catches up and no occurrence is entered twice by window (the run's id backs this up).
 */
export const dateTriggerSweeps = pgTable(
  'date_trigger_sweeps',
  {
    journeyId: text('journey_id').notNull(),
    field: text('field').notNull(),
    sweptUntil: timestamp('swept_until', { withTimezone: true }).notNull(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.journeyId, t.field] })],
);

/**
 * Entries counted against a journey's `entry.cap`: one row per journey and bucket (`total`, `day:2026-12-07`,
 * `hour:2026-12-07T09`, local to the journey's time zone), raised by a conditional increment so concurrent entries can
 * never pass a cap (src/db/entry-caps.ts).
 */
export const journeyEntryCounters = pgTable(
  'journey_entry_counters',
  {
    journeyId: text('journey_id').notNull(),
    bucket: text('bucket').notNull(),
    count: integer('count').notNull(),
  },
  (t) => [primaryKey({ columns: [t.journeyId, t.bucket] })],
);

/**
 * One `Idempotency-Key` per API key (src/api/idempotency.ts): the request it first came with (a hash) and, once that
 * request succeeded, the response a retry gets again. Rows live 24 h; the daily maintenance workflow deletes expired
 * ones, and an expired row still present is treated as absent.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    apiKeyId: uuid('api_key_id')
      .notNull()
      .references(() => apiKeys.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    /** sha256 (hex) of the method, path, query and canonical JSON body of the first request. */
    fingerprint: text('fingerprint').notNull(),
    /** Which request holds the key: only it may store its response or let the key go. */
    claim: uuid('claim').notNull(),
    /** Null while the first request is in flight. */
    responseStatus: integer('response_status'),
    responseHeaders: jsonb('response_headers').$type<Record<string, string>>(),
    /** The JSON body exactly as sent; for a route that refuses replays (its response holds a secret), the refusal. */
    responseBody: text('response_body'),
    replayable: boolean('replayable').notNull(),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.apiKeyId, t.key] }), index('idempotency_keys_expires_idx').on(t.expiresAt)],
);

/**
 * Every Twilio-compatible callback received (src/api/routes/sms-webhooks.ts), once per message, kind and status: a
 * replay changes nothing. `matched` is false for a status about a message we never sent (kept for the operator) or a
 * keyword from a number no contact has. No phone numbers or message text are kept.
 */
export const smsProviderEvents = pgTable(
  'sms_provider_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    provider: text('provider').notNull(),
    /** status | inbound */
    kind: text('kind').notNull(),
    providerMessageId: text('provider_message_id').notNull(),
    /** The delivery status reported, or for inbound messages the keyword (stop | start | help | other). */
    status: text('status').notNull(),
    matched: boolean('matched').notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('sms_provider_events_uq').on(t.provider, t.kind, t.providerMessageId, t.status)],
);

/**
 * Bounces and complaints received (src/deliverability): one row per provider event, so a redelivered webhook or a
 * report posted twice is applied once. `message_id` is our message it was matched to (null: unmatched, nothing was
 * changed); `outcome` what it did. Stats count bounce and complaint rates from here, per journey and step.
 */
export const emailFeedback = pgTable(
  'email_feedback',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    /** dsn | arf | ses | mailgun | sendgrid | postmark */
    source: text('source').notNull(),
    eventId: text('event_id').notNull(),
    /** bounce | complaint */
    kind: text('kind').notNull(),
    /** hard | soft | policy, for bounces */
    bounceClass: text('bounce_class'),
    /** Enhanced status code (5.1.1) or SMTP reply code; for complaints the feedback type (abuse). */
    code: text('code'),
    diagnostic: text('diagnostic'),
    messageId: uuid('message_id'),
    contactId: uuid('contact_id'),
    journeyId: text('journey_id'),
    stepId: text('step_id'),
    /** suppressed | counted | reported | unmatched */
    outcome: text('outcome').notNull(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('email_feedback_event_uq').on(t.source, t.eventId),
    index('email_feedback_contact_idx').on(t.contactId, t.kind, t.occurredAt),
    index('email_feedback_message_idx').on(t.messageId),
  ],
);

/**
 * A contact import (src/imports): its options, its file's size and hash, and its checkpoint — `chunks_done` chunks are
 * planned, written and counted; the counts move with the checkpoint in one transaction, so they are exact after any
 * crash. `dry_run` imports plan and count but write no contact.
 */
export const contactImports = pgTable('contact_imports', {
  id: text('id').primaryKey(),
  /** running | completed | cancelled | failed */
  status: text('status').notNull().default('running'),
  dryRun: boolean('dry_run').notNull(),
  /** csv | jsonl */
  format: text('format').notNull(),
  /** The validated options: mapping, precedence, in-file duplicates, default country, delimiter, encoding. */
  options: jsonb('options').$type<Record<string, unknown>>().notNull(),
  /** The CSV header; null for JSON Lines. */
  columns: jsonb('columns').$type<string[]>(),
  fileName: text('file_name'),
  sha256: text('sha256').notNull(),
  bytes: integer('bytes').notNull(),
  totalRows: integer('total_rows').notNull(),
  chunkSize: integer('chunk_size').notNull(),
  chunks: integer('chunks').notNull(),
  chunksDone: integer('chunks_done').notNull().default(0),
  /**
   * Who is working on the next chunk, until when: a retried attempt (heartbeat timeout, a restarted workflow) waits
   * for a live earlier attempt instead of writing the same rows beside it. Renewed while rows are written.
   */
  lease: uuid('lease'),
  leaseUntil: timestamp('lease_until', { withTimezone: true }),
  rowsDone: integer('rows_done').notNull().default(0),
  created: integer('created').notNull().default(0),
  updated: integer('updated').notNull().default(0),
  merged: integer('merged').notNull().default(0),
  rejected: integer('rejected').notNull().default(0),
  createdBy: text('created_by'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
  completedAt: timestamp('completed_at', { withTimezone: true }),
  error: text('error'),
});

/** The uploaded file, as records (CSV fields or JSON lines) in chunks of `chunk_size`: what the workflow reads. */
export const contactImportChunks = pgTable(
  'contact_import_chunks',
  {
    importId: text('import_id')
      .notNull()
      .references(() => contactImports.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    records: jsonb('records').$type<({ f: string[]; e?: string } | { l: string; e?: string })[]>().notNull(),
  },
  (t) => [primaryKey({ columns: [t.importId, t.seq] })],
);

/**
 * Each row's planned outcome (create | update | merge | reject, with the column and reason of a reject), written once
 * per row before any contact is: a retried chunk writes what was planned and counts what was planned.
 */
export const contactImportRows = pgTable(
  'contact_import_rows',
  {
    importId: text('import_id')
      .notNull()
      .references(() => contactImports.id, { onDelete: 'cascade' }),
    /** 1-based data record number (the CSV header is not counted). */
    row: integer('row').notNull(),
    outcome: text('outcome').notNull(),
    contactId: uuid('contact_id'),
    column: text('column'),
    reason: text('reason'),
    /**
     * The match keys (`email:…`, `phone:…`, `externalId:…`) this row is the first of the file to have: the in-file
     * dedupe, stored with the row's plan. A worker keeps their fingerprints in memory (src/imports/key-index.ts),
     * confirms a fingerprint's rows against these, and reads them all back to resume an import another process began.
     */
    keys: text('keys').array(),
  },
  (t) => [primaryKey({ columns: [t.importId, t.row] }), index('contact_import_rows_outcome_idx').on(t.importId, t.outcome, t.row)],
);

// --- analytics: deals, the lifecycle funnel, touches and campaigns (src/analytics) ------------------------------

/**
 * A CRM deal (opportunity), folded from its stored events (deal_events) in `occurred_at` order, so events that arrive
 * out of order give the same row as events in order. `amount` is the latest non-null amount; `status` open | won | lost.
 */
export const deals = pgTable(
  'deals',
  {
    /** The CRM's deal id. */
    id: text('id').primaryKey(),
    contactId: uuid('contact_id').notNull(),
    company: text('company'),
    amount: numeric('amount', { precision: 18, scale: 2 }),
    currency: text('currency'),
    stage: text('stage'),
    /** open | won | lost */
    status: text('status').notNull().default('open'),
    ownerId: text('owner_id'),
    expectedCloseAt: timestamp('expected_close_at', { withTimezone: true }),
    openedAt: timestamp('opened_at', { withTimezone: true }).notNull(),
    closedAt: timestamp('closed_at', { withTimezone: true }),
    /** Stage moves back to a stage this deal had already left. */
    regressions: integer('regressions').notNull().default(0),
    /** Sum of order.paid / payment.received amounts for the deal, per currency. */
    paid: jsonb('paid').$type<Record<string, string>>().notNull().default({}),
    lastEventAt: timestamp('last_event_at', { withTimezone: true }).notNull(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('deals_contact_idx').on(t.contactId),
    index('deals_closed_idx').on(t.status, t.closedAt),
    index('deals_opened_idx').on(t.openedAt),
  ],
);

/** Every deal.* / order.paid / payment.received event that names a deal, as received: the deal row is their fold. */
export const dealEvents = pgTable(
  'deal_events',
  {
    eventId: text('event_id').primaryKey(),
    dealId: text('deal_id').notNull(),
    contactId: uuid('contact_id').notNull(),
    type: text('type').notNull(),
    /** The validated deal fields the event carried (src/analytics/deal-events.ts). */
    fields: jsonb('fields').$type<Record<string, unknown>>().notNull(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('deal_events_deal_idx').on(t.dealId, t.occurredAt)],
);

/**
 * One row per contact: the first time it reached each lifecycle stage (least over every event that showed it, so an
 * event arriving late still moves a time earlier), its current stage and when it last moved, its first UTM touch, and
 * the response-time marks. Maintained at ingest (src/analytics/apply.ts); the funnel reports aggregate it.
 */
export const contactFunnel = pgTable(
  'contact_funnel',
  {
    contactId: uuid('contact_id').primaryKey(),
    leadAt: timestamp('lead_at', { withTimezone: true }),
    mqlAt: timestamp('mql_at', { withTimezone: true }),
    sqlAt: timestamp('sql_at', { withTimezone: true }),
    opportunityAt: timestamp('opportunity_at', { withTimezone: true }),
    customerAt: timestamp('customer_at', { withTimezone: true }),
    /** The earliest stage time: its UTC month is the contact's cohort. */
    /** null while only a touch is known (no stage yet): such a contact is in no funnel. */
    enteredAt: timestamp('entered_at', { withTimezone: true }),
    currentStage: text('current_stage'),
    /** When the current stage was entered (the latest stage move by occurred_at). */
    movedAt: timestamp('moved_at', { withTimezone: true }),
    firstTouchAt: timestamp('first_touch_at', { withTimezone: true }),
    utmSource: text('utm_source'),
    utmMedium: text('utm_medium'),
    utmCampaign: text('utm_campaign'),
    /** The first sales touch at or after the MQL time (sales.touched, or CRM feedback on a hand-off). */
    salesTouchAt: timestamp('sales_touch_at', { withTimezone: true }),
  },
  (t) => [index('contact_funnel_entered_idx').on(t.enteredAt), index('contact_funnel_mql_idx').on(t.mqlAt)],
);

/** Marketing touches with a UTM campaign (event properties or a tracked link's URL), one per event. */
export const analyticsTouches = pgTable(
  'analytics_touches',
  {
    eventId: text('event_id').primaryKey(),
    contactId: uuid('contact_id').notNull(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    utmSource: text('utm_source'),
    utmMedium: text('utm_medium'),
    utmCampaign: text('utm_campaign').notNull(),
  },
  (t) => [index('analytics_touches_contact_idx').on(t.contactId, t.occurredAt), index('analytics_touches_campaign_idx').on(t.utmCampaign)],
);

/** A marketing campaign: what it spends and what it touches (its UTM campaign value and its journeys). */
export const campaigns = pgTable(
  'campaigns',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    channel: text('channel').notNull(),
    budget: numeric('budget', { precision: 18, scale: 2 }),
    currency: text('currency').notNull(),
    startsOn: text('starts_on'),
    endsOn: text('ends_on'),
    utmCampaign: text('utm_campaign'),
    journeyIds: text('journey_ids').array().notNull().default(sql`'{}'::text[]`),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('campaigns_utm_uq').on(t.utmCampaign)],
);

/** Recorded spend of a campaign; when a campaign has any, they replace its budget as its spend. */
export const campaignCosts = pgTable(
  'campaign_costs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    campaignId: text('campaign_id').notNull(),
    amount: numeric('amount', { precision: 18, scale: 2 }).notNull(),
    currency: text('currency').notNull(),
    incurredOn: text('incurred_on').notNull(),
    note: text('note'),
    createdAt: createdAt(),
  },
  (t) => [index('campaign_costs_campaign_idx').on(t.campaignId)],
);

// --- attribution credit rollups (src/analytics/credits.ts) -----------------------------------------------------

/**
 * Contacts whose attribution credits must be recomputed: marked in the same transaction as any write that can change
 * their conversions or touches (funnel stage times, won deals, UTM touches, journey entries), cleared by the drain that
 * recomputed them.
 */
export const attributionDirty = pgTable('attribution_dirty', {
  contactId: uuid('contact_id').primaryKey(),
  markedAt: timestamp('marked_at', { withTimezone: true }).notNull().defaultNow(),
  /**
   * The earliest time the marked changes can affect (a changed conversion's old or new time, a new touch, a journey
   * entry): the contact's conversions on UTC days before its day keep their credits, so the recompute leaves them out.
   * Null: every conversion (a rebuild, or a mark written before the column existed).
   */
  since: timestamp('since', { withTimezone: true }),
});

/**
 * Each contact's share of the credit rollup (what it added to `attribution_credits`), so a recompute can take the old
 * contribution back out exactly. Rows as in `attribution_credits`, plus the contact.
 */
export const attributionContactCredits = pgTable(
  'attribution_contact_credits',
  {
    contactId: uuid('contact_id').notNull(),
    model: text('model').notNull(),
    day: date('day', { mode: 'string' }).notNull(),
    conversion: text('conversion').notNull(),
    touchKind: text('touch_kind').notNull(),
    touchKey: text('touch_key').notNull(),
    currency: text('currency').notNull(),
    credit: numeric('credit').notNull(),
    amount: numeric('amount'),
    priced: integer('priced').notNull(),
  },
  (t) => [index('attribution_contact_credits_contact_idx').on(t.contactId)],
);

/**
 * Attribution credits summed per model, UTC day of the conversion, conversion kind (leads, mqls, sqls, deals), touch
 * (kind utm | journey and its key; `none` = unattributed; `total` = every conversion; `unpriced` = won deals without
 * amount, these three under model `*`) and currency ('' for none). `credit` is the summed share, `amount` the summed
 * share × amount, `priced` how many rows carried an amount (so a sum of no amounts stays "no revenue", not 0).
 */
export const attributionCredits = pgTable(
  'attribution_credits',
  {
    model: text('model').notNull(),
    day: date('day', { mode: 'string' }).notNull(),
    conversion: text('conversion').notNull(),
    touchKind: text('touch_kind').notNull(),
    touchKey: text('touch_key').notNull(),
    currency: text('currency').notNull(),
    credit: numeric('credit').notNull(),
    amount: numeric('amount').notNull(),
    priced: integer('priced').notNull(),
  },
  (t) => [primaryKey({ columns: [t.model, t.day, t.conversion, t.touchKind, t.touchKey, t.currency] })],
);

/** Once-per-database facts about the rollups, e.g. that the credit rollup was built from the existing history. */
export const analyticsRollupState = pgTable('analytics_rollup_state', {
  name: text('name').primaryKey(),
  builtAt: timestamp('built_at', { withTimezone: true }).notNull().defaultNow(),
  /**
   * The snapshot (pg_snapshot as text) of the rollup's last look at the rows it follows without marks (journey entries):
   * what was visible in it has been taken in. Null before the first look.
   */
  seen: text('seen'),
  /**
   * A look taken in several transactions (src/analytics/drain.ts): the snapshot it reads up to (what becomes `seen` when
   * it ends), and the last transaction id it has taken in so far. Null between looks.
   */
  upto: text('upto'),
  after: xid8('after'),
});
