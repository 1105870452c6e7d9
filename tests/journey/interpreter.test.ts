import { describe, expect, it } from 'vitest';
import { activeTimer, awaitedCommand, initialState, step, type Command } from '../../src/journey/interpreter';
import type { JourneyPlan } from '../../src/journey/plan';
import { compile, contact, DAY, Driver, HOUR, journey, MIN, T0 } from './helpers';

const exit = { type: 'exit' };
const plan = (steps: Record<string, unknown>, extra: Record<string, unknown> = {}): JourneyPlan => compile(journey({ steps, ...extra }));
const completion = (d: Driver) => d.all.find((c): c is Extract<Command, { type: 'complete' }> => c.type === 'complete');
const iso = (t: number) => new Date(t).toISOString();

describe('interpreter: action steps', () => {
  it('send_email: emits the send with locale fallback, waits for the result, then goes next', () => {
    const d = new Driver(plan({ a: { type: 'send_email', template: 'welcome', subject: 'Hi', from: 'x@y.z', category: 'transactional', next: 'done' }, done: exit }, { settings: { default_locale: 'zh-CN' } }));
    const cmds = d.start(contact({ locale: null }));
    expect(cmds).toEqual([
      { type: 'enter_step', stepId: 'a', stepType: 'send_email', at: T0 },
      { type: 'action', commandId: 'a:1', stepId: 'a', action: { kind: 'send_email', template: 'welcome', locale: 'zh-CN', subject: 'Hi', from: 'x@y.z', category: 'transactional' } },
    ]);
    expect(awaitedCommand(d.state)).toBe('a:1');
    d.ok(T0 + 1000);
    expect(completion(d)).toEqual({ type: 'complete', outcome: 'completed', reason: 'done', at: T0 + 1000 });
    expect(d.state.status).toBe('done');
  });

  it('send_sms and webhook and notify carry their payloads; failures follow on_failure', () => {
    const d = new Driver(
      plan({
        s: { type: 'send_sms', body: 'Hi {{first_name}}', category: 'transactional', next: 'h', on_failure: 'failed' },
        h: { type: 'webhook', url: 'https://crm.example.com/x', body: { id: '{{contact.id}}' }, retries: 2, timeout: '5s', next: 'n' },
        n: { type: 'notify', channel: 'dingtalk', to: { group: 'ops' }, message: 'New lead', next: 'done' },
        failed: { type: 'exit', reason: 'sms-failed' },
        done: exit,
      }),
    );
    d.start();
    expect(d.pending().action).toEqual({ kind: 'send_sms', body: 'Hi {{first_name}}', locale: 'en', category: 'transactional' });
    d.ok(T0);
    expect(d.pending().action).toEqual({ kind: 'webhook', url: 'https://crm.example.com/x', method: 'POST', headers: {}, body: { id: '{{contact.id}}' }, timeoutMs: 5000, retries: 2 });
    d.fail(T0, false); // no on_failure on the webhook: continue with next
    expect(d.pending().action).toEqual({ kind: 'notify', channel: 'dingtalk', to: { group: 'ops' }, message: 'New lead', locale: 'en' });
    d.ok(T0);
    expect(completion(d)?.reason).toBe('done');
    expect(d.all.some((c) => c.type === 'log' && c.kind === 'action_failed')).toBe(true);

    const f = new Driver(d.plan);
    f.start();
    f.fail(T0);
    expect(completion(f)?.reason).toBe('sms-failed');
  });

  it('update_score, tag, untag, set_attribute, set_lifecycle_stage update the local contact snapshot', () => {
    const d = new Driver(
      plan({
        s: { type: 'update_score', delta: 20, reason: 'attended', next: 't' },
        t: { type: 'tag', tags: ['a', '待激活'], next: 'u' },
        u: { type: 'untag', tags: 'old', next: 'v' },
        v: { type: 'set_attribute', field: 'attributes.plan', value: 'pro', next: 'l' },
        l: { type: 'set_lifecycle_stage', stage: 'mql', next: 'done' },
        done: exit,
      }),
    );
    d.start(contact({ score: 5, tags: ['old', 'a'] }));
    for (let i = 0; i < 5; i++) d.ok(T0);
    expect(d.actions()).toEqual([
      { kind: 'update_score', delta: 20, reason: 'attended' },
      { kind: 'tag', tags: ['a', '待激活'] },
      { kind: 'untag', tags: ['old'] },
      { kind: 'set_attribute', field: 'attributes.plan', value: 'pro' },
      { kind: 'set_lifecycle_stage', stage: 'mql' },
    ]);
    expect(d.state.contact).toMatchObject({ score: 25, tags: ['a', '待激活'], attributes: { plan: 'pro' }, lifecycle_stage: 'mql' });
    expect(d.state.status).toBe('done');
  });

  it('a contact snapshot in the result replaces the local one', () => {
    const d = new Driver(plan({ s: { type: 'update_score', delta: 1, reason: 'r', next: 'done' }, done: exit }));
    d.start(contact({ score: 5 }));
    d.feed({ type: 'action_result', at: T0, commandId: d.pending().commandId, outcome: { status: 'ok', contact: contact({ score: 99 }) } });
    expect(d.state.contact?.score).toBe(99);
  });

  it('handoff_to_sales resolves territory rules, task due and SLA in the payload', () => {
    const p = plan({
      h: {
        type: 'handoff_to_sales',
        assignment: { strategy: 'territory', rules: [{ when: { field: 'region', eq: 'east' }, team: 'sales-east' }, { when: { field: 'industry', eq: 'bank' }, owner: 'u-9' }], fallback_team: 'inside' },
        task: { due: '1d' },
        sla: { after: '4h', channel: 'wecom' },
        next: 'done',
      },
      done: exit,
    });
    const run = (c = contact()) => {
      const d = new Driver(p);
      d.start(c);
      return d.pending().action;
    };
    expect(run(contact({ region: 'east' }))).toEqual({
      kind: 'handoff_to_sales', strategy: 'territory', team: 'sales-east',
      task: { title: 'Follow up with {{contact.first_name}} {{contact.last_name}}', dueAt: T0 + DAY },
      sla: { escalateAt: T0 + 4 * HOUR, escalateTo: 'manager', channel: 'wecom' },
    });
    expect(run(contact({ industry: 'bank' }))).toMatchObject({ owner: 'u-9' });
    expect(run(contact())).toMatchObject({ team: 'inside' });

    const byAttr = plan({ h: { type: 'handoff_to_sales', assignment: { strategy: 'owner_attribute', field: 'attributes.account_owner', fallback_team: 'inside' }, next: 'done' }, done: exit });
    const d = new Driver(byAttr);
    d.start(contact({ attributes: { account_owner: 'u-1' } }));
    expect(d.pending().action).toEqual({ kind: 'handoff_to_sales', strategy: 'owner_attribute', owner: 'u-1' });
    d.ok(T0, { ownerId: 'u-1' });
    expect(d.state.contact?.owner_id).toBe('u-1');
  });

  it('goal and exit steps complete the run with their outcome', () => {
    const g = new Driver(plan({ g: { type: 'goal', goal: 'converted' } }));
    g.start();
    expect(g.last).toContainEqual({ type: 'action', commandId: 'g:1', stepId: 'g', action: { kind: 'record_goal', goalId: 'converted', via: 'step' } });
    expect(completion(g)).toMatchObject({ outcome: 'goal', reason: 'converted' });
    expect(g.state.goalsReached).toEqual(['converted']);
    const e = new Driver(plan({ e: { type: 'exit', reason: 'bye' } }));
    e.start();
    expect(completion(e)).toMatchObject({ outcome: 'completed', reason: 'bye' });
    expect(e.feed({ type: 'event', at: T0 + 1, event: { id: 'x', type: 'y', properties: {}, occurredAt: T0 } })).toEqual([]);
  });
});

