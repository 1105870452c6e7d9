/**
 * The event types the system itself emits, and the CRM events it is built to receive: one list, shown in the README
 * (its table is generated from this by `eventVocabularyTable()` and checked by tests/journey/events.test.ts) and read by
 * the compiler, which warns when a journey waits on, exits on, has a goal on or triggers on a type that is neither here
 * nor seen in the events table. Pure data: no Node built-ins, no I/O.
 */

export interface SystemEvent {
  type: string;
  /** Who emits it (`crm`: sent by the CRM through POST /v1/events, not produced here). */
  source: 'contacts' | 'tracking' | 'deliverability' | 'sms' | 'scoring' | 'sales' | 'launch' | 'date' | 'crm';
  /** Where it comes from, for the README. */
  emittedBy: string;
  /** Properties it carries, `name: meaning`; `?` marks optional ones. */
  properties: Record<string, string>;
}

export const SYSTEM_EVENTS: readonly SystemEvent[] = [
  {
    type: 'contact.updated',
    source: 'contacts',
    emittedBy: 'every write to a contact: PUT /v1/contacts, a contact block on an event, merges, tag/untag/set_attribute/set_lifecycle_stage/update_score steps, scoring, hand-off owner, CRM feedback',
    properties: {
      changes: 'each changed field (`lifecycle_stage`, `tags`, `attributes.plan`, …) as `{ from, to }`',
      source: 'api, event, merge, journey, scoring or crm',
      'workflowId?': 'the run whose step made the change',
    },
  },
  {
    type: 'contact.unsubscribed',
    source: 'contacts',
    emittedBy: 'consent for a channel or one of its topics withdrawn: unsubscribe link, one-click unsubscribe, the preference page, PUT /v1/contacts with `opted_out`, PUT /v1/contacts/:id/preferences, an SMS STOP reply',
    properties: { channel: 'email, sms or chat', 'topic?': 'the list or topic', source: 'where it was withdrawn' },
  },
  {
    type: 'email.opened',
    source: 'tracking',
    emittedBy: 'open pixel (GET /t/o/:token)',
    properties: { message_key: 'the message' },
  },
  {
    type: 'email.clicked',
    source: 'tracking',
    emittedBy: 'tracked link (GET /t/c/:token)',
    properties: { message_key: 'the message', url: 'destination', link_tag: 'the link\'s tag, or null' },
  },
  {
    type: 'email.unsubscribed',
    source: 'tracking',
    emittedBy: 'unsubscribe link or one-click unsubscribe (POST /u/:token)',
    properties: { message_key: 'the message', list_id: 'List-Id, or null' },
  },
  {
    type: 'email.bounced',
    source: 'deliverability',
    emittedBy: 'a bounce for one of our emails: a DSN posted to POST /v1/email/reports, or an SES, Mailgun, SendGrid or Postmark webhook (once per provider event)',
    properties: {
      message_key: 'the message',
      kind: 'hard (address suppressed), soft (counted; suppressed after BOUNCE_SOFT_LIMIT in the window) or policy (reported only)',
      code: 'enhanced status code (5.1.1) or SMTP reply code, else the provider\'s bounce type',
      provider: 'dsn, ses, mailgun, sendgrid or postmark',
      step_id: 'the step that sent it',
      reported_at: 'when the report or provider says it happened (the event itself is stamped on receipt)',
    },
  },
  {
    type: 'email.complained',
    source: 'deliverability',
    emittedBy: 'a spam complaint for one of our emails: an ARF report posted to POST /v1/email/reports, or an SES, Mailgun, SendGrid or Postmark webhook; the address is suppressed for marketing',
    properties: { message_key: 'the message', feedback_type: 'abuse, fraud… or null', provider: 'arf, ses, mailgun, sendgrid or postmark', step_id: 'the step that sent it', reported_at: 'when the report says it happened' },
  },
  {
    type: 'sms.delivered',
    source: 'sms',
    emittedBy: 'a Twilio or Aliyun delivery receipt saying delivered (once per message)',
    properties: { message_key: 'the message', provider: 'twilio or aliyun', step_id: 'the step that sent it' },
  },
  {
    type: 'sms.failed',
    source: 'sms',
    emittedBy: 'a Twilio or Aliyun delivery receipt saying undelivered or failed (once per message)',
    properties: { message_key: 'the message', status: 'undelivered or failed', 'error_code?': 'the provider\'s error code', provider: 'twilio or aliyun', step_id: 'the step that sent it' },
  },
  {
    type: 'lead.mql',
    source: 'scoring',
    emittedBy: 'lead scoring (journeys/scoring.yaml), when a contact crosses the MQL threshold',
    properties: { threshold: 'the threshold crossed', at: 'epoch ms', score: 'score after the event', trigger: 'id of the event that crossed it' },
  },
  {
    type: 'handoff.accepted',
    source: 'sales',
    emittedBy: 'CRM feedback on a hand-off (POST /v1/handoffs/:id/feedback)',
    properties: { handoff_id: 'the hand-off', rep_id: 'assigned rep', team: 'team', journey_id: 'journey that handed off', 'opportunity_id?': 'the CRM opportunity' },
  },
  {
    type: 'handoff.rejected',
    source: 'sales',
    emittedBy: 'CRM feedback on a hand-off (POST /v1/handoffs/:id/feedback)',
    properties: { handoff_id: 'the hand-off', rep_id: 'assigned rep', team: 'team', journey_id: 'journey that handed off', reason: 'why sales rejected it' },
  },
  {
    type: 'journey.launched',
    source: 'launch',
    emittedBy: 'audience launch (API, CLI or a schedule trigger): the trigger event of every run it starts (not stored)',
    properties: { launchId: 'the launch' },
  },
  {
    type: 'date.reached',
    source: 'date',
    emittedBy: 'a date trigger\'s sweep (dateTriggerSweepWorkflow): the trigger event of each run it starts',
    properties: { field: 'the contact date field', date: 'its value', offset: 'the trigger offset', repeat: 'once or yearly', occurrence_at: 'the entry instant (ISO)', timezone: 'the zone of `at`' },
  },
  {
    type: 'deal.created',
    source: 'crm',
    emittedBy: 'CRM',
    properties: { deal_id: 'the deal', 'amount?': 'value, ≥ 0, at most 2 decimals', 'currency?': 'ISO 4217 code', 'stage?': 'CRM stage', 'owner?': 'owner id', 'expected_close?': 'date', 'company?': 'account' },
  },
  { type: 'deal.updated', source: 'crm', emittedBy: 'CRM', properties: { deal_id: 'the deal', 'amount? currency? stage? owner? expected_close? company?': 'new values, checked as in deal.created' } },
  { type: 'deal.stage_changed', source: 'crm', emittedBy: 'CRM', properties: { deal_id: 'the deal', 'from?': 'previous stage', to: 'new stage' } },
  { type: 'deal.won', source: 'crm', emittedBy: 'CRM', properties: { deal_id: 'the deal', 'amount?': 'final value (else the last known)' } },
  { type: 'deal.lost', source: 'crm', emittedBy: 'CRM', properties: { deal_id: 'the deal', 'reason?': 'why' } },
  { type: 'order.paid', source: 'crm', emittedBy: 'ERP', properties: { amount: 'paid, ≥ 0', 'currency?': 'ISO 4217 code', 'deal_id?': 'the deal it pays', 'order_id?': 'the order' } },
  { type: 'payment.received', source: 'crm', emittedBy: 'ERP', properties: { amount: 'received, ≥ 0', 'currency?': 'ISO 4217 code', 'deal_id?': 'the deal it pays' } },
  { type: 'sales.touched', source: 'crm', emittedBy: 'CRM', properties: { 'channel?': 'call, email, meeting…', 'rep_id?': 'who' } },
];

export const SYSTEM_EVENT_TYPES: readonly string[] = SYSTEM_EVENTS.map((e) => e.type);

/** The README's table (between the `<!-- events:start -->` and `<!-- events:end -->` markers). */
export function eventVocabularyTable(): string {
  const rows = SYSTEM_EVENTS.map((e) => {
    const props = Object.entries(e.properties)
      .map(([k, v]) => `\`${k}\` ${v}`)
      .join('; ');
    return `| \`${e.type}\` | ${e.source === 'crm' ? 'CRM (sent to POST /v1/events)' : e.emittedBy} | ${props} |`;
  });
  return ['| event | emitted by | properties |', '| --- | --- | --- |', ...rows].join('\n');
}
