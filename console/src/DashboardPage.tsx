import { useEffect, useMemo, useState } from 'react';
import { api, ApiError, type FunnelReport, type MessageBucket, type MessageVolume, type ResponseReport, type Spread } from './api';
import { Funnel } from './Funnel';
import { num, pct, useTimeIn, timeIn } from './format';
import { useT, type Messages } from './i18n';

const DAY = 86_400_000;
const RANGES = [7, 30, 90] as const;
type Range = (typeof RANGES)[number];
/** Columns a chart of the range draws: a week of days, a month of days, a quarter of weeks. */
const BUCKET_OF: Record<Range, MessageBucket> = { 7: 'day', 30: 'day', 90: 'week' };
const STAGES = ['lead', 'mql', 'sql', 'opportunity', 'customer'] as const;
/** Channel colours, each with at least 4.5:1 contrast on white (they also colour the legend's text-free swatches). */
const CHANNEL_COLOURS: Record<string, string> = { email: '#0b57d0', sms: '#1e6b2e', chat: '#7b3fa0', webhook: '#a14a00', crm: '#5f6368' };
const colour = (channel: string) => CHANNEL_COLOURS[channel] ?? '#333333';

type Data = { funnel: FunnelReport; response: ResponseReport; volume: MessageVolume };

/**
 * The dashboard: the lifecycle funnel and lead response times (GET /v1/analytics/funnel, /response-times) and messages
 * by channel over time (GET /v1/analytics/messages), for the last 7, 30 or 90 days, in the viewer's zone.
 */
export default function DashboardPage({ onError }: { onError: (err: unknown) => void }) {
  const { t, m } = useT();
  const { zone: viewerZone } = useTimeIn();
  const [range, setRange] = useState<Range>(30);
  const [data, setData] = useState<Data | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stop = false;
    setData(null);
    setError(null);
    const to = new Date();
    const from = new Date(to.getTime() - range * DAY);
    const [f, tt] = [from.toISOString(), to.toISOString()];
    // A zone this browser knows but the server does not (rare aliases) is answered 400: the chart falls back to UTC.
    const volume = api.messageVolume(f, tt, BUCKET_OF[range], viewerZone).catch((err: unknown) => (err instanceof ApiError && err.status === 400 ? api.messageVolume(f, tt, BUCKET_OF[range], 'UTC') : Promise.reject(err)));
    Promise.all([api.funnel(f, tt), api.responseTimes(f, tt), volume]).then(
      ([funnel, response, v]) => !stop && setData({ funnel, response, volume: v }),
      (err: unknown) => {
        if (stop) return;
        onError(err);
        setError((err as Error).message);
      },
    );
    return () => {
      stop = true;
    };
  }, [range, viewerZone, onError]);

  return (
    <section className="dashboard">
      <h1>{m.dashboardTitle}</h1>
      <div className="toolbar">
        <label>
          {m.dashboardRange}{' '}
          <select value={range} onChange={(e) => setRange(Number(e.target.value) as Range)}>
            {RANGES.map((r) => (
              <option key={r} value={r}>
                {t('dashboardLastDays', { n: r })}
              </option>
            ))}
          </select>
        </label>
        {data && (
          <span className="hint" data-range>
            {t('dashboardPeriod', { from: timeIn(data.volume.from, data.volume.timeZone), to: timeIn(data.volume.to, data.volume.timeZone) })}
          </span>
        )}
      </div>
      {error && (
        <p role="alert" className="error">
          {t('error', { message: error })}
        </p>
      )}
      {!data && !error && <p>{m.loading}</p>}
      {data && (
        <div className="grid">
          <LifecycleFunnel report={data.funnel} />
          <ResponseTimes report={data.response} />
        </div>
      )}
      {data && <MessagesChart volume={data.volume} />}
    </section>
  );
}