describe('interpreter: waits', () => {
  it('wait duration starts a timer and continues when it fires; stale timer ids are ignored', () => {
    const d = new Driver(plan({ w: { type: 'wait', duration: '1d12h', next: 'done' }, done: exit }));
    d.start();
    expect(activeTimer(d.state)).toEqual({ timerId: 'w:1', at: T0 + 36 * HOUR });
    expect(d.feed({ type: 'timer_fired', at: T0 + 36 * HOUR, timerId: 'other' })).toEqual([]);
    d.fire();
    expect(completion(d)?.at).toBe(T0 + 36 * HOUR);
  });

  it('wait until_date uses a contact date plus offset, goes on_missing when the date is missing', () => {
    const p = plan({
      w: { type: 'wait', until_date: { field: 'attributes.trial_ends_at', offset: '-3d' }, next: 'done', on_missing: 'missing' },
      done: exit,
      missing: { type: 'exit', reason: 'missing' },
    });
    const d = new Driver(p);
    d.start(contact({ attributes: { trial_ends_at: '2025-03-20T00:00:00Z' } }));
    expect(d.timer().at).toBe(Date.parse('2025-03-17T00:00:00Z'));
    const past = new Driver(p);
    past.start(contact({ attributes: { trial_ends_at: '2025-03-01T00:00:00Z' } }));
    expect(completion(past)?.reason).toBe('done');
    const m = new Driver(p);
    m.start(contact({ attributes: { trial_ends_at: 'soon' } }));
    expect(completion(m)?.reason).toBe('missing');
  });

  it('wait until_date journey.entered_at + 7d measures from entry, not from the step', () => {
    const d = new Driver(plan({ w0: { type: 'wait', duration: '2d', next: 'w' }, w: { type: 'wait', until_date: { field: 'journey.entered_at', offset: '7d' }, next: 'done' }, done: exit }));
    d.start();
    d.fire();
    // Entering an until_date wait after a wait re-reads the contact first.
    expect(d.pending().action).toEqual({ kind: 'load_contact' });
    d.feed({ type: 'action_result', at: T0 + 2 * DAY, commandId: d.pending().commandId, outcome: { status: 'ok', contact: contact() } });
    expect(d.timer().at).toBe(T0 + 7 * DAY);
  });

  it('wait until_time picks the next local time on allowed weekdays (Asia/Shanghai)', () => {
    const p = plan({ w: { type: 'wait', until_time: { time: '10:00', days: ['mon', 'wed'] }, next: 'done' }, done: exit });
    const d = new Driver(p);
    d.start(contact(), Date.parse('2025-03-03T03:00:00Z')); // Monday 11:00 Shanghai: Monday 10:00 has passed
    expect(iso(d.timer().at)).toBe('2025-03-05T02:00:00.000Z'); // Wednesday 10:00 Shanghai
    const now = new Driver(p);
    now.start(contact(), Date.parse('2025-03-03T02:00:00Z')); // exactly Monday 10:00
    expect(completion(now)).toBeDefined();
  });

  it('wait_for_event: a matching event goes on_event and cancels the timeout; others are ignored', () => {
    const d = new Driver(plan({ w: { type: 'wait_for_event', event: 'email.clicked', where: { link_tag: 'product-a' }, timeout: '2d', on_event: 'yes', on_timeout: 'no' }, yes: { type: 'exit', reason: 'yes' }, no: { type: 'exit', reason: 'no' } }));
    d.start();
    const timer = d.timer();
    expect(d.event(T0 + HOUR, 'email.clicked', { link_tag: 'pricing' })).toEqual([]);
    expect(d.event(T0 + HOUR, 'email.opened')).toEqual([]);
    const cmds = d.event(T0 + 2 * HOUR, 'email.clicked', { link_tag: 'product-a' });
    expect(cmds[0]).toEqual({ type: 'cancel_timer', timerId: timer.timerId });
    expect(completion(d)?.reason).toBe('yes');
  });

  it('wait_for_event times out to on_timeout', () => {
    const d = new Driver(plan({ w: { type: 'wait_for_event', event: 'x', timeout: '1h', on_event: 'yes', on_timeout: 'no' }, yes: { type: 'exit', reason: 'yes' }, no: { type: 'exit', reason: 'no' } }));
    d.start();
    d.fire();
    expect(completion(d)).toMatchObject({ reason: 'no', at: T0 + HOUR });
  });
});

