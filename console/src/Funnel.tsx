import { num, pct } from './format';
import { useT } from './i18n';

const BAR_H = 22;
const GAP = 6;
const LABEL_W = 170;
const BAR_W = 420;
const VALUE_W = 150;

export type FunnelRow = { id: string; label: string; value: number };

/**
 * A funnel as plain SVG: one bar per row in order (a journey's steps as contacts meet them, the lifecycle stages),
 * its length the row's value against the largest, its share against the first row's. Drawn by hand rather than with a
 * chart library: one bar per row needs no scales, axes or animation, and the pages stay within their bundle budget.
 */
export function Funnel({ rows, caption }: { rows: FunnelRow[]; caption: string }) {
  const { t, locale } = useT();
  const first = rows[0]?.value ?? 0;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const height = rows.length * (BAR_H + GAP);
  const share = (r: FunnelRow) => (first > 0 ? r.value / first : null);
  const summary = rows.map((r) => `${r.label}: ${num(r.value, locale)}${first > 0 ? ` (${pct(share(r), locale)})` : ''}`).join('; ');
  return (
    <figure className="funnel">
      <figcaption>{caption}</figcaption>
      <svg width={LABEL_W + BAR_W + VALUE_W} height={height} viewBox={`0 0 ${LABEL_W + BAR_W + VALUE_W} ${height}`} role="img" aria-label={t('funnelSummary', { summary })}>
        {rows.map((r, i) => {
          const y = i * (BAR_H + GAP);
          const w = Math.round((r.value / max) * BAR_W);
          return (
            <g key={r.id} data-funnel-step={r.id}>
              <text x={LABEL_W - 8} y={y + BAR_H / 2} textAnchor="end" dominantBaseline="central">
                {r.label}
              </text>
              <rect x={LABEL_W} y={y} width={BAR_W} height={BAR_H} fill="#eef3fd" />
              <rect x={LABEL_W} y={y} width={w} height={BAR_H} fill="#0b57d0" />
              <text x={LABEL_W + BAR_W + 8} y={y + BAR_H / 2} dominantBaseline="central" data-funnel-value>
                {num(r.value, locale)}
                {first > 0 ? ` · ${pct(share(r), locale)}` : ''}
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
