/**
 * The sample journeys in journeys/*.yaml, published with their templates and started through POST /v1/events like
 * production, against the real Temporal dev server, Postgres and SMTP. Each test checks the first effects and that
 * the long wait the run then reaches is the right timer in its history; paths that an event can finish within seconds
 * are finished and their final status read through GET /v1/runs/:workflowId.
 *
 * The samples' marketing sends honour quiet hours and send windows in the contact's zone. Each test picks a real
 * IANA zone where "now" is allowed (checked independently of the product's time code); when no zone on Earth is
 * (a weekend for Mon–Fri windows) it asserts the deferral timer instead.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq } from 'drizzle-orm';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal as proto } from '@temporalio/proto';
import { contacts, conversions, journeyRuns, journeyRunSteps, messages, salesHandoffs } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { splitPosition } from '../../src/journey/hash';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { startTestStack, type TestStack } from '../helpers/stack';
import { json, startHttp, type TestHttp } from '../channels/support/http';
import type { CapturedMail } from '../helpers/smtp';
import type { JourneyEventSignal } from '../../src/contracts';
import { until } from '../helpers/until';
import { runWatch } from '../helpers/runs';
import { LOCAL_ALLOW } from '../helpers/outbound';

const JOURNEYS_DIR = path.join(import.meta.dirname, '../../journeys');
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Latency between the step's entry and the timer command (activities, a busy machine) may shorten a timer by this. */
const SLACK = 2 * MINUTE;

// --- local time, computed here with Intl only (independent of src/journey/time.ts) --------------------------------

const WEEKDAY: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
type Local = { weekday: number; minute: number; hhmm: string };
function local(t: number, timeZone: string): Local {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', weekday: 'short', hour: '2-digit', minute: '2-digit' }).formatToParts(t);
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  const hour = Number(get('hour'));
  const minute = Number(get('minute'));
  return { weekday: WEEKDAY[get('weekday')]!, minute: hour * 60 + minute, hhmm: `${get('hour')}:${get('minute')}` };
}
const hm = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));
const within = (m: number, start: string, end: string) => {
  const a = hm(start);
  const b = hm(end);
  return a < b ? m >= a && m < b : m >= a || m < b;
};
type Rules = { quiet?: [string, string]; windows?: { days: number[]; start: string; end: string }[] };
function allowed(t: number, tz: string, rules: Rules): boolean {
  const l = local(t, tz);
  if (rules.quiet && within(l.minute, rules.quiet[0], rules.quiet[1])) return false;
  return !rules.windows || rules.windows.some((w) => w.days.includes(l.weekday) && within(l.minute, w.start, w.end));
}
/** The first whole minute ≥ t at which sending is allowed, found by walking the clock (slow, obviously right). */
function nextAllowed(t: number, tz: string, rules: Rules): number {
  for (let m = Math.ceil(t / MINUTE) * MINUTE; m < t + 9 * DAY; m += MINUTE) if (allowed(m, tz, rules)) return m;
  throw new Error('no allowed minute within 9 days');
}

// One real zone per UTC offset from −12 to +14, so some zone is usually inside any daytime window.
const ZONES = [
  'Etc/GMT+12', 'Pacific/Pago_Pago', 'Pacific/Honolulu', 'America/Anchorage', 'America/Los_Angeles', 'America/Denver',
  'America/Chicago', 'America/New_York', 'America/Halifax', 'America/Sao_Paulo', 'America/Noronha', 'Atlantic/Cape_Verde',
  'UTC', 'Africa/Lagos', 'Africa/Johannesburg', 'Europe/Moscow', 'Asia/Dubai', 'Asia/Karachi', 'Asia/Dhaka', 'Asia/Bangkok',
  'Asia/Shanghai', 'Asia/Tokyo', 'Australia/Brisbane', 'Pacific/Noumea', 'Pacific/Tarawa', 'Pacific/Tongatapu', 'Pacific/Kiritimati',
];
/** A zone where sending is allowed now and for the next `marginMs` (so the run is not caught by a boundary). */
function zoneAllowingNow(rules: Rules, marginMs = 45 * MINUTE): string | undefined {
  const now = Date.now();
  return ZONES.find((tz) => {
    for (let t = now; t <= now + marginMs; t += 5 * MINUTE) if (!allowed(t, tz, rules)) return false;
    return true;
  });
}