describe('interpreter: event arriving before the wait (race)', () => {
  const p = () =>
    plan({
      send: { type: 'send_email', template: 'welcome', next: 'w' },
      w: { type: 'wait_for_event', event: 'email.clicked', timeout: '2d', lookback: '10m', on_event: 'yes', on_timeout: 'no' },
      yes: { type: 'exit', reason: 'yes' },
      no: { type: 'exit', reason: 'no' },
    });

  it('an event delivered while the send is outstanding satisfies the following wait', () => {
    const d = new Driver(p());
    d.start();
    expect(d.event(T0 + 1000, 'email.clicked')).toEqual([]); // send result not back yet
    d.ok(T0 + 2000);
    expect(completion(d)?.reason).toBe('yes');
    expect(d.all.some((c) => c.type === 'log' && c.kind === 'matched_earlier_event')).toBe(true);
  });

  it('an event older than the lookback window does not count', () => {
    const d = new Driver(p());
    d.start();
    d.event(T0 + 1000, 'email.clicked');
    d.ok(T0 + 20 * MIN);
    expect(completion(d)).toBeUndefined();
    d.fire();
    expect(completion(d)?.reason).toBe('no');
  });

  it('an event arriving late but occurring within the window counts; one event satisfies one wait', () => {
    const twice = plan({
      w1: { type: 'wait_for_event', event: 'x', timeout: '1h', on_event: 'w2', on_timeout: 'no' },
      w2: { type: 'wait_for_event', event: 'x', timeout: '1h', on_event: 'yes', on_timeout: 'no' },
      yes: { type: 'exit', reason: 'yes' },
      no: { type: 'exit', reason: 'no' },
    });
    const d = new Driver(twice);
    d.start();
    d.event(T0 + MIN, 'x');
    expect(d.state.stepId).toBe('w2');
    d.fire();
    expect(completion(d)?.reason).toBe('no');
  });

  it('the same event delivered twice is processed once', () => {
    const d = new Driver(plan({ w: { type: 'wait_for_event', event: 'x', timeout: '1h', on_event: 'w2', on_timeout: 'no' }, w2: { type: 'wait_for_event', event: 'x', timeout: '1h', on_event: 'yes', on_timeout: 'no' }, yes: exit, no: { type: 'exit', reason: 'no' } }));
    d.start();
    d.event(T0 + MIN, 'x', {}, 'same-id');
    expect(d.event(T0 + 2 * MIN, 'x', {}, 'same-id')).toEqual([]);
    expect(d.state.stepId).toBe('w2');
    expect(d.state.eventsSeen).toBe(1);
  });
});

