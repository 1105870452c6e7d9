/**
 * The sample journeys: they compile with their templates, a corrupted copy of each fails with
 * path-qualified messages, and the simulator reproduces every path of each (using the sample
 * contacts and timelines under journeys/samples/).
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { compileJourney, formatError } from '../../src/journey/compiler';
import type { Action } from '../../src/journey/interpreter';
import type { JourneyPlan } from '../../src/journey/plan';
import type { Contact } from '../../src/journey/schema';
import { simulate, type SimulationOptions, type SimulationResult } from '../../src/journey/simulator';
import { catalog, readJourney, readJson, SAMPLES } from './helpers';

const plans = new Map<string, JourneyPlan>();
function planOf(name: string): JourneyPlan {
  let p = plans.get(name);
  if (!p) {
    const r = compileJourney(readJourney(name), { file: `journeys/${name}.yaml`, templates: catalog });
    if (!r.ok) throw new Error(r.errors.map(formatError).join('\n'));
    plans.set(name, (p = r.plan));
  }
  return p;
}

type TimelineFile = { start: string; events: SimulationOptions['events']; trigger?: SimulationOptions['trigger']; results?: SimulationOptions['results'] };

function run(name: string, contactFile: string, timelineFile: string, extra: Partial<SimulationOptions> = {}): SimulationResult {
  const t = readJson<TimelineFile>(`samples/${name}/${timelineFile}`);
  return simulate(planOf(name), {
    contact: readJson<Contact>(`samples/${name}/${contactFile}`),
    events: t.events,
    start: t.start,
    ...(t.trigger ? { trigger: t.trigger } : {}),
    ...(t.results ? { results: t.results } : {}),
    ...extra,
  });
}

const pathOf = (r: SimulationResult) => r.path.map((p) => p.stepId);
const sends = (r: SimulationResult) =>
  r.actions.flatMap((a) => (a.result === 'ok' && (a.action.kind === 'send_email' || a.action.kind === 'send_sms') ? [`${a.at} ${a.action.kind} ${a.action.template ?? ''}`] : []));
const actionsOf = <K extends Action['kind']>(r: SimulationResult, kind: K) =>
  r.actions.flatMap((a) => (a.action.kind === kind ? [{ at: a.at, ...(a.action as Extract<Action, { kind: K }>) }] : []));

describe('sample journeys compile', () => {
  it.each(SAMPLES)('%s compiles with its templates and no warnings', (name) => {
    const r = compileJourney(readJourney(name), { file: `journeys/${name}.yaml`, templates: catalog });
    expect(r.ok ? r.warnings.map(formatError) : r.errors.map(formatError)).toEqual([]);
    expect(catalog.problems).toEqual([]);
  });
});

/** Breaks a sample in three independent ways: a dangling reference, a bad duration, a misspelt key. */
function corrupt(doc: Record<string, unknown>): { doc: Record<string, unknown>; expected: RegExp[] } {
  const steps = doc.steps as Record<string, Record<string, unknown>>;
  const expected: RegExp[] = [];
  const withNext = Object.entries(steps).find(([, s]) => typeof s.next === 'string' || typeof s.on_event === 'string')!;
  const refKey = typeof withNext[1].next === 'string' ? 'next' : 'on_event';
  withNext[1][refKey] = 'no-such-step';
  expected.push(new RegExp(`: steps\\.${withNext[0]}\\.${refKey}: "no-such-step" is not a step in this journey`));
  const timed = Object.entries(steps).find(([, s]) => typeof s.duration === 'string' || typeof s.timeout === 'string');
  if (timed) {
    const key = typeof timed[1].duration === 'string' ? 'duration' : 'timeout';
    timed[1][key] = '2 dayz';
    expected.push(new RegExp(`: steps\\.${timed[0]}\\.${key}: "2 dayz" is not a duration \\(use 2d, 48h or P2D\\)`));
  } else {
    (doc.settings as Record<string, unknown>).event_lookback = '2 dayz';
    expected.push(/: settings\.event_lookback: "2 dayz" is not a duration/);
  }
  const last = Object.keys(steps).at(-1)!;
  steps[last]!.resaon = 'typo';
  expected.push(new RegExp(`: steps\\.${last}\\.resaon: unknown field`));
  return { doc, expected };
}