function LifecycleFunnel({ report }: { report: FunnelReport }) {
  const { t, m, locale } = useT();
  const g = report.groups[0];
  const rows = STAGES.map((stage) => ({ id: stage, label: m.stageNames[stage] ?? stage, value: g?.stages.find((s) => s.stage === stage)?.reached ?? 0 }));
  return (
    <section className="panel" aria-labelledby="dash-funnel-title" data-panel="funnel">
      <h2 id="dash-funnel-title">{m.lifecycleFunnel}</h2>
      {!g || g.contacts === 0 ? (
        <p className="hint">{m.noFunnel}</p>
      ) : (
        <>
          <p className="hint">{t('funnelContacts', { n: num(g.contacts, locale) })}</p>
          <Funnel caption={m.lifecycleFunnelCaption} rows={rows} />
          <table>
            <caption>{m.stageDetail}</caption>
            <thead>
              <tr>
                <th scope="col">{m.stage}</th>
                <th scope="col">{m.toNext}</th>
                <th scope="col">{m.medianInStage}</th>
                <th scope="col">{m.stuckCol}</th>
              </tr>
            </thead>
            <tbody>
              {g.stages.map((s) => (
                <tr key={s.stage} data-stage={s.stage}>
                  <td>{m.stageNames[s.stage] ?? s.stage}</td>
                  <td className="n">{pct(s.conversionToNext, locale)}</td>
                  <td className="n">{duration(s.medianSecondsInStage, locale)}</td>
                  <td className="n">{num(s.stuck, locale)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

/** A duration in the largest unit that keeps it ≥ 1 (42 s, 31 min, 2.5 h, 3.1 days), in the page's language. */
export function duration(seconds: number | null, locale: string): string {
  if (seconds === null) return '—';
  const [value, unit] = seconds < 60 ? [seconds, 'second'] : seconds < 3600 ? [seconds / 60, 'minute'] : seconds < 86_400 ? [seconds / 3600, 'hour'] : [seconds / 86_400, 'day'];
  return new Intl.NumberFormat(locale, { style: 'unit', unit, unitDisplay: 'short', maximumFractionDigits: 1 }).format(value);
}

function ResponseTimes({ report }: { report: ResponseReport }) {
  const { t, m, locale } = useT();
  const g = report.groups[0];
  const legs: [keyof Messages, Spread][] = g
    ? [
        ['legMqlToHandoff', g.mqlToHandoffSeconds],
        ['legHandoffToTouch', g.handoffToTouchSeconds],
        ['legMqlToTouch', g.mqlToTouchSeconds],
      ]
    : [];
  return (
    <section className="panel" aria-labelledby="dash-response-title" data-panel="response">
      <h2 id="dash-response-title">{m.responseTimes}</h2>
      {!g || g.mqls === 0 ? (
        <p className="hint">{m.noResponse}</p>
      ) : (
        <>
          <dl className="fields">
            <div>
              <dt>{m.mqlsCol}</dt>
              <dd data-field="mqls">{num(g.mqls, locale)}</dd>
            </div>
            <div>
              <dt>{m.handedOffCol}</dt>
              <dd data-field="handedOff">{num(g.handedOff, locale)}</dd>
            </div>
            <div>
              <dt>{m.touchedCol}</dt>
              <dd data-field="touched">{num(g.touched, locale)}</dd>
            </div>
            <div>
              <dt>{t('withinSlaCol', { minutes: Math.round(report.slaSeconds / 60) })}</dt>
              <dd data-field="withinSla">
                {num(g.withinSla, locale)} ({pct(g.slaShare, locale)})
              </dd>
            </div>
          </dl>
          <table>
            <caption>{m.responseLegs}</caption>
            <thead>
              <tr>
                <th scope="col">{m.leg}</th>
                <th scope="col">{m.medianCol}</th>
                <th scope="col">{m.p90Col}</th>
                <th scope="col">{m.contacts}</th>
              </tr>
            </thead>
            <tbody>
              {legs.map(([k, s]) => (
                <tr key={k} data-leg={k}>
                  <td>{m[k] as string}</td>
                  <td className="n" data-median>
                    {duration(s.median, locale)}
                  </td>
                  <td className="n">{duration(s.p90, locale)}</td>
                  <td className="n">{num(s.count, locale)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

const CH_W = 760;
const CH_H = 220;
const AXIS_W = 56;
const AXIS_H = 24;

/** Stacked columns, one per hour/day/week, one colour per channel: SVG by hand like the funnel. */
function MessagesChart({ volume }: { volume: MessageVolume }) {
  const { t, m, locale } = useT();
  const channels = useMemo(() => Object.entries(volume.channels).sort((a, b) => b[1].total - a[1].total).map(([c]) => c), [volume]);
  const totals = volume.buckets.map((b) => Object.values(b.channels).reduce((a, c) => a + c.total, 0));
  const max = Math.max(1, ...totals);
  const plotW = CH_W - AXIS_W;
  const colW = plotW / Math.max(1, volume.buckets.length);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => Math.round(f * max)).filter((v, i, a) => a.indexOf(v) === i);
  const y = (v: number) => CH_H - (v / max) * CH_H;
  // About eight labels on the time axis whatever the number of columns.
  const every = Math.max(1, Math.ceil(volume.buckets.length / 8));
  const label = (iso: string) => timeIn(iso, volume.timeZone, { label: false }).slice(5, volume.bucket === 'hour' ? 16 : 10);
  const grand = totals.reduce((a, b) => a + b, 0);
  const summary = t('messagesSummary', {
    total: num(grand, locale),
    channels: channels.map((c) => `${m.channelNames[c] ?? c} ${num(volume.channels[c]!.total, locale)}`).join(', ') || '—',
  });
  return (
    <section className="panel" aria-labelledby="dash-messages-title" data-panel="messages">
      <h2 id="dash-messages-title">{t('messagesByChannel', { bucket: m.bucketNames[volume.bucket] ?? volume.bucket })}</h2>
      <p className="hint" data-zone={volume.timeZone}>
        {t('timesIn', { zone: volume.timeZone })}
      </p>
      {grand === 0 ? (
        <p className="hint">{m.noMessagesInRange}</p>
      ) : (
        <>
          <ul className="legend">
            {channels.map((c) => (
              <li key={c} data-channel-total={c}>
                <span className="swatch" style={{ background: colour(c) }} aria-hidden="true" />
                {m.channelNames[c] ?? c}: {num(volume.channels[c]!.total, locale)}
              </li>
            ))}
          </ul>
          <svg className="chart" width={CH_W} height={CH_H + AXIS_H + 8} viewBox={`0 -8 ${CH_W} ${CH_H + AXIS_H + 8}`} role="img" aria-label={summary}>
            {ticks.map((v) => (
              <g key={v}>
                <line x1={AXIS_W} x2={CH_W} y1={y(v)} y2={y(v)} stroke="#e2e2e2" />
                <text x={AXIS_W - 6} y={y(v)} textAnchor="end" dominantBaseline="central" fontSize="11">
                  {num(v, locale)}
                </text>
              </g>
            ))}
            {volume.buckets.map((b, i) => {
              let acc = 0;
              const x = AXIS_W + i * colW;
              return (
                <g key={b.start} data-bucket={b.start} data-total={totals[i]}>
                  {channels.map((c) => {
                    const n = b.channels[c]?.total ?? 0;
                    if (n === 0) return null;
                    const top = y(acc + n);
                    const h = y(acc) - top;
                    acc += n;
                    return (
                      <rect key={c} data-channel={c} data-count={n} x={x + colW * 0.12} width={Math.max(1, colW * 0.76)} y={top} height={Math.max(1, h)} fill={colour(c)}>
                        <title>{`${timeIn(b.start, volume.timeZone)} · ${m.channelNames[c] ?? c}: ${num(n, locale)}`}</title>
                      </rect>
                    );
                  })}
                  {i % every === 0 && (
                    <text x={x + colW / 2} y={CH_H + 16} textAnchor="middle" fontSize="11">
                      {label(b.start)}
                    </text>
                  )}
                </g>
              );
            })}
          </svg>
          <details>
            <summary>{m.showTable}</summary>
            <table className="volume">
              <thead>
                <tr>
                  <th scope="col">{m.bucketStart}</th>
                  {channels.map((c) => (
                    <th key={c} scope="col">
                      {m.channelNames[c] ?? c}
                    </th>
                  ))}
                  <th scope="col">{m.totalCol}</th>
                </tr>
              </thead>
              <tbody>
                {volume.buckets.map((b, i) => (
                  <tr key={b.start}>
                    <td>{timeIn(b.start, volume.timeZone)}</td>
                    {channels.map((c) => (
                      <td key={c} className="n" title={Object.entries(b.channels[c]?.byStatus ?? {}).map(([s, n]) => `${s}: ${n}`).join(', ') || undefined}>
                        {num(b.channels[c]?.total ?? 0, locale)}
                      </td>
                    ))}
                    <td className="n">{num(totals[i], locale)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
        </>
      )}
    </section>
  );
}