describe('interpreter: exit and goal rules', () => {
  const p = () =>
    plan(
      { w: { type: 'wait', duration: '7d', next: 'done' }, done: exit },
      {
        exit: [{ event: 'contact.unsubscribed', reason: 'unsubscribed' }, { when: { field: 'lifecycle_stage', eq: 'customer' }, reason: 'customer' }],
        goals: [{ id: 'demo', event: 'demo.requested', where: { product: 'a' }, within: '3d' }, { id: 'opened', event: 'email.opened', exit: false }],
      },
    );

  it('an exit event during a wait cancels the timer and exits', () => {
    const d = new Driver(p());
    d.start();
    const t = d.timer();
    const cmds = d.event(T0 + DAY, 'contact.unsubscribed');
    expect(cmds).toEqual([{ type: 'cancel_timer', timerId: t.timerId }, { type: 'complete', outcome: 'exited', reason: 'unsubscribed', at: T0 + DAY }]);
  });

  it('a contact condition exit fires at start and on events carrying a fresh contact', () => {
    const atStart = new Driver(p());
    atStart.start(contact({ lifecycle_stage: 'customer' }));
    expect(completion(atStart)).toMatchObject({ outcome: 'exited', reason: 'customer' });
    expect(atStart.entered()).toEqual([]);
    const later = new Driver(p());
    later.start();
    later.feed({ type: 'event', at: T0 + DAY, event: { id: 'u', type: 'contact.updated', properties: {}, occurredAt: T0 + DAY }, contact: contact({ lifecycle_stage: 'customer' }) });
    expect(completion(later)).toMatchObject({ outcome: 'exited', reason: 'customer' });
  });

  it('a goal event within the window records the goal and ends the run; outside the window it does not', () => {
    const d = new Driver(p());
    d.start();
    d.event(T0 + DAY, 'demo.requested', { product: 'b' });
    expect(d.state.status).toBe('running');
    d.event(T0 + 2 * DAY, 'demo.requested', { product: 'a' });
    expect(d.all.filter((c) => c.type === 'action').map((c) => (c as { action: unknown }).action)).toContainEqual({ kind: 'record_goal', goalId: 'demo', via: 'event' });
    expect(completion(d)).toMatchObject({ outcome: 'goal', reason: 'demo' });
    const late = new Driver(p());
    late.start();
    late.event(T0 + 4 * DAY, 'demo.requested', { product: 'a' });
    expect(late.state.status).toBe('running');
  });

  it('a goal with exit: false is recorded once and the run goes on', () => {
    const d = new Driver(p());
    d.start();
    d.event(T0 + HOUR, 'email.opened');
    d.event(T0 + 2 * HOUR, 'email.opened');
    expect(d.state.goalsReached).toEqual(['opened']);
    expect(d.state.status).toBe('running');
    d.fire();
    expect(completion(d)?.outcome).toBe('completed');
  });

  it('an exit while an action is outstanding ends the run; the late result is ignored', () => {
    const d = new Driver(plan({ s: { type: 'send_email', template: 'w', next: 'done' }, done: exit }, { exit: [{ event: 'contact.deleted' }] }));
    d.start();
    const pending = d.pending();
    d.event(T0 + 1, 'contact.deleted');
    expect(completion(d)).toMatchObject({ outcome: 'exited', reason: 'event:contact.deleted' });
    expect(d.feed({ type: 'action_result', at: T0 + 2, commandId: pending.commandId, outcome: { status: 'ok' } })).toEqual([]);
  });
});

