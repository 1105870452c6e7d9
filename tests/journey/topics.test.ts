import { describe, expect, it } from 'vitest';
import { compileJourney } from '../../src/journey/compiler';
import { loadConfig } from '../../src/config';

const journey = (step: string) => `
id: t
name: T
triggers: [{ type: event, event: lead.created }]
start: s
steps:
  s:
${step}
    next: done
  done: { type: exit }
`;

describe('a send step carries a configured subscription topic', () => {
  it('compiles a known topic into the plan', () => {
    const r = compileJourney(journey('    type: send_email\n    template: welcome\n    topic: newsletter'));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.plan.steps['s']).toMatchObject({ type: 'send_email', topic: 'newsletter', category: 'marketing' });
    const sms = compileJourney(journey('    type: send_sms\n    body: hi\n    topic: events'));
    expect(sms.ok).toBe(true);
    if (sms.ok) expect(sms.plan.steps['s']).toMatchObject({ type: 'send_sms', topic: 'events' });
  });

  it('refuses an unknown topic with its path and a suggestion', () => {
    const r = compileJourney(journey('    type: send_email\n    template: welcome\n    topic: newsleter'));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      const e = r.errors.find((x) => x.path === 'steps.s.topic');
      expect(e?.message).toContain('"newsleter" is not a configured topic');
      expect(e?.message).toContain('did you mean "newsletter"');
    }
  });

  it('checks against the deployment topics, not the defaults, when given', () => {
    const topics = [{ id: 'launches', label: { en: 'Launches', 'zh-CN': '发布' } }];
    expect(compileJourney(journey('    type: send_email\n    template: welcome\n    topic: launches'), { topics }).ok).toBe(true);
    expect(compileJourney(journey('    type: send_email\n    template: welcome\n    topic: newsletter'), { topics }).ok).toBe(false);
  });

  it('refuses a topic on a transactional message (it would be ignored)', () => {
    const r = compileJourney(journey('    type: send_email\n    template: welcome\n    category: transactional\n    topic: newsletter'));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.find((x) => x.path === 'steps.s.topic')?.message).toMatch(/only marketing messages have a topic/);
  });
});

describe('MAIL_TOPICS', () => {
  it('defaults to newsletter, product_updates and events with zh-CN and en labels', () => {
    const topics = loadConfig({}).mail.topics;
    expect(topics.map((t) => t.id)).toEqual(['newsletter', 'product_updates', 'events']);
    for (const t of topics) expect(t.label['zh-CN'].length && t.label.en.length).toBeGreaterThan(0);
  });

  it('parses a JSON list and names the variable in every error', () => {
    expect(loadConfig({ MAIL_TOPICS: '[{"id":"launches","label":{"en":"Launches","zh-CN":"发布"}}]' }).mail.topics).toEqual([
      { id: 'launches', label: { en: 'Launches', 'zh-CN': '发布' } },
    ]);
    expect(() => loadConfig({ MAIL_TOPICS: 'newsletter' })).toThrow(/MAIL_TOPICS must be a JSON array/);
    expect(() => loadConfig({ MAIL_TOPICS: '[{"id":"News","label":{"en":"N","zh-CN":"新"}}]' })).toThrow(/MAIL_TOPICS entry 1 id must be/);
    expect(() => loadConfig({ MAIL_TOPICS: '[{"id":"news","label":{"en":"N"}}]' })).toThrow(/MAIL_TOPICS/);
    expect(() => loadConfig({ MAIL_TOPICS: '[{"id":"a","label":{"en":"A","zh-CN":"甲"}},{"id":"a","label":{"en":"A","zh-CN":"甲"}}]' })).toThrow(/MAIL_TOPICS.*declared twice/);
  });
});
