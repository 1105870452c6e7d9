/**
 * The pure half of the benchmark harness: percentiles, the result-file shape, summary.md and the SVG charts. No
 * clocks and no I/O here, so tests/bench/harness.test.ts can check every byte from fixed inputs.
 */
import os from 'node:os';

export type Machine = { cpus: number; model: string; memGiB: number; node: string; os: string };

export function machineInfo(): Machine {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    model: cpus[0]?.model.trim() ?? 'unknown',
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

/** A bound one figure must respect: `value >= 40`, `ratio >= 0.9`, `value <= 50` (ms)… */
export type Target = { on: 'value' | 'ratio'; op: '>=' | '<='; bound: number };

/** One figure of a scenario. `baseline`/`ratio` are null when the figure has no side-by-side baseline. */
export type Metric = {
  metric: string;
  value: number;
  unit: string;
  baseline: number | null;
  ratio: number | null;
  /** What drawing it takes: a throughput (higher is better) or a latency (lower is better). */
  kind: 'throughput' | 'latency' | 'size' | 'info';
  targets?: Target[];
  /** The baseline's name in tables and charts (e.g. "bare Temporal"). */
  baselineName?: string;
};

/**
 * Exactly what bench/results/<scenario>.json holds: the headline figure at the top, every figure in `metrics`; what
 * a reader should know about the run (targets missed for a reason, where the CPU went) in `params.notes`.
 */
export type ScenarioResult = {
  scenario: string;
  metric: string;
  value: number;
  unit: string;
  baseline: number | null;
  ratio: number | null;
  params: Record<string, unknown> & { notes?: string[] };
  machine: Machine;
  date: string;
  metrics: (Metric & { met: boolean | null })[];
};

/** Nearest-rank percentile (p in 0..100) of unsorted samples; null for no samples. */
export function percentile(samples: readonly number[], p: number): number | null {
  if (samples.length === 0) return null;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is not in 0..100`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export const round = (n: number, digits = 2): number => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

/** ours / baseline, rounded; null when there is no usable baseline. */
export function ratioOf(value: number, baseline: number | null): number | null {
  if (baseline === null || !Number.isFinite(baseline) || baseline === 0) return null;
  return round(value / baseline, 2);
}

export function targetMet(m: Pick<Metric, 'value' | 'ratio' | 'targets'>): boolean | null {
  if (!m.targets?.length) return null;
  return m.targets.every((t) => {
    const x = t.on === 'value' ? m.value : m.ratio;
    if (x === null || !Number.isFinite(x)) return false;
    return t.op === '>=' ? x >= t.bound : x <= t.bound;
  });
}

export function formatTarget(m: Pick<Metric, 'unit' | 'targets'>): string {
  if (!m.targets?.length) return '—';
  return m.targets.map((t) => `${t.on === 'ratio' ? 'ratio' : ''} ${t.op === '>=' ? '≥' : '≤'} ${formatNumber(t.bound)}${t.on === 'value' ? ` ${m.unit}` : ''}`.trim()).join(', ');
}

export function formatNumber(n: number | null): string {
  if (n === null || Number.isNaN(n)) return '—';
  const abs = Math.abs(n);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** Builds the result object; the first metric is the headline copied to the top-level fields. */
export function scenarioResult(args: {
  scenario: string;
  metrics: Metric[];
  params: Record<string, unknown>;
  machine: Machine;
  date: string;
  notes?: string[];
}): ScenarioResult {
  const head = args.metrics[0];
  if (!head) throw new Error(`scenario ${args.scenario} produced no figure`);
  return {
    scenario: args.scenario,
    metric: head.metric,
    value: head.value,
    unit: head.unit,
    baseline: head.baseline,
    ratio: head.ratio,
    params: { ...args.params, ...(args.notes?.length ? { notes: args.notes } : {}) },
    machine: args.machine,
    date: args.date,
    metrics: args.metrics.map((m) => ({ ...m, met: targetMet(m) })),
  };
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** The rows of the summary table, one per figure. */
export function summaryRows(results: readonly ScenarioResult[]): string[][] {
  return results.flatMap((r) =>
    r.metrics.map((m) => [
      r.scenario,
      m.metric,
      `${formatNumber(m.value)} ${m.unit}`,
      m.baseline === null ? '—' : `${formatNumber(m.baseline)} ${m.unit}${m.baselineName ? ` (${m.baselineName})` : ''}`,
      m.ratio === null ? '—' : formatNumber(m.ratio),
      formatTarget(m),
      m.met === null ? '—' : m.met ? 'yes' : '**no**',
    ]),
  );
}

export const SUMMARY_HEADER = ['scenario', 'metric', 'value', 'baseline', 'ratio', 'target', 'met?'];

export function summaryMarkdown(
  results: readonly ScenarioResult[],
  meta: { date: string; machine: Machine; mode: string; wallSeconds: number | null; loadAverage?: number },
): string {
  const lines = [
    `# itinera benchmarks (${meta.mode})`,
    '',
    `${meta.date} · ${meta.machine.cpus} × ${meta.machine.model} · ${meta.machine.memGiB} GiB · Node ${meta.machine.node} · ${meta.machine.os}` +
      (meta.wallSeconds !== null ? ` · whole run ${formatNumber(meta.wallSeconds)} s` : '') +
      (meta.loadAverage !== undefined ? ` · load average ${formatNumber(meta.loadAverage)} at the start (shared machine)` : ''),
    '',
    `| ${SUMMARY_HEADER.join(' | ')} |`,
    `| ${SUMMARY_HEADER.map(() => '---').join(' | ')} |`,
    ...summaryRows(results).map((row) => `| ${row.map(cell).join(' | ')} |`),
    '',
  ];
  const notes = results.flatMap((r) => (r.params.notes ?? []).map((n) => `- **${r.scenario}**: ${n}`));
  if (notes.length) lines.push('## Notes', '', ...notes, '');
  lines.push('Charts: [throughput.svg](throughput.svg), [latency.svg](latency.svg). Raw figures: `<scenario>.json`.', '');
  return lines.join('\n');
}