describe('interpreter: branch and split', () => {
  it('branch takes the first matching condition, else otherwise, re-reading the contact after a wait', () => {
    const p = plan({
      w: { type: 'wait', duration: '1h', next: 'b' },
      b: {
        type: 'branch',
        conditions: [
          { when: { all: [{ field: 'industry', eq: 'manufacturing' }, { field: 'job_title', contains: 'cfo' }] }, next: 'mfg-cfo' },
          { when: { any: [{ tag: 'vip' }, { field: 'score', gte: 50 }] }, next: 'hot' },
          { when: { event: 'email.opened', within: '7d', at_least: 2 }, next: 'engaged' },
          { when: { not: { field: 'email', exists: true } }, next: 'no-email' },
        ],
        else: 'other',
      },
      'mfg-cfo': { type: 'exit', reason: 'mfg-cfo' },
      hot: { type: 'exit', reason: 'hot' },
      engaged: { type: 'exit', reason: 'engaged' },
      'no-email': { type: 'exit', reason: 'no-email' },
      other: { type: 'exit', reason: 'other' },
    });
    const run = (snapshot = contact(), events: string[] = []) => {
      const d = new Driver(p);
      d.start(contact({ email: 'a@b.c' }));
      events.forEach((type, i) => d.event(T0 + i + 1, type));
      d.fire();
      expect(d.pending().action).toEqual({ kind: 'load_contact' });
      d.feed({ type: 'action_result', at: T0 + HOUR, commandId: d.pending().commandId, outcome: { status: 'ok', contact: snapshot } });
      return completion(d)?.reason;
    };
    const withEmail = (o: Parameters<typeof contact>[0]) => contact({ email: 'a@b.c', ...o });
    expect(run(withEmail({ industry: 'manufacturing', job_title: 'Group CFO' }))).toBe('mfg-cfo');
    expect(run(withEmail({ industry: 'manufacturing', tags: ['vip'] }))).toBe('hot');
    expect(run(withEmail({ score: 50 }))).toBe('hot');
    expect(run(withEmail({}), ['email.opened', 'email.opened'])).toBe('engaged');
    expect(run(withEmail({}), ['email.opened'])).toBe('other');
    expect(run(contact())).toBe('no-email');
  });

  it('split is deterministic per contact and follows the percentages', () => {
    const p = plan({
      s: { type: 'split', paths: [{ name: 'a', percent: 45, next: 'a' }, { name: 'b', percent: 45, next: 'b' }, { name: 'control', percent: 10, holdout: true, next: 'h' }] },
      a: { type: 'exit', reason: 'a' },
      b: { type: 'exit', reason: 'b' },
      h: { type: 'exit', reason: 'holdout' },
    });
    const counts: Record<string, number> = {};
    for (let i = 0; i < 4000; i++) {
      const d = new Driver(p);
      d.start(contact({ id: `contact-${i}` }));
      const r = completion(d)!.reason;
      counts[r] = (counts[r] ?? 0) + 1;
      if (i < 50) {
        const again = new Driver(p);
        again.start(contact({ id: `contact-${i}` }), T0 + 99 * DAY);
        expect(completion(again)!.reason).toBe(r);
      }
    }
    expect(counts.a! / 4000).toBeGreaterThan(0.41);
    expect(counts.a! / 4000).toBeLessThan(0.49);
    expect(counts.b! / 4000).toBeGreaterThan(0.41);
    expect(counts.holdout! / 4000).toBeGreaterThan(0.07);
    expect(counts.holdout! / 4000).toBeLessThan(0.13);
  });
});

