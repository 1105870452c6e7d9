import type { JourneyStats } from './api';
import { num, pct } from './format';
import { useT } from './i18n';

const BAR_H = 22;
const GAP = 6;
const LABEL_W = 170;
const BAR_W = 420;
const VALUE_W = 150;

/**
 * The journey's step funnel as plain SVG: one bar per step in the order contacts meet them, its length the runs that
 * entered the step against the first step's. Drawn by hand rather than with a chart library: one bar per step needs no
 * scales, axes or animation, and the page stays within its bundle budget.
 */
export function Funnel({ steps, names }: { steps: JourneyStats['steps']; names: Map<string, string> }) {
  const { t, m, locale } = useT();
  const first = steps[0]?.entered ?? 0;
  const max = Math.max(1, ...steps.map((s) => s.entered));
  const height = steps.length * (BAR_H + GAP);
  const label = (s: JourneyStats['steps'][number]) => names.get(s.stepId) ?? s.stepId;
  const share = (s: JourneyStats['steps'][number]) => (first > 0 ? s.entered / first : null);
  const summary = steps.map((s) => `${label(s)}: ${num(s.entered, locale)}${first > 0 ? ` (${pct(share(s), locale)})` : ''}`).join('; ');
  return (
    <figure className="funnel">
      <figcaption>{m.funnel}</figcaption>
      <svg width={LABEL_W + BAR_W + VALUE_W} height={height} viewBox={`0 0 ${LABEL_W + BAR_W + VALUE_W} ${height}`} role="img" aria-label={t('funnelSummary', { summary })}>
        {steps.map((s, i) => {
          const y = i * (BAR_H + GAP);
          const w = Math.round((s.entered / max) * BAR_W);
          return (
            <g key={s.stepId} data-funnel-step={s.stepId}>
              <text x={LABEL_W - 8} y={y + BAR_H / 2} textAnchor="end" dominantBaseline="central">
                {label(s)}
              </text>
              <rect x={LABEL_W} y={y} width={BAR_W} height={BAR_H} fill="#eef3fd" />
              <rect x={LABEL_W} y={y} width={w} height={BAR_H} fill="#0b57d0" />
              <text x={LABEL_W + BAR_W + 8} y={y + BAR_H / 2} dominantBaseline="central" data-funnel-value>
                {num(s.entered, locale)}
                {first > 0 ? ` · ${pct(share(s), locale)}` : ''}
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
