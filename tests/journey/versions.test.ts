import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { canonicalJson, contentHash, diffPlans, formatDiff } from '../../src/journey/versions';
import { compile, readJourney, SAMPLES } from './helpers';

describe('contentHash', () => {
  it('is stable across key order and YAML formatting', () => {
    const text = readJourney('new-lead-nurture');
    const a = compile(text);
    const reordered = Object.fromEntries(Object.entries(parse(text) as Record<string, unknown>).reverse());
    const b = compile(stringify(reordered, { indent: 4 }));
    expect(contentHash(b)).toBe(contentHash(a));
    expect(contentHash(a)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('pins the hash of a known plan (changing it means stored versions change identity)', () => {
    expect(canonicalJson({ b: 1, a: [{ d: undefined, c: 'x' }] })).toBe('{"a":[{"c":"x"}],"b":1}');
    const plan = compile({ id: 'h', name: 'H', triggers: [{ type: 'event', event: 'x' }], steps: { done: { type: 'exit' } } });
    expect(contentHash(plan)).toBe(contentHash(JSON.parse(JSON.stringify(plan))));
  });

  it('differs for every sample and for any change', () => {
    const hashes = SAMPLES.map((s) => contentHash(compile(readJourney(s))));
    expect(new Set(hashes).size).toBe(SAMPLES.length);
    const changed = compile(readJourney('new-lead-nurture').replace('timeout: 2d', 'timeout: 3d'));
    expect(contentHash(changed)).not.toBe(hashes[0]);
  });
});

describe('diffPlans', () => {
  it('lists added/removed steps and field changes with readable values', () => {
    const before = compile(readJourney('new-lead-nurture'));
    const text = readJourney('new-lead-nurture')
      .replace('timeout: 2d', 'timeout: 3d')
      .replace('quiet_hours: { start: "21:00", end: "08:00" }', 'quiet_hours: { start: "22:00", end: "08:00" }')
      .replace('    template: product-a-case-study\n', '    template: product-a-case-study\n    subject: Case study\n')
      .replace('  tag-reactivate:\n    type: tag\n    tags: [to-reactivate, 待激活]\n    next: no-response\n', '  tag-reactivate:\n    type: tag\n    tags: [to-reactivate]\n    next: notify\n  notify:\n    type: notify\n    channel: slack\n    to: owner\n    message: Silent lead\n    next: no-response\n')
      .replace('  nurtured:\n    type: exit\n    reason: nurtured\n', '')
      .replace('next: nurtured', 'next: no-response');
    const after = compile(text);
    const changes = diffPlans(before, after);
    expect(changes).toEqual(
      expect.arrayContaining([
        { kind: 'changed', path: 'steps.wait-click.timeoutMs', stepId: 'wait-click', before: 2 * 86_400_000, after: 3 * 86_400_000 },
        { kind: 'added', path: 'steps.case-study.subject', stepId: 'case-study', after: 'Case study' },
        { kind: 'changed', path: 'steps.case-study.next', stepId: 'case-study', before: 'nurtured', after: 'no-response' },
        { kind: 'changed', path: 'steps.tag-reactivate.tags', stepId: 'tag-reactivate', before: ['to-reactivate', '待激活'], after: ['to-reactivate'] },
        { kind: 'step_added', stepId: 'notify', stepType: 'notify' },
        { kind: 'step_removed', stepId: 'nurtured', stepType: 'exit' },
        { kind: 'changed', path: 'settings.quietHours.startMinute', before: 1260, after: 1320 },
      ]),
    );
    const text2 = formatDiff(changes);
    expect(text2).toContain('~ steps.wait-click.timeoutMs: 2d → 3d');
    expect(text2).toContain('~ settings.quietHours.startMinute: 21:00 → 22:00');
    expect(text2).toContain('+ step notify (notify)');
    expect(text2).toContain('- step nurtured (exit)');
  });

  it('reports no changes for equal plans', () => {
    const p = compile(readJourney('mql-handoff'));
    expect(diffPlans(p, compile(readJourney('mql-handoff')))).toEqual([]);
    expect(formatDiff([])).toBe('no changes');
  });
});