describe('interpreter: split arms and holdouts', () => {
  const abPlan = () =>
    plan(
      {
        ab: { type: 'split', paths: [{ name: 'treatment', percent: 50, next: 'mail' }, { name: 'control', percent: 50, holdout: true, next: 'mail' }] },
        mail: { type: 'send_email', template: 'welcome', next: 'sms' },
        sms: { type: 'send_sms', body: 'Hi', next: 'hook' },
        hook: { type: 'webhook', url: 'https://crm.example.com/x', next: 'wait' },
        wait: { type: 'wait_for_event', event: 'demo.booked', timeout: '7d', on_event: 'done', on_timeout: 'done' },
        done: exit,
      },
      { goals: [{ id: 'demo', name: 'Demo', event: 'demo.booked' }] },
    );
  /** A contact id that lands in the arm (the split position is a hash of contact, journey and step). */
  const contactIn = (p: JourneyPlan, arm: 'treatment' | 'control') => {
    for (let i = 0; ; i++) {
      const d = new Driver(p);
      d.start(contact({ id: `c-${i}` }));
      if (d.state.arms?.[0]?.arm === arm) return `c-${i}`;
    }
  };

  it('records the arm once as a fire-and-forget action, and remembers it in the state', () => {
    const p = abPlan();
    const d = new Driver(p);
    const cmds = d.start(contact({ id: contactIn(p, 'treatment') }));
    expect(cmds.slice(0, 3)).toEqual([
      { type: 'enter_step', stepId: 'ab', stepType: 'split', at: T0 },
      { type: 'log', stepId: 'ab', at: T0, kind: 'split_assigned', detail: 'treatment → mail' },
      { type: 'action', commandId: 'ab:1', stepId: 'ab', action: { kind: 'record_arm', splitId: 'ab', arm: 'treatment', holdout: false } },
    ]);
    expect(d.state.arms).toEqual([{ split: 'ab', arm: 'treatment' }]);
    // The run does not wait for the arm: it goes on to the send, which it does wait for.
    expect(d.pending().action.kind).toBe('send_email');
    d.ok(T0);
    expect(d.pending().action.kind).toBe('send_sms');
    d.ok(T0);
    expect(d.pending().action.kind).toBe('webhook');
    expect(d.state.heldOut).toBeUndefined();
  });

  it('a holdout run sends no email or SMS (logged held_out, counted), still calls internal webhooks, and its goal counts', () => {
    const p = abPlan();
    const d = new Driver(p);
    d.start(contact({ id: contactIn(p, 'control') }));
    expect(d.state.arms).toEqual([{ split: 'ab', arm: 'control', holdout: true }]);
    expect(d.actions().map((a) => a.kind)).toEqual(['record_arm', 'webhook']);
    expect(d.actions()[0]).toEqual({ kind: 'record_arm', splitId: 'ab', arm: 'control', holdout: true });
    expect(d.entered()).toEqual(['ab', 'mail', 'sms', 'hook']);
    const held = d.all.filter((c): c is Extract<Command, { type: 'log' }> => c.type === 'log' && c.kind === 'held_out');
    expect(held.map((l) => [l.stepId, l.detail])).toEqual([
      ['mail', 'email welcome not sent: arm control of split ab is a holdout'],
      ['sms', 'sms not sent: arm control of split ab is a holdout'],
    ]);
    expect(d.state.heldOut).toBe(2);
    d.ok(T0);
    d.event(T0 + HOUR, 'demo.booked');
    expect(d.actions()).toContainEqual({ kind: 'record_goal', goalId: 'demo', via: 'event' });
    expect(completion(d)).toMatchObject({ outcome: 'goal', reason: 'demo' });
  });

  it('a loop back through the split keeps and records the arm once; a holdout stays held out after a later split', () => {
    const p = plan({
      first: { type: 'split', paths: [{ name: 'held', percent: 50, holdout: true, next: 'second' }, { name: 'open', percent: 50, next: 'second' }] },
      second: { type: 'split', paths: [{ name: 'x', percent: 50, next: 'mail' }, { name: 'y', percent: 50, next: 'mail' }] },
      mail: { type: 'send_email', template: 'welcome', category: 'transactional', next: 'pause' },
      pause: { type: 'wait', duration: '1d', next: 'again' },
      again: { type: 'branch', conditions: [{ when: { tag: 'stop' }, next: 'done' }], else: 'first' },
      done: exit,
    });
    let id = 0;
    let d: Driver;
    do {
      d = new Driver(p);
      d.start(contact({ id: `loop-${id++}` }));
    } while (d.state.arms?.[0]?.arm !== 'held');
    expect(d.state.arms!.map((a) => a.split)).toEqual(['first', 'second']);
    d.fire();
    d.feed({ type: 'action_result', at: T0 + DAY, commandId: d.pending().commandId, outcome: { status: 'ok', contact: d.state.contact! } });
    // Back through both splits: no new record_arm, and the mail is held out again.
    expect(d.actions().filter((a) => a.kind === 'record_arm')).toHaveLength(2);
    expect(d.actions().some((a) => a.kind === 'send_email')).toBe(false);
    expect(d.state.heldOut).toBe(2);
  });

  it('a run started with legacySplits records no arm and holds nothing out, as before arms were recorded', () => {
    const p = abPlan();
    const d = new Driver(p);
    d.start(contact({ id: contactIn(p, 'control') }), T0, { legacySplits: true });
    expect(d.all).toContainEqual({ type: 'log', stepId: 'ab', at: T0, kind: 'split_assigned', detail: 'control (holdout) → mail' });
    expect(d.state.arms).toBeUndefined();
    // Command ids are those the old code gave: the send is the first command after the split.
    expect(d.pending()).toMatchObject({ commandId: 'mail:1', action: { kind: 'send_email' } });
  });
});

