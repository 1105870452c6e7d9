import { describe, expect, it } from 'vitest';
import { formatSimulation, resolveTime, simulate } from '../../src/journey/simulator';
import { splitPosition } from '../../src/journey/hash';
import { compile, contact, DAY, HOUR, journey, T0 } from './helpers';

const iso = (t: number) => new Date(t).toISOString();

describe('simulate', () => {
  const steps = {
        send: { type: 'send_email', template: 'welcome', next: 'w', on_failure: 'failed' },
        w: { type: 'wait_for_event', event: 'email.clicked', timeout: '2d', on_event: 'b', on_timeout: 'timeout' },
        b: { type: 'branch', conditions: [{ when: { event: 'email.opened', within: '30d' }, next: 'opened' }], else: 'not-opened' },
        opened: { type: 'exit', reason: 'opened' },
        'not-opened': { type: 'exit', reason: 'not-opened' },
        timeout: { type: 'exit', reason: 'timeout' },
        failed: { type: 'exit', reason: 'failed' },
  };
  const plan = compile(journey({ steps }));

  it('accepts offsets and ISO times, and events before the start become history for conditions', () => {
    const r = simulate(plan, {
      contact: contact(),
      start: T0,
      events: [
        { at: '-3d', type: 'email.opened' },
        { at: iso(T0 + HOUR), type: 'email.clicked' },
      ],
    });
    expect(r.path.map((p) => p.stepId)).toEqual(['send', 'w', 'b', 'opened']);
    expect(r.path.at(-1)!.at).toBe(iso(T0 + HOUR));
  });

  it('scripted failures follow on_failure, a limited number of times', () => {
    const failed = simulate(plan, { contact: contact(), start: T0, results: [{ kind: 'send_email', outcome: 'failed', times: 1 }] });
    expect(failed.outcome).toMatchObject({ status: 'completed', reason: 'failed' });
    expect(failed.actions.find((a) => a.action.kind === 'send_email')?.result).toBe('failed');
    const viaFn = simulate(plan, { contact: contact(), start: T0, results: (a) => (a.kind === 'send_email' ? { status: 'failed', permanent: true, error: 'suppressed' } : undefined) });
    expect(viaFn.outcome.reason).toBe('failed');
  });

  it('with action latency, a click arriving before the send result still counts', () => {
    const r = simulate(plan, { contact: contact(), start: T0, actionLatencyMs: 5000, events: [{ at: '+1s', type: 'email.clicked' }] });
    expect(r.path.map((p) => p.stepId)).toEqual(['send', 'w', 'b', 'not-opened']);
    expect(r.log.some((l) => l.kind === 'matched_earlier_event')).toBe(true);
  });

  it('times out with no events, and stops journeys that loop forever at the step cap', () => {
    expect(simulate(plan, { contact: contact(), start: T0 }).outcome).toEqual({ status: 'completed', reason: 'timeout', at: iso(T0 + 2 * DAY) });
    const loop = compile(journey({ steps: { w: { type: 'wait', duration: '1d', next: 'w' } } }));
    const r = simulate(loop, { contact: contact(), start: T0, maxSteps: 50 });
    expect(r.outcome.status).toBe('step_cap');
    expect(r.path).toHaveLength(50);
  });

  it('rejects unreadable times with a sentence', () => {
    expect(() => resolveTime('tomorrow', T0)).toThrow('"tomorrow" is not a time (use an ISO date-time or an offset such as +2d)');
    expect(resolveTime('+1d12h', T0)).toBe(T0 + 36 * HOUR);
  });

  it('formats a readable path', () => {
    const text = formatSimulation(simulate(plan, { contact: contact(), start: T0 }));
    // The journey has no settings.timezone: its zone is UTC, and every time is read in it.
    expect(text.split('\n')).toEqual([
      "times in UTC (the journey's time zone)",
      '2025-03-03 02:00:00 Mon  +0s        → send (send_email)',
      '2025-03-03 02:00:00 Mon  +0s            email welcome (en)',
      '2025-03-03 02:00:00 Mon  +0s        → w (wait_for_event)',
      '2025-03-05 02:00:00 Wed  +2d            wait timed out: no email.clicked within the timeout',
      '2025-03-05 02:00:00 Wed  +2d        → timeout (exit)',
      `outcome: completed (timeout) at 2025-03-05 02:00:00 Wed (${iso(T0 + 2 * DAY)})`,
    ]);
    const shanghai = compile(journey({ steps, settings: { timezone: 'Asia/Shanghai' } }));
    const lines = formatSimulation(simulate(shanghai, { contact: contact(), start: T0 })).split('\n');
    expect(lines[0]).toBe("times in Asia/Shanghai (the journey's time zone)");
    expect(lines[1]).toBe('2025-03-03 10:00:00 Mon  +0s        → send (send_email)');
  });

  it('shows the arm a split gives, and that a holdout contact is sent nothing while its goal still counts', () => {
    const ab = compile(
      journey({
        id: 'ab-test',
        goals: [{ id: 'demo', name: 'Demo', event: 'demo.booked' }],
        steps: {
          ab: { type: 'split', paths: [{ name: 'treatment', percent: 50, next: 'mail' }, { name: 'control', percent: 50, holdout: true, next: 'mail' }] },
          mail: { type: 'send_email', template: 'welcome', category: 'transactional', next: 'w' },
          w: { type: 'wait_for_event', event: 'demo.booked', timeout: '7d', on_event: 'done', on_timeout: 'done' },
          done: { type: 'exit', reason: 'done' },
        },
      }),
    );
    const idIn = (holdout: boolean) => {
      for (let i = 0; ; i++) if (splitPosition(`sim-${i}`, 'ab-test', 'ab') >= 50 === holdout) return `sim-${i}`;
    };
    const events = [{ at: '+1h', type: 'demo.booked' }];
    const held = simulate(ab, { contact: contact({ id: idIn(true) }), start: T0, events });
    expect(held.arms).toEqual([{ splitId: 'ab', arm: 'control', holdout: true }]);
    expect(held.heldOut).toBe(1);
    expect(held.actions.map((a) => a.action.kind)).toEqual(['record_arm', 'record_goal']);
    expect(held.goals).toEqual(['demo']);
    expect(held.cost.byChannel).toEqual({});
    const text = formatSimulation(held).split('\n');
    expect(text).toContain('2025-03-03 02:00:00 Mon  +0s            split assigned: control (holdout) → mail');
    expect(text).toContain('2025-03-03 02:00:00 Mon  +0s            held out: email welcome not sent: arm control of split ab is a holdout');
    expect(text.some((l) => l.includes('email welcome ('))).toBe(false);
    expect(text.at(-1)).toBe('arms: ab → control (holdout); 1 message held back');

    const treated = simulate(ab, { contact: contact({ id: idIn(false) }), start: T0, events });
    expect(treated.arms).toEqual([{ splitId: 'ab', arm: 'treatment', holdout: false }]);
    expect(treated.heldOut).toBe(0);
    expect(treated.actions.map((a) => a.action.kind)).toEqual(['record_arm', 'send_email', 'record_goal']);
    const lines = formatSimulation(treated).split('\n');
    expect(lines).toContain('2025-03-03 02:00:00 Mon  +0s            email welcome (en)');
    expect(lines.at(-1)).toBe('arms: ab → treatment');
  });
});