/** Plain-text table for the terminal, columns padded. */
export function summaryTable(results: readonly ScenarioResult[]): string {
  const rows = [SUMMARY_HEADER, ...summaryRows(results).map((r) => r.map((c) => c.replace(/\*\*/g, '')))];
  const widths = SUMMARY_HEADER.map((_, i) => Math.max(...rows.map((r) => [...r[i]!].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Charts: hand-written SVG, one group of bars per figure, each group scaled to its own largest bar (the units differ).

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

type Bar = { label: string; value: number; color: string };
type Group = { title: string; unit: string; bars: Bar[]; target?: number };

const OURS = '#2f6fdf';
const BASE = '#9aa5b1';
const MISSED = '#d9534f';

function barChart(title: string, subtitle: string, groups: readonly Group[]): string {
  const width = 800;
  const left = 270;
  const barH = 18;
  const gap = 6;
  const plotW = width - left - 150;
  let y = 64;
  const parts: string[] = [];
  for (const g of groups) {
    const max = Math.max(...g.bars.map((b) => b.value), g.target ?? 0) || 1;
    parts.push(`<text x="12" y="${y + 12}" class="g">${esc(g.title)}</text>`);
    y += 20;
    for (const b of g.bars) {
      const w = Math.max(1, Math.round((b.value / max) * plotW));
      parts.push(
        `<text x="${left - 8}" y="${y + barH - 5}" class="l" text-anchor="end">${esc(b.label)}</text>`,
        `<rect x="${left}" y="${y}" width="${w}" height="${barH}" fill="${b.color}"><title>${esc(`${b.label}: ${formatNumber(b.value)} ${g.unit}`)}</title></rect>`,
        `<text x="${left + w + 6}" y="${y + barH - 5}" class="v">${esc(`${formatNumber(b.value)} ${g.unit}`)}</text>`,
      );
      y += barH + gap;
    }
    if (g.target !== undefined) {
      const x = left + Math.round((g.target / max) * plotW);
      const top = y - g.bars.length * (barH + gap) - 2;
      parts.push(
        `<line x1="${x}" y1="${top}" x2="${x}" y2="${y - gap + 2}" stroke="#222" stroke-dasharray="4 3"/>`,
        `<text x="${x + 3}" y="${top - 2}" class="t">${esc(`target ${formatNumber(g.target)}`)}</text>`,
      );
    }
    y += 14;
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif">`,
    '<style>.g{font-size:13px;font-weight:600}.l{font-size:12px}.v{font-size:12px}.t{font-size:10px;fill:#222}</style>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="12" y="24" font-size="16" font-weight="700">${esc(title)}</text>`,
    `<text x="12" y="44" font-size="12" fill="#555">${esc(subtitle)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

const valueTarget = (m: Metric): number | undefined => m.targets?.find((t) => t.on === 'value')?.bound;

/** Ours vs baseline for every throughput figure (bars in red when the figure misses its target). */
export function throughputSvg(results: readonly ScenarioResult[]): string {
  const groups: Group[] = results.flatMap((r) =>
    r.metrics
      .filter((m) => m.kind === 'throughput')
      .map((m) => ({
        title: `${r.scenario}: ${m.metric}${m.ratio !== null ? ` (ratio ${formatNumber(m.ratio)})` : ''}`,
        unit: m.unit,
        ...(valueTarget(m) !== undefined ? { target: valueTarget(m) } : {}),
        bars: [
          { label: 'itinera', value: m.value, color: m.met === false ? MISSED : OURS },
          ...(m.baseline !== null ? [{ label: m.baselineName ?? 'baseline', value: m.baseline, color: BASE }] : []),
        ],
      })),
  );
  return barChart('Throughput: itinera vs baseline (higher is better)', 'each group is scaled to its own largest bar; dashed line = target', groups);
}

/** Latency percentiles per scenario (p50 and p99 side by side; baseline bars where one was measured). */
export function latencySvg(results: readonly ScenarioResult[]): string {
  const groups: Group[] = [];
  for (const r of results) {
    const lat = r.metrics.filter((m) => m.kind === 'latency');
    // p50/p99 pairs share a group: "<name> p50" + "<name> p99".
    const names = [...new Set(lat.map((m) => m.metric.replace(/_?p\d+(_ms)?$/, '')))];
    for (const name of names) {
      const members = lat.filter((m) => m.metric.replace(/_?p\d+(_ms)?$/, '') === name);
      const bars: Bar[] = [];
      for (const m of members) {
        const p = /p(\d+)/.exec(m.metric)?.[0] ?? m.metric;
        bars.push({ label: `itinera ${p}`, value: m.value, color: m.met === false ? MISSED : OURS });
        if (m.baseline !== null) bars.push({ label: `${m.baselineName ?? 'baseline'} ${p}`, value: m.baseline, color: BASE });
      }
      const target = members.map(valueTarget).find((t) => t !== undefined);
      groups.push({ title: `${r.scenario}: ${name}`, unit: members[0]!.unit, bars, ...(target !== undefined ? { target } : {}) });
    }
  }
  return barChart('Latency percentiles (lower is better)', 'each group is scaled to its own largest bar; dashed line = p99 target', groups);
}