describe('corrupted samples fail with path-qualified messages', () => {
  it.each(SAMPLES)('%s', (name) => {
    const { doc, expected } = corrupt(parse(readJourney(name)) as Record<string, unknown>);
    const r = compileJourney(doc, { file: `journeys/${name}.yaml`, templates: catalog });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const messages = r.errors.map(formatError);
    for (const re of expected) expect(messages.some((m) => re.test(m)), `${re} in\n${messages.join('\n')}`).toBe(true);
    for (const m of messages) expect(m).toMatch(new RegExp(`^journeys/${name}\\.yaml: [a-z_]+[\\w.\\[\\]-]*: `));
  });

  it.each(SAMPLES)('%s with a YAML syntax error reports the line', (name) => {
    const text = readJourney(name).replace(/\nsteps:\n/, '\nsteps:\n  broken: [unclosed\n');
    const r = compileJourney(text, { file: `journeys/${name}.yaml` });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(formatError(r.errors[0]!)).toMatch(new RegExp(`^journeys/${name}\\.yaml: YAML syntax error at line \\d+`));
  });

  it.each(SAMPLES)('%s with a misspelt template name is caught', (name) => {
    const text = readJourney(name).replace(/template: ([a-z-]+)/, 'template: $1-typo');
    const r = compileJourney(text, { file: `journeys/${name}.yaml`, templates: catalog });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map(formatError).join('\n')).toMatch(/steps\.[\w-]+\.template: (email|sms|chat) template "[a-z-]+-typo" does not exist/);
  });
});

describe('new-lead-nurture paths', () => {
  it('clicked product A → case study two days later', () => {
    const r = run('new-lead-nurture', 'contact.json', 'timeline-clicked.json');
    expect(pathOf(r)).toEqual(['welcome', 'wait-click', 'wait-before-case-study', 'case-study', 'nurtured']);
    expect(sends(r)).toEqual(['2025-03-03T02:00:00.000Z send_email welcome', '2025-03-06T05:05:00.000Z send_email product-a-case-study']);
    expect(r.outcome).toEqual({ status: 'completed', reason: 'nurtured', at: '2025-03-06T05:05:00.000Z' });
    expect(actionsOf(r, 'send_email')[0]).toMatchObject({ locale: 'zh-CN' });
  });

  it('no click → SMS on day 7 (counted from entry), tagged to-reactivate and 待激活', () => {
    const r = run('new-lead-nurture', 'contact.json', 'timeline-silent.json');
    expect(pathOf(r)).toEqual(['welcome', 'wait-click', 'wait-until-day-7', 'sms-reminder', 'tag-reactivate', 'no-response']);
    expect(sends(r)).toEqual(['2025-03-03T02:00:00.000Z send_email welcome', '2025-03-10T02:00:00.000Z send_sms reactivation-reminder']);
    expect(r.contact.tags).toEqual(['to-reactivate', '待激活']);
    expect(r.outcome.status).toBe('completed');
    expect(r.cost).toEqual({ currency: 'CNY', total: 0.047, byChannel: { email: 0.002, sms: 0.045 } });
  });

  it('unsubscribing while waiting for the click exits', () => {
    const r = run('new-lead-nurture', 'contact.json', 'timeline-unsubscribed.json');
    expect(pathOf(r)).toEqual(['welcome', 'wait-click']);
    expect(r.outcome).toEqual({ status: 'exited', reason: 'unsubscribed', at: '2025-03-04T02:00:00.000Z' });
  });

  it('requesting a demo reaches the goal and ends the run during the wait', () => {
    const r = run('new-lead-nurture', 'contact.json', 'timeline-demo-requested.json');
    expect(pathOf(r)).toEqual(['welcome', 'wait-click', 'wait-before-case-study']);
    expect(r.goals).toEqual(['demo-requested']);
    expect(r.outcome).toMatchObject({ status: 'goal', reason: 'demo-requested' });
  });

  it('entering at 22:30 Shanghai time: welcome waits for 08:00, the day-7 SMS too', () => {
    const r = run('new-lead-nurture', 'contact-en-late-evening.json', 'timeline-late-evening.json');
    expect(sends(r)).toEqual(['2025-03-04T00:00:00.000Z send_email welcome', '2025-03-11T00:00:00.000Z send_sms reactivation-reminder']);
    expect(actionsOf(r, 'send_email')[0]).toMatchObject({ locale: 'en' });
    expect(r.log.filter((l) => l.kind === 'deferred_quiet_hours')).toHaveLength(2);
  });

  it('a contact already in sales exits before the first step', () => {
    const r = run('new-lead-nurture', 'contact.json', 'timeline-clicked.json', { contact: { ...readJson<Contact>('samples/new-lead-nurture/contact.json'), lifecycle_stage: 'customer' } });
    expect(pathOf(r)).toEqual([]);
    expect(r.outcome).toMatchObject({ status: 'exited', reason: 'already-in-sales' });
  });

  it('the email cap (3 per 7 days) defers the welcome when other journeys already mailed', () => {
    const prior = ['2025-02-27T02:00:00Z', '2025-03-01T02:00:00Z', '2025-03-02T02:00:00Z'].map((at) => ({ channel: 'email' as const, at }));
    const r = run('new-lead-nurture', 'contact.json', 'timeline-silent.json', { priorMessages: prior });
    expect(sends(r)[0]).toBe('2025-03-06T02:00:00.001Z send_email welcome');
    expect(r.log.some((l) => l.kind === 'deferred_frequency_cap')).toBe(true);
  });

  it('the SMS cap (1 per 7 days, skip) drops the reminder but still tags', () => {
    const r = run('new-lead-nurture', 'contact.json', 'timeline-silent.json', { priorMessages: [{ channel: 'sms', at: '2025-03-08T02:00:00Z' }] });
    expect(sends(r)).toEqual(['2025-03-03T02:00:00.000Z send_email welcome']);
    expect(pathOf(r)).toContain('tag-reactivate');
    expect(r.log.some((l) => l.kind === 'skipped_frequency_cap')).toBe(true);
  });
});