describe('interpreter: quiet hours, send windows, frequency caps', () => {
  const shanghai = { timezone: 'Asia/Shanghai', quiet_hours: { start: '21:00', end: '08:00' } };
  const sendPlan = (settings: Record<string, unknown>, category = 'marketing') =>
    plan({ s: { type: 'send_email', template: 'w', category, next: 'done' }, done: exit }, { settings });

  it('defers a marketing send at 22:30 in Asia/Shanghai to 08:00 the next morning', () => {
    const d = new Driver(sendPlan(shanghai));
    const at = Date.parse('2025-03-03T14:30:00Z'); // 22:30 Shanghai
    d.start(contact({ timezone: null }), at); // falls back to the journey's zone
    expect(iso(d.timer().at)).toBe('2025-03-04T00:00:00.000Z'); // 08:00 Shanghai
    expect(d.actions()).toEqual([]);
    d.fire();
    expect(d.pending().action.kind).toBe('send_email');
  });

  it('quiet hours follow the contact time zone', () => {
    const d = new Driver(sendPlan(shanghai));
    d.start(contact({ timezone: 'Europe/Berlin' }), Date.parse('2025-03-03T14:30:00Z')); // 15:30 in Berlin
    expect(d.pending().action.kind).toBe('send_email');
  });

  it('transactional mail ignores quiet hours', () => {
    const d = new Driver(sendPlan(shanghai, 'transactional'));
    d.start(contact(), Date.parse('2025-03-03T14:30:00Z'));
    expect(d.pending().action.kind).toBe('send_email');
  });

  it('send windows: Friday 19:00 waits for Monday 09:00 local time', () => {
    const d = new Driver(sendPlan({ timezone: 'Asia/Shanghai', send_windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00', end: '18:00' }] }));
    d.start(contact(), Date.parse('2025-03-07T11:00:00Z')); // Friday 19:00 Shanghai
    expect(iso(d.timer().at)).toBe('2025-03-10T01:00:00.000Z'); // Monday 09:00 Shanghai
  });

  it('frequency cap defer: waits until the oldest message leaves the window, re-counts, then sends', () => {
    const d = new Driver(sendPlan({ frequency_caps: { email: { max: 2, per: '1d', on_cap: 'defer' } } }));
    d.start();
    expect(d.pending().action).toEqual({ kind: 'count_messages', channel: 'email', since: T0 - DAY });
    d.ok(T0, { sentAt: [T0 - 20 * HOUR, T0 - 2 * HOUR] });
    expect(d.timer().at).toBe(T0 + 4 * HOUR + 1);
    d.fire();
    expect(d.pending().action.kind).toBe('count_messages');
    d.ok(T0 + 4 * HOUR + 1, { sentAt: [T0 - 2 * HOUR] });
    expect(d.pending().action.kind).toBe('send_email');
    expect(d.all.some((c) => c.type === 'log' && c.kind === 'deferred_frequency_cap')).toBe(true);
  });

  it('frequency cap skip: goes next without sending', () => {
    const d = new Driver(sendPlan({ frequency_caps: { email: { max: 1, per: '7d', on_cap: 'skip' } } }));
    d.start();
    d.ok(T0, { sentAt: [T0 - DAY] });
    expect(completion(d)?.reason).toBe('done');
    expect(d.actions().map((a) => a.kind)).toEqual(['count_messages']);
    expect(d.all.some((c) => c.type === 'log' && c.kind === 'skipped_frequency_cap')).toBe(true);
  });

  it('a failed count is retried later rather than sending over the cap', () => {
    const d = new Driver(sendPlan({ frequency_caps: { email: { max: 1, per: '7d' } } }));
    d.start();
    d.fail(T0, false);
    expect(d.timer().at).toBe(T0 + HOUR);
    expect(d.actions().map((a) => a.kind)).toEqual(['count_messages']);
  });
});

describe('interpreter: contract details', () => {
  it('never mutates the state it is given and is deterministic', () => {
    const p = plan({ w: { type: 'wait_for_event', event: 'x', timeout: '1h', on_event: 'done', on_timeout: 'done' }, done: exit });
    const s0 = initialState(p);
    const frozen = JSON.stringify(s0);
    const a = step(p, s0, { type: 'start', at: T0, contact: contact() });
    const b = step(p, s0, { type: 'start', at: T0, contact: contact() });
    expect(JSON.stringify(s0)).toBe(frozen);
    expect(a).toEqual(b);
    const before = JSON.stringify(a.state);
    step(p, a.state, { type: 'event', at: T0 + 1, event: { id: '1', type: 'x', properties: {}, occurredAt: T0 + 1 } });
    expect(JSON.stringify(a.state)).toBe(before);
  });

  it('ignores inputs before start and a second start', () => {
    const p = plan({ done: exit });
    const s0 = initialState(p);
    expect(step(p, s0, { type: 'timer_fired', at: T0, timerId: 'x' }).commands).toEqual([]);
    const started = step(p, s0, { type: 'start', at: T0, contact: contact() });
    expect(step(p, started.state, { type: 'start', at: T0, contact: contact() }).commands).toEqual([]);
  });

  it('counts steps, events and inputs for continue-as-new decisions', () => {
    const d = new Driver(plan({ w: { type: 'wait', duration: '1h', next: 'w2' }, w2: { type: 'wait', duration: '1h', next: 'done' }, done: exit }));
    d.start();
    d.event(T0 + 1, 'anything');
    d.fire();
    d.fire();
    expect(d.state).toMatchObject({ stepCount: 3, eventsSeen: 1, inputCount: 4 });
  });

  it('stops a run that spins through instant waits', () => {
    const guard = new Driver(plan({ w: { type: 'wait', until_date: { field: 'journey.entered_at' }, next: 'w2' }, w2: { type: 'wait', until_date: { field: 'journey.entered_at' }, next: 'w' } }));
    guard.start();
    expect(completion(guard)).toMatchObject({ outcome: 'exited', reason: 'loop_guard' });
  });

  it('time never runs backwards inside a run', () => {
    const d = new Driver(plan({ w: { type: 'wait', duration: '1h', next: 'done' }, done: exit }));
    d.start();
    d.event(T0 - DAY, 'late');
    expect(d.state.now).toBe(T0);
  });
});

describe('interpreter: ops move a run to a step', () => {
  const p = () =>
    plan({
      w: { type: 'wait', duration: '7d', next: 'br' },
      br: { type: 'branch', conditions: [{ when: { tag: 'vip' }, next: 'b' }], else: 'a' },
      a: { type: 'tag', tags: ['a'], next: 'done' },
      b: { type: 'tag', tags: ['b'], next: 'done' },
      done: exit,
    });

  it('cancels the current wait, enters the chosen step and carries on from there', () => {
    const d = new Driver(p());
    d.start();
    const cmds = d.feed({ type: 'move', at: T0 + HOUR, stepId: 'b' });
    expect(cmds[0]).toEqual({ type: 'cancel_timer', timerId: 'w:1' });
    expect(cmds[1]).toEqual({ type: 'enter_step', stepId: 'b', stepType: 'tag', at: T0 + HOUR });
    expect(activeTimer(d.state)).toBeUndefined();
    // The old timer firing late changes nothing.
    expect(d.feed({ type: 'timer_fired', at: T0 + 7 * DAY, timerId: 'w:1' })).toEqual([]);
  });

  it('is ignored while an action is in flight, for unknown steps, and once the run has ended', () => {
    const d = new Driver(p());
    d.start();
    d.fire();
    expect(awaitedCommand(d.state)).toBeDefined();
    expect(d.feed({ type: 'move', at: T0 + 7 * DAY, stepId: 'b' })).toEqual([]);
    const e = new Driver(p());
    e.start();
    expect(e.feed({ type: 'move', at: T0, stepId: 'nowhere' })).toEqual([]);
    expect(e.feed({ type: 'move', at: T0, stepId: 'toString' })).toEqual([]);
  });
});
