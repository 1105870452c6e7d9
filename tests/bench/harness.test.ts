import { describe, expect, it } from 'vitest';
import {
  formatTarget,
  latencySvg,
  percentile,
  ratioOf,
  scenarioResult,
  summaryMarkdown,
  summaryRows,
  targetMet,
  throughputSvg,
  type Machine,
  type Metric,
} from '../../bench/lib/report';

const machine: Machine = { cpus: 2, model: 'Test CPU', memGiB: 8, node: 'v20.0.0', os: 'Linux 6 x64' };
const date = '2026-01-02T03:04:05.000Z';

const journeys: Metric = {
  metric: 'journeys_per_second', value: 45, unit: 'journeys/s', baseline: 50, ratio: ratioOf(45, 50), kind: 'throughput', baselineName: 'bare Temporal',
  targets: [{ on: 'value', op: '>=', bound: 40 }, { on: 'ratio', op: '>=', bound: 0.9 }],
};
const ingestP50: Metric = { metric: 'latency_p50', value: 12, unit: 'ms', baseline: 6, ratio: 2, kind: 'latency' };
const ingestP99: Metric = { metric: 'latency_p99', value: 80, unit: 'ms', baseline: 20, ratio: 4, kind: 'latency', targets: [{ on: 'value', op: '<=', bound: 50 }] };