describe('webinar-follow-up paths', () => {
  it('attended → +20 score, untag no-show, survey at 10:00 the next weekday', () => {
    const r = run('webinar-follow-up', 'contact.json', 'timeline-attended.json');
    expect(pathOf(r)).toEqual(['attended-or-not', 'attended-score', 'clear-no-show', 'mark-attended', 'next-morning', 'survey-email', 'attended-done']);
    expect(r.contact).toMatchObject({ score: 30, tags: [], attributes: { source: 'website', last_webinar_status: 'attended' } });
    expect(sends(r)).toEqual(['2025-03-07T02:00:00.000Z send_email webinar-survey']);
  });

  it('registered but absent → tagged, replay and materials email', () => {
    const r = run('webinar-follow-up', 'contact.json', 'timeline-absent.json');
    expect(pathOf(r)).toEqual(['attended-or-not', 'tag-no-show', 'replay-email', 'absent-done']);
    expect(sends(r)).toEqual(['2025-03-06T08:00:00.000Z send_email webinar-replay']);
  });

  it('not registered → else branch', () => {
    const r = run('webinar-follow-up', 'contact.json', 'timeline-absent.json', { trigger: { type: 'webinar.ended', properties: { registered: false } } });
    expect(pathOf(r)).toEqual(['attended-or-not', 'not-registered']);
  });

  it('absent on a Saturday evening: the replay waits for Monday 09:00 (send windows)', () => {
    const r = run('webinar-follow-up', 'contact.json', 'timeline-absent.json', { start: '2025-03-08T10:00:00Z' }); // Sat 18:00
    expect(sends(r)).toEqual(['2025-03-10T01:00:00.000Z send_email webinar-replay']);
  });
});

describe('mql-handoff paths', () => {
  it('rep follows up within the hour → goal', () => {
    const r = run('mql-handoff', 'contact.json', 'timeline-followed-up.json');
    expect(pathOf(r)).toEqual(['mark-mql', 'assign-rep', 'sync-crm', 'notify-rep', 'wait-follow-up', 'followed-up']);
    expect(actionsOf(r, 'handoff_to_sales')[0]).toMatchObject({ strategy: 'territory', team: 'sales-east', task: { dueAt: Date.parse('2025-03-05T03:00:00Z') } });
    expect(actionsOf(r, 'notify')).toEqual([expect.objectContaining({ channel: 'wecom', to: 'owner', template: 'mql-assigned', locale: 'zh-CN' })]);
    expect(r.contact).toMatchObject({ lifecycle_stage: 'mql', owner_id: 'sales-east-rep-1' });
    expect(r.outcome).toMatchObject({ status: 'goal', reason: 'followed-up' });
  });

  it('no follow-up within an hour → escalate to the manager', () => {
    const r = run('mql-handoff', 'contact.json', 'timeline-no-follow-up.json');
    expect(pathOf(r)).toEqual(['mark-mql', 'assign-rep', 'sync-crm', 'notify-rep', 'wait-follow-up', 'escalate', 'escalated']);
    expect(actionsOf(r, 'notify').map((n) => [n.at, n.to])).toEqual([['2025-03-04T03:00:00.000Z', 'owner'], ['2025-03-04T04:00:00.000Z', 'manager']]);
  });

  it('no region → fallback team', () => {
    const r = run('mql-handoff', 'contact-no-region.json', 'timeline-followed-up.json');
    expect(actionsOf(r, 'handoff_to_sales')[0]).toMatchObject({ team: 'sales-inside' });
    expect(actionsOf(r, 'notify')[0]).toMatchObject({ locale: 'en' });
  });

  it('assignment fails → sales ops are told, run ends', () => {
    const r = run('mql-handoff', 'contact.json', 'timeline-assignment-fails.json');
    expect(pathOf(r)).toEqual(['mark-mql', 'assign-rep', 'assignment-failed', 'escalated']);
    expect(actionsOf(r, 'notify')[0]).toMatchObject({ to: { group: 'sales-ops' } });
  });
});