// --- workflow history ------------------------------------------------------------------------------------------

const toMs = (d: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  Number(d?.seconds ?? 0) * 1000 + Math.floor((d?.nanos ?? 0) / 1e6);
type Timer = { timeoutMs: number; startedAt: number; firesAt: number };

describe('sample journeys run end to end (POST /v1/events → Temporal → SMTP/DB)', () => {
  let stack: TestStack;
  let crm: TestHttp;
  let n = 0;

  beforeAll(async () => {
    crm = await startHttp((_req, res) => json(res, 200, { ok: true }));
    stack = await startTestStack();
    const templates = await loadTemplateCatalog(TEMPLATES_DIR);
    for (const name of ['new-lead-nurture', 'webinar-follow-up', 'mql-handoff', 'stale-opportunity', 'industry-content']) {
      let source = readFileSync(path.join(JOURNEYS_DIR, `${name}.yaml`), 'utf8');
      // The CRM is a remote service this machine cannot reach: a local HTTP server plays it.
      if (name === 'mql-handoff') source = source.replace('https://crm.example.com/api/leads/mql', `${crm.url}/api/leads/mql`);
      const published = await publishJourney(stack.db.db, source, { templates, outboundAllow: LOCAL_ALLOW });
      expect(published).toMatchObject({ journeyId: name, version: 1, created: true });
    }
  });
  afterAll(async () => {
    await stack?.stop();
    await crm?.close();
  });

  const post = async (type: string, contact: Record<string, unknown>, properties: Record<string, unknown> = {}) => {
    const res = await request(stack.app)
      .post('/v1/events')
      .set('Authorization', `Bearer ${stack.keys.integration}`)
      .send({ id: `sample-${++n}-${Date.now()}`, type, contact, properties })
      .expect(202);
    expect(res.body.rejected).toEqual([]);
    return res.body.accepted[0] as { runs: string[]; notEntered?: unknown[] };
  };
  const putContact = (externalId: string, body: Record<string, unknown>) =>
    request(stack.app).put(`/v1/contacts/${externalId}`).set('Authorization', `Bearer ${stack.keys.integration}`).send(body).expect((r) => {
      if (r.status !== 200 && r.status !== 201) throw new Error(`PUT contact: ${r.status} ${JSON.stringify(r.body)}`);
    });
  const { atStep, ended } = runWatch(() => stack);
  const mailTo = (address: string) =>
    until(`mail to ${address}`, async () => stack.smtp.messages.find((m: CapturedMail) => m.envelopeTo.includes(address)));
  /** TimerStarted events in order, each with the signals (journey events) recorded before it. */
  const timers = async (workflowId: string): Promise<(Timer & { after: JourneyEventSignal[] })[]> => {
    const history = await stack.temporal.client.workflow.getHandle(workflowId).fetchHistory();
    const signals: JourneyEventSignal[] = [];
    return (history.events ?? []).flatMap((e) => {
      if (e.eventType === proto.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) {
        signals.push(defaultPayloadConverter.fromPayload<JourneyEventSignal>(e.workflowExecutionSignaledEventAttributes!.input!.payloads![0]!));
      }
      if (e.eventType !== proto.api.enums.v1.EventType.EVENT_TYPE_TIMER_STARTED) return [];
      const timeoutMs = toMs(e.timerStartedEventAttributes!.startToFireTimeout);
      const startedAt = toMs(e.eventTime);
      return [{ timeoutMs, startedAt, firesAt: startedAt + timeoutMs, after: [...signals] }];
    });
  };
  /**
   * The first timer the run started (or, with `signal`, the first one started after that journey event was
   * delivered: events arriving during a workflow task are recorded after that task's commands, so this timer is the
   * run's reaction to the event).
   */
  const timerAfter = (workflowId: string, signal?: (e: JourneyEventSignal) => boolean) =>
    until(`a timer of ${workflowId}`, async () => (await timers(workflowId)).find((t) => !signal || t.after.some(signal)));
  const contactRow = async (id: string) => (await stack.db.db.select().from(contacts).where(eq(contacts.id, id)))[0]!;
  const stepsOf = async (workflowId: string) =>
    (await stack.db.db.select().from(journeyRunSteps).where(eq(journeyRunSteps.workflowId, workflowId))).sort((a, b) => a.seq - b.seq).map((s) => s.stepId);

  it('new-lead-nurture: welcome email, 2-day click wait; a product-A click starts the 2-day case-study wait; a demo request reaches the goal', async () => {
    const rules: Rules = { quiet: ['21:00', '08:00'] };
    // 13 allowed hours a day and offsets spanning 26 hours: some zone is always in daytime.
    const tz = zoneAllowingNow(rules)!;
    expect(tz).toBeDefined();
    const email = `nurture.${n}@example.com`;
    const started = await post('lead.created', { externalId: 'nln-1', email, firstName: 'Mei', locale: 'en', timezone: tz });
    const workflowId = started.runs[0]!;
    expect(workflowId).toMatch(/^journey:new-lead-nurture:/);

    const mail = await mailTo(email);
    expect(mail.parsed.subject).toBe('Welcome to itinera, Mei');
    expect(mail.parsed.from?.value[0]?.address).toBe('hello@itinera.example');
    const waiting = await atStep(workflowId, 'wait-click');
    const clickWait = await timerAfter(workflowId);
    expect(clickWait.timeoutMs).toBeLessThanOrEqual(2 * DAY);
    expect(clickWait.timeoutMs).toBeGreaterThan(2 * DAY - SLACK);
    const [sent] = await stack.db.db.select().from(messages).where(and(eq(messages.workflowId, workflowId), eq(messages.channel, 'email')));
    expect(sent).toMatchObject({ stepId: 'welcome', template: 'welcome', status: 'sent', recipient: email });

    // A click on some other link is not the awaited one; the product-A click is.
    await post('email.clicked', { externalId: 'nln-1' }, { link_tag: 'pricing' });
    await post('email.clicked', { externalId: 'nln-1' }, { link_tag: 'product-a' });
    await atStep(workflowId, 'wait-before-case-study');
    const caseStudyWait = await timerAfter(workflowId, (e) => e.properties.link_tag === 'product-a');
    expect(caseStudyWait.timeoutMs).toBeLessThanOrEqual(2 * DAY);
    expect(caseStudyWait.timeoutMs).toBeGreaterThan(2 * DAY - SLACK);
    expect(caseStudyWait.firesAt).toBeGreaterThan(clickWait.firesAt);

    await post('demo.requested', { externalId: 'nln-1' });
    const done = await ended(workflowId);
    expect(done).toMatchObject({ status: 'goal', currentStep: 'wait-before-case-study', contactId: waiting.contactId });
    expect(done.temporal.status).toBe('COMPLETED');
    const goals = await stack.db.db.select().from(conversions).where(eq(conversions.contactId, waiting.contactId));
    expect(goals.map((g) => g.goal)).toEqual(['demo-requested']);
    expect(await stepsOf(workflowId)).toEqual(['welcome', 'wait-click', 'wait-before-case-study']);
    // Only the welcome went out: the case study was still two days away.
    expect(stack.smtp.messages.filter((m) => m.envelopeTo.includes(email))).toHaveLength(1);
  });

  it('webinar-follow-up (attended): +20 score, no-show tag removed, attribute set, then a timer for 10:00 the next weekday local time; the survey answer is the goal', async () => {
    const tz = 'Europe/Berlin';
    await putContact('wf-1', { email: 'attendee@example.com', firstName: 'Jonas', locale: 'en', timezone: tz, tags: ['webinar-no-show', 'vip'] });
    const started = await post('webinar.ended', { externalId: 'wf-1' }, { registered: true, attended: true, title: 'Cash forecasting' });
    const workflowId = started.runs[0]!;
    const waiting = await atStep(workflowId, 'next-morning');
    const c = await contactRow(waiting.contactId);
    expect(c.score).toBe(20);
    expect(c.tags).toEqual(['vip']);
    expect(c.attributes).toMatchObject({ last_webinar_status: 'attended' });

    const timer = await timerAfter(workflowId);
    // until_time 10:00 Mon–Fri in the contact's zone (Berlin), not the journey's (Shanghai).
    const expected = nextAllowed(timer.startedAt, tz, { windows: [{ days: [1, 2, 3, 4, 5], start: '10:00', end: '10:01' }] });
    expect(Math.abs(timer.firesAt - expected)).toBeLessThan(SLACK);
    expect(local(timer.firesAt + 30_000, tz).hhmm).toMatch(/^10:0[0-2]$/);
    expect(stack.smtp.messages.filter((m) => m.envelopeTo.includes('attendee@example.com'))).toEqual([]);

    await post('survey.submitted', { externalId: 'wf-1' });
    const done = await ended(workflowId);
    expect(done).toMatchObject({ status: 'goal', currentStep: 'next-morning' });
    expect(await stepsOf(workflowId)).toEqual(['attended-or-not', 'attended-score', 'clear-no-show', 'mark-attended', 'next-morning']);
  });

  it('webinar-follow-up (no-show): tagged, and the replay email goes out in the send window — or waits for it', async () => {
    const rules: Rules = {
      quiet: ['21:00', '08:00'],
      windows: [
        { days: [1, 2, 3, 4, 5], start: '09:00', end: '19:00' },
        { days: [6], start: '10:00', end: '16:00' },
      ],
    };
    const tz = zoneAllowingNow(rules);
    const email = 'no.show@example.com';
    const started = await post(
      'webinar.ended',
      { externalId: 'wf-2', email, firstName: 'Ana', locale: 'en', timezone: tz ?? 'Asia/Shanghai' },
      { registered: true, attended: false, title: 'Cash forecasting' },
    );
    const workflowId = started.runs[0]!;
    // always + max_concurrent: every webinar is its own entry.
    expect(workflowId).toMatch(/^journey:webinar-follow-up:[0-9a-f-]{36}:sample-/);
    if (tz) {
      const mail = await mailTo(email);
      expect(mail.parsed.subject).toBe('Sorry we missed you: replay of Cash forecasting');
      const done = await ended(workflowId);
      expect(done).toMatchObject({ status: 'completed', currentStep: 'absent-done' });
      expect((await contactRow(done.contactId)).tags).toEqual(['webinar-no-show']);
    } else {
      // Nowhere on Earth is it a weekday or Saturday daytime: the send is deferred to Shanghai's next window.
      const waiting = await atStep(workflowId, 'replay-email');
      expect((await contactRow(waiting.contactId)).tags).toEqual(['webinar-no-show']);
      const timer = await timerAfter(workflowId);
      expect(Math.abs(timer.firesAt - nextAllowed(timer.startedAt, 'Asia/Shanghai', rules))).toBeLessThan(SLACK);
      expect(stack.smtp.messages.filter((m) => m.envelopeTo.includes(email))).toEqual([]);
    }
  });

  it('mql-handoff: stage mql, territory hand-off to sales-east, CRM webhook, WeCom note in the outbox, 1-hour follow-up timer; the follow-up is the goal', async () => {
    await putContact('mql-1', { email: 'buyer@example.cn', firstName: 'Wei', lastName: 'Zhang', company: 'Zhang Logistics', region: 'east', locale: 'en' });
    const started = await post('lead.mql', { externalId: 'mql-1' }, { score: 104 });
    const workflowId = started.runs[0]!;
    const waiting = await atStep(workflowId, 'wait-follow-up');
    expect((await contactRow(waiting.contactId)).lifecycleStage).toBe('mql');
    const [handoff] = await stack.db.db.select().from(salesHandoffs).where(eq(salesHandoffs.workflowId, workflowId));
    expect(handoff).toMatchObject({ team: 'sales-east', contactId: waiting.contactId, status: 'pending' });
    expect(handoff!.dueAt!.getTime() - Date.now()).toBeGreaterThan(DAY - 5 * MINUTE);

    const hook = crm.requests.find((r) => r.body.includes(waiting.contactId));
    expect(hook).toMatchObject({ method: 'POST', url: '/api/leads/mql' });
    expect(JSON.parse(hook!.body)).toMatchObject({ contact_id: waiting.contactId, email: 'buyer@example.cn', source: 'itinera' });
    const rows = await stack.db.db.select().from(messages).where(eq(messages.workflowId, workflowId));
    expect(rows.find((m) => m.channel === 'webhook')).toMatchObject({ stepId: 'sync-crm', status: 'delivered' });
    const note = rows.find((m) => m.channel === 'chat');
    expect(note).toMatchObject({ stepId: 'notify-rep', template: 'mql-assigned', status: 'stored', provider: 'outbox' });
    expect(note!.recipient).toMatch(/^wecom:owner/);
    expect(note!.body).toContain('Wei Zhang');
    expect(note!.body).toContain('Zhang Logistics');

    const timer = await timerAfter(workflowId);
    expect(timer.timeoutMs).toBeLessThanOrEqual(HOUR);
    expect(timer.timeoutMs).toBeGreaterThan(HOUR - SLACK);

    await post('sales.followed_up', { externalId: 'mql-1' });
    const done = await ended(workflowId);
    expect(done).toMatchObject({ status: 'goal', currentStep: 'followed-up' });
    expect((await stack.db.db.select().from(conversions).where(eq(conversions.contactId, waiting.contactId))).map((g) => g.goal)).toEqual(['followed-up']);
  });

  it('stale-opportunity: a 15-day watch timer, restarted by an update; closing as won is the goal', async () => {
    const started = await post('opportunity.created', { externalId: 'opp-1', email: 'owner.of.opp@example.cn' }, { opportunity_id: 'o-1' });
    const workflowId = started.runs[0]!;
    await atStep(workflowId, 'watch');
    const first = await timerAfter(workflowId);
    expect(first.timeoutMs).toBeLessThanOrEqual(15 * DAY);
    expect(first.timeoutMs).toBeGreaterThan(15 * DAY - SLACK);

    // An update while watching reaches the run (after_exit: a running run is signalled, not started again).
    const update = await post('opportunity.updated', { externalId: 'opp-1' }, { opportunity_id: 'o-1', stage: 'proposal' });
    expect(update.runs).toEqual([workflowId]);
    const second = await timerAfter(workflowId, (e) => e.type === 'opportunity.updated');
    expect(second.timeoutMs).toBeGreaterThan(15 * DAY - SLACK);
    expect(second.firesAt).toBeGreaterThan(first.firesAt);
    await until('the step journal to record the loop', async () => ((await stepsOf(workflowId)).length === 2 ? true : undefined));
    expect(await stepsOf(workflowId)).toEqual(['watch', 'watch']);

    await post('opportunity.closed', { externalId: 'opp-1' }, { opportunity_id: 'o-1', outcome: 'won' });
    const done = await ended(workflowId);
    expect(done).toMatchObject({ status: 'goal', currentStep: 'watch' });
    expect((await stack.db.db.select().from(conversions).where(eq(conversions.contactId, done.contactId))).map((g) => g.goal)).toEqual(['won']);
    // No reminder went to anyone: the opportunity never went stale.
    expect((await stack.db.db.select().from(messages).where(eq(messages.workflowId, workflowId)))).toEqual([]);
  });

  it('industry-content: a manufacturing manager gets the manufacturing whitepaper, then a 5-day download wait; the download counts as the goal and ends the wait', async () => {
    const rules: Rules = { quiet: ['20:00', '08:30'], windows: [{ days: [1, 2, 3, 4, 5], start: '09:00', end: '18:00' }] };
    const tz = zoneAllowingNow(rules);
    const email = 'plant.manager@example.com';
    await putContact('ic-1', { email, firstName: 'Li', company: 'Acme Tools', industry: 'manufacturing', jobTitle: 'Plant Manager', locale: 'en', timezone: tz ?? 'Asia/Shanghai' });
    const started = await post('lead.enriched', { externalId: 'ic-1' });
    const workflowId = started.runs[0]!;
    if (!tz) {
      // Weekend everywhere: the whitepaper waits for Monday 09:00 in Shanghai.
      await atStep(workflowId, 'wp-manufacturing');
      const timer = await timerAfter(workflowId);
      expect(Math.abs(timer.firesAt - nextAllowed(timer.startedAt, 'Asia/Shanghai', rules))).toBeLessThan(SLACK);
      expect(local(timer.firesAt + 30_000, 'Asia/Shanghai')).toMatchObject({ weekday: 1, hhmm: expect.stringMatching(/^09:0[0-2]$/) });
      expect(stack.smtp.messages.filter((m) => m.envelopeTo.includes(email))).toEqual([]);
      return;
    }
    const mail = await mailTo(email);
    expect(mail.parsed.subject).toBe('Smart factory finance: a playbook for Acme Tools');
    const waiting = await atStep(workflowId, 'wait-download');
    const timer = await timerAfter(workflowId);
    expect(timer.timeoutMs).toBeLessThanOrEqual(5 * DAY);
    expect(timer.timeoutMs).toBeGreaterThan(5 * DAY - SLACK);
    expect(await stepsOf(workflowId)).toEqual(['by-industry', 'manufacturing-role', 'wp-manufacturing', 'wait-download']);

    await post('content.downloaded', { externalId: 'ic-1' }, { asset: 'wp-manufacturing', content_type: 'whitepaper' });
    const done = await ended(workflowId);
    expect(done).toMatchObject({ status: 'completed', currentStep: 'downloaded' });
    expect((await stack.db.db.select().from(conversions).where(eq(conversions.contactId, waiting.contactId))).map((g) => g.goal)).toEqual(['whitepaper-downloaded']);
    const [run] = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.workflowId, workflowId));
    expect(run!.endedAt).not.toBeNull();
  });

  it('industry-content: a lead outside the target industries on subject line B gets the general paper with the personalised subject', async () => {
    const rules: Rules = { quiet: ['20:00', '08:30'], windows: [{ days: [1, 2, 3, 4, 5], start: '09:00', end: '18:00' }] };
    const tz = zoneAllowingNow(rules);
    // The split is a stable hash of the contact id: make contacts until one lands on subject-b (45–90).
    let externalId = '';
    let contactId = '';
    for (let i = 0; i < 50 && !contactId; i++) {
      const res = await putContact(`ic-b-${i}`, { email: `retail.${i}@example.com`, firstName: 'Chen', industry: 'retail', locale: 'en', timezone: tz ?? 'Asia/Shanghai' });
      const pos = splitPosition(res.body.id, 'industry-content', 'general-split');
      if (pos >= 45 && pos < 90) [externalId, contactId] = [`ic-b-${i}`, res.body.id as string];
    }
    expect(contactId).not.toBe('');
    const started = await post('lead.enriched', { externalId });
    const workflowId = started.runs[0]!;
    if (!tz) {
      await atStep(workflowId, 'wp-general-b');
      expect(stack.smtp.messages.filter((m) => m.envelopeTo.includes(`${externalId.replace('ic-b-', 'retail.')}@example.com`))).toEqual([]);
      return;
    }
    const mail = await mailTo(`${externalId.replace('ic-b-', 'retail.')}@example.com`);
    // The step's subject is an inline template: rendered with the contact, not sent as written.
    expect(mail.parsed.subject).toBe('Chen, 3 ideas to cut cost in 2025');
    await atStep(workflowId, 'wait-download');
    expect(await stepsOf(workflowId)).toEqual(['by-industry', 'general-split', 'wp-general-b', 'wait-download']);
    const [sent] = await stack.db.db.select().from(messages).where(and(eq(messages.workflowId, workflowId), eq(messages.channel, 'email')));
    expect(sent).toMatchObject({ template: 'whitepaper-general', subject: 'Chen, 3 ideas to cut cost in 2025' });
  });
});