describe('bench harness: pure pieces', () => {
  it('computes nearest-rank percentiles', () => {
    const xs = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(percentile(xs, 50)).toBe(5);
    expect(percentile(xs, 90)).toBe(9);
    expect(percentile(xs, 99)).toBe(10);
    expect(percentile(xs, 100)).toBe(10);
    expect(percentile(xs, 0)).toBe(1);
    expect(percentile([42], 99)).toBe(42);
    expect(percentile([], 50)).toBeNull();
    expect(() => percentile(xs, 101)).toThrow(RangeError);
    // The input is not reordered.
    expect(xs[0]).toBe(5);
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 50)).toBe(50);
  });

  it('computes ratios and checks targets on value and ratio', () => {
    expect(ratioOf(45, 50)).toBe(0.9);
    expect(ratioOf(1, 3)).toBe(0.33);
    expect(ratioOf(5, 0)).toBeNull();
    expect(ratioOf(5, null)).toBeNull();
    expect(targetMet(journeys)).toBe(true);
    expect(targetMet({ ...journeys, ratio: 0.89 })).toBe(false);
    expect(targetMet({ ...journeys, value: 39.9 })).toBe(false);
    expect(targetMet(ingestP99)).toBe(false);
    expect(targetMet({ ...ingestP99, value: 50 })).toBe(true);
    expect(targetMet(ingestP50)).toBeNull();
    expect(targetMet({ ...ingestP99, value: Number.NaN })).toBe(false);
    expect(formatTarget(journeys)).toBe('≥ 40 journeys/s, ratio ≥ 0.9');
    expect(formatTarget(ingestP99)).toBe('≤ 50 ms');
  });

  it('writes the result file shape: headline fields first, every figure in metrics', () => {
    const r = scenarioResult({ scenario: 'ingest', metrics: [{ ...journeys, metric: 'events_per_second', unit: 'events/s' }, ingestP50, ingestP99], params: { seconds: 5 }, machine, date });
    expect(Object.keys(r)).toEqual(['scenario', 'metric', 'value', 'unit', 'baseline', 'ratio', 'params', 'machine', 'date', 'metrics']);
    expect(r).toMatchObject({ scenario: 'ingest', metric: 'events_per_second', value: 45, unit: 'events/s', baseline: 50, ratio: 0.9, params: { seconds: 5 }, machine, date });
    expect(Object.keys(r.machine)).toEqual(['cpus', 'model', 'memGiB', 'node', 'os']);
    expect(r.metrics.map((m) => [m.metric, m.met])).toEqual([['events_per_second', true], ['latency_p50', null], ['latency_p99', false]]);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    expect(() => scenarioResult({ scenario: 'empty', metrics: [], params: {}, machine, date })).toThrow(/no figure/);
    const withNotes = scenarioResult({ scenario: 'x', metrics: [ingestP50], params: {}, machine, date, notes: ['n1'] });
    expect(withNotes.params.notes).toEqual(['n1']);
    expect(Object.keys(withNotes)).toEqual(['scenario', 'metric', 'value', 'unit', 'baseline', 'ratio', 'params', 'machine', 'date', 'metrics']);
  });

  it('renders summary.md with one row per figure, target and met?', () => {
    const results = [
      scenarioResult({ scenario: 'journeys', metrics: [journeys], params: {}, machine, date }),
      scenarioResult({ scenario: 'ingest', metrics: [ingestP50, ingestP99], params: {}, machine, date, notes: ['a | note'] }),
    ];
    expect(summaryRows(results)).toEqual([
      ['journeys', 'journeys_per_second', '45 journeys/s', '50 journeys/s (bare Temporal)', '0.9', '≥ 40 journeys/s, ratio ≥ 0.9', 'yes'],
      ['ingest', 'latency_p50', '12 ms', '6 ms', '2', '—', '—'],
      ['ingest', 'latency_p99', '80 ms', '20 ms', '4', '≤ 50 ms', '**no**'],
    ]);
    const md = summaryMarkdown(results, { date, machine, mode: 'quick', wallSeconds: 170.4 });
    const lines = md.split('\n');
    expect(lines[0]).toBe('# itinera benchmarks (quick)');
    expect(md).toContain('2 × Test CPU · 8 GiB · Node v20.0.0 · Linux 6 x64 · whole run 170 s');
    expect(lines).toContain('| scenario | metric | value | baseline | ratio | target | met? |');
    expect(lines).toContain('| journeys | journeys_per_second | 45 journeys/s | 50 journeys/s (bare Temporal) | 0.9 | ≥ 40 journeys/s, ratio ≥ 0.9 | yes |');
    expect(lines).toContain('| ingest | latency_p99 | 80 ms | 20 ms | 4 | ≤ 50 ms | **no** |');
    expect(lines).toContain('- **ingest**: a | note');
    expect(summaryMarkdown(results, { date, machine, mode: 'full', wallSeconds: null, loadAverage: 3.5 })).toContain('Linux 6 x64 · load average 3.5 at the start (shared machine)');
  });

  it('draws hand-written SVG bar charts from fixed inputs', () => {
    const results = [
      scenarioResult({ scenario: 'journeys', metrics: [journeys], params: {}, machine, date }),
      scenarioResult({ scenario: 'ingest', metrics: [ingestP50, ingestP99], params: {}, machine, date }),
    ];
    const t = throughputSvg(results);
    expect(t.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(t.trimEnd().endsWith('</svg>')).toBe(true);
    // Background + ours + baseline.
    expect(t.match(/<rect /g)).toHaveLength(3);
    expect(t).toContain('journeys: journeys_per_second (ratio 0.9)');
    expect(t).toContain('target 40');
    // Ours is the longer bar's 45/50 of the plot width (380 px).
    expect(t).toContain('<rect x="270" y="84" width="342" height="18" fill="#2f6fdf">');
    expect(t).toContain('width="380" height="18" fill="#9aa5b1"');

    const l = latencySvg(results);
    // Background + p50 ours/bare + p99 ours/bare, in one group; the missed p99 is drawn red.
    expect(l.match(/<rect /g)).toHaveLength(5);
    expect(l).toContain('ingest: latency');
    expect(l).toContain('itinera p99');
    expect(l).toContain('fill="#d9534f"');
    expect(l).toContain('target 50');
    expect(throughputSvg([])).toContain('</svg>');
    // Text is escaped.
    expect(throughputSvg([scenarioResult({ scenario: 'a<b&c', metrics: [journeys], params: {}, machine, date })])).toContain('a&lt;b&amp;c');
  });
});