describe('stale-opportunity paths', () => {
  it('no update for 15 days → owner reminded; 30 days → manager', () => {
    const r = run('stale-opportunity', 'contact.json', 'timeline-stale.json');
    expect(pathOf(r)).toEqual(['watch', 'remind-owner', 'watch-more', 'notify-manager', 'stale']);
    expect(actionsOf(r, 'notify').map((n) => [n.at, n.to])).toEqual([['2025-03-16T02:00:00.000Z', 'owner'], ['2025-03-31T02:00:00.000Z', 'manager']]);
  });

  it('updates restart the clock; closing won reaches the goal', () => {
    const r = run('stale-opportunity', 'contact.json', 'timeline-updated.json');
    expect(pathOf(r)).toEqual(['watch', 'watch', 'watch']);
    expect(actionsOf(r, 'notify')).toEqual([]);
    expect(r.outcome).toMatchObject({ status: 'goal', reason: 'won', at: '2025-03-27T02:00:00.000Z' });
  });

  it('reminded, then closed lost → exit', () => {
    const r = run('stale-opportunity', 'contact.json', 'timeline-reminded-then-lost.json');
    expect(pathOf(r)).toEqual(['watch', 'remind-owner', 'watch-more']);
    expect(r.outcome).toMatchObject({ status: 'exited', reason: 'closed' });
  });
});

describe('industry-content paths', () => {
  it.each([
    ['contact-manufacturing-cfo.json', ['by-industry', 'manufacturing-role', 'wp-manufacturing-cfo'], 'whitepaper-manufacturing-cfo'],
    ['contact-manufacturing.json', ['by-industry', 'manufacturing-role', 'wp-manufacturing'], 'whitepaper-manufacturing'],
    ['contact-high-tech-cfo.json', ['by-industry', 'high-tech-role', 'wp-high-tech-cfo'], 'whitepaper-high-tech-cfo'],
    ['contact-high-tech.json', ['by-industry', 'high-tech-role', 'wp-high-tech'], 'whitepaper-high-tech'],
  ])('%s gets its tailored whitepaper', (file, path, template) => {
    const r = run('industry-content', file, 'timeline.json');
    expect(pathOf(r).slice(0, 3)).toEqual(path);
    expect(actionsOf(r, 'send_email')).toEqual([expect.objectContaining({ template })]);
  });

  it('a download is recorded as a (non-exiting) goal and ends the wait', () => {
    const r = run('industry-content', 'contact-manufacturing-cfo.json', 'timeline.json');
    expect(r.goals).toEqual(['whitepaper-downloaded']);
    expect(pathOf(r).slice(3)).toEqual(['wait-download', 'downloaded']);
  });

  it('high-tech contacts in Berlin get mail inside their own send window', () => {
    const r = run('industry-content', 'contact-high-tech.json', 'timeline.json');
    expect(sends(r)).toEqual(['2025-03-04T08:00:00.000Z send_email whitepaper-high-tech']); // 09:00 Berlin
  });

  it('everyone else is split 45/45/10 deterministically, holdout included', () => {
    const base = readJson<Contact>('samples/industry-content/contact-other.json');
    const seen = new Map<string, string[]>();
    for (let i = 0; i < 60; i++) {
      const r = run('industry-content', 'contact-other.json', 'timeline.json', { contact: { ...base, id: `other-${i}` } });
      const p = pathOf(r);
      expect(p.slice(0, 2)).toEqual(['by-industry', 'general-split']);
      seen.set(p[2]!, p);
      const again = run('industry-content', 'contact-other.json', 'timeline.json', { contact: { ...base, id: `other-${i}` } });
      expect(pathOf(again)).toEqual(p);
    }
    expect([...seen.keys()].sort()).toEqual(['holdout', 'wp-general', 'wp-general-b']);
    expect(seen.get('holdout')).toEqual(['by-industry', 'general-split', 'holdout', 'holdout-done']);
    const b = run('industry-content', 'contact-other.json', 'timeline.json', { contact: { ...base, id: [...Array(60).keys()].map((i) => `other-${i}`).find((id) => pathOf(run('industry-content', 'contact-other.json', 'timeline.json', { contact: { ...base, id } }))[2] === 'wp-general-b')! } });
    expect(actionsOf(b, 'send_email')[0]).toMatchObject({ template: 'whitepaper-general', subject: '{{default first_name "Hi"}}, 3 ideas to cut cost in 2025' });
  });
});
