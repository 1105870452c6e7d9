import { useEffect, useMemo, useState } from 'react';
import { api, ApiError, can, type JourneyDetail, type JourneyStats, type LiveStep, type Me, type Plan, type Run } from './api';
import { FlowGraph } from './FlowGraph';
import { Funnel } from './Funnel';
import { StepPanel } from './StepPanel';
import { num, pct, TimeZoneContext, useTimeIn, VIEWER_ZONE, timeIn } from './format';
import { useT } from './i18n';

/** How often the node counts are fetched again. */
const REFRESH_MS = 3000;
/** The funnel and split statistics are a heavier report: fetched again less often. */
const STATS_REFRESH_MS = 15000;

export default function JourneyPage({ id, me, onError }: { id: string; me: Me; onError: (err: unknown) => void }) {
  const { t, m, locale } = useT();
  const [journey, setJourney] = useState<JourneyDetail | null>(null);
  const [version, setVersion] = useState<number | null>(null);
  const [plan, setPlan] = useState<Plan | null>(null);
  const [counts, setCounts] = useState<Map<string, LiveStep>>(new Map());
  const [refreshedAt, setRefreshedAt] = useState<Date | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const fail = (err: unknown) => {
    onError(err);
    setError((err as Error).message);
  };

  // The journey and its latest plan together; the plan is fetched again only when another version is picked.
  const [planOf, setPlanOf] = useState<number | null>(null);
  useEffect(() => {
    // Never published: the plan answers 404 and the page says there is nothing to draw.
    const latest = api.plan(id).catch((err: unknown) => (err instanceof ApiError && err.status === 404 ? null : Promise.reject(err)));
    Promise.all([api.journey(id), latest]).then(([j, p]) => {
      setJourney(j);
      if (!p) return;
      setPlanOf(p.version);
      setPlan(p.plan);
      setVersion(p.version);
    }, fail);
  }, [id]);

  useEffect(() => {
    if (version === null || version === planOf) return;
    setPlan(null);
    setSelected(null);
    api.plan(id, version).then((p) => {
      setPlanOf(p.version);
      setPlan(p.plan);
    }, fail);
  }, [id, version]);

  const latest = journey?.latestVersion?.version ?? null;
  useEffect(() => {
    if (version === null) return;
    let stop = false;
    // The latest version's first counts are asked for as `latest`, the request boot.ts sent as the page opened; a
    // version published since then is another version, asked for by its number.
    let first = version === latest;
    const tick = () =>
      (first ? api.live(id, 'latest').then((l) => (l.version === version ? l : api.live(id, version))) : api.live(id, version)).then(
        (l) => {
          if (stop) return;
          // Read by bench/console.ts's traced load: when the counts arrived.
          performance.mark('itinera:live');
          setCounts(new Map(l.steps.map((s) => [s.stepId, s])));
          setRefreshedAt(new Date());
        },
        (err) => !stop && fail(err),
      );
    void tick();
    first = false;
    const timer = setInterval(() => void tick(), REFRESH_MS);
    return () => {
      stop = true;
      clearInterval(timer);
    };
    // `latest` matters only to a version's first tick: not a reason to start the refreshes again.
  }, [id, version]);

  const [stats, setStats] = useState<JourneyStats | null>(null);
  // The report is heavier than the live counts (seconds for 100,000 runs with their messages): asked for only once the
  // first counts are in, so the graph's numbers do not wait behind it in the database.
  const liveReady = refreshedAt !== null;
  useEffect(() => {
    if (version === null || !liveReady) return;
    let stop = false;
    setStats(null);
    const load = () => api.stats(id, version).then((st) => !stop && setStats(st), (err) => !stop && fail(err));
    void load();
    const timer = setInterval(() => void load(), STATS_REFRESH_MS);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, [id, version, liveReady]);
  const names = useMemo(() => new Map(plan ? Object.values(plan.steps).map((st) => [st.id, st.name ?? st.id]) : []), [plan]);

  // Times on a journey's page are in the journey's zone (settings.timezone), labelled; the viewer's until it is known.
  const zone = plan?.settings.timezone ?? VIEWER_ZONE;
  return (
    <TimeZoneContext.Provider value={zone}>
    <section className="journey">
      <p className="buttons">
        <a href="#/">← {m.back}</a>
        {journey && journey.status !== 'archived' && <a href={`#/edit/${encodeURIComponent(id)}`}>{m.editJourney}</a>}
      </p>
      <h1>{journey ? `${journey.name} (${journey.id})` : id}</h1>
      {error && (
        <p role="alert" className="error">
          {t('error', { message: error })}
        </p>
      )}
      {journey && journey.versions.length === 0 && <p>{m.notPublished}</p>}
      {journey && journey.versions.length > 0 && (
        <div className="toolbar">
          <label>
            {m.version}{' '}
            <select value={version ?? ''} onChange={(e) => setVersion(Number(e.target.value))}>
              {journey.versions.map((v) => (
                <option key={v.version} value={v.version}>
                  v{v.version} · {timeIn(v.publishedAt, zone)}
                </option>
              ))}
            </select>
          </label>
          {journey.status === 'active' && <a href={`#/journeys/${encodeURIComponent(id)}/launch`}>{m.launchAudience}</a>}
          <span className="refreshed" aria-live="polite">
            {refreshedAt ? t('refreshed', { time: timeIn(refreshedAt, zone, { seconds: true }) }) : ''}
          </span>
        </div>
      )}
      {plan && version !== null && (
        <FlowGraph plan={plan} label={t('graphLabel', { id, version })} counts={counts} selected={selected} onSelect={setSelected} />
      )}
      {plan && version !== null && selected && <StepPanel journeyId={id} version={version} step={selected} stats={stats} onError={onError} />}
      {plan && version !== null && <RunsPanel journeyId={id} version={version} step={selected} me={me} onError={onError} />}
      {stats && stats.steps.length > 0 && (
        <section className="panel" aria-labelledby="results-title">
          <h2 id="results-title">{m.results}</h2>
          <p data-roi>
            {t('roi', {
              roi: stats.roi.roi === null ? '—' : pct(stats.roi.roi, locale),
              revenue: `${num(stats.roi.revenue, locale)} ${stats.roi.currency}`,
              cost: `${num(stats.roi.cost, locale)} ${stats.roi.currency}`,
            })}
          </p>
          <Funnel caption={m.funnel} rows={stats.steps.map((s) => ({ id: s.stepId, label: names.get(s.stepId) ?? s.stepId, value: s.entered }))} />
        </section>
      )}
    </section>
    </TimeZoneContext.Provider>
  );
}

function RunsPanel({ journeyId, version, step, me, onError }: { journeyId: string; version: number; step: string | null; me: Me; onError: (err: unknown) => void }) {
  const { t, m } = useT();
  const { timeIn } = useTimeIn();
  const [runs, setRuns] = useState<Run[] | null>(null);
  useEffect(() => {
    setRuns(null);
    if (!step || !can.runs(me.role)) return;
    api.runsAt(journeyId, version, step).then((r) => setRuns(r.items), onError);
  }, [journeyId, version, step, me.role, onError]);
  if (!step) return <p className="hint">{m.pickNode}</p>;
  return (
    <section className="runs" aria-labelledby="runs-title">
      <h2 id="runs-title">{t('runsAt', { step })}</h2>
      {!can.runs(me.role) ? (
        <p>{m.runsNeedOps}</p>
      ) : runs === null ? (
        <p>{m.loading}</p>
      ) : runs.length === 0 ? (
        <p>{m.noRuns}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{m.workflow}</th>
              <th scope="col">{m.contact}</th>
              <th scope="col">{m.started}</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.workflowId}>
                <td>
                  <code>{r.workflowId}</code>
                </td>
                <td>
                  <code>{r.contactId}</code>
                </td>
                <td>{timeIn(r.startedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
