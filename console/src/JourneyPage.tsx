import { useEffect, useMemo, useState } from 'react';
import { Background, Controls, Handle, Position, ReactFlow, type Edge, type Node, type NodeProps } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { api, ApiError, can, type JourneyDetail, type JourneyStats, type LiveStep, type Me, type Plan, type Run } from './api';
import { Funnel } from './Funnel';
import { StepPanel } from './StepPanel';
import { num, pct, TimeZoneContext, useTimeIn, VIEWER_ZONE, timeIn } from './format';
import { layout, loadElk, NODE_H, NODE_W, planGraph } from './graph';
import { useT } from './i18n';

// The layout engine starts loading with this page's code, in parallel with the page's first API calls.
void loadElk();

/** How often the node counts are fetched again. */
const REFRESH_MS = 3000;
/** The funnel and split statistics are a heavier report: fetched again less often. */
const STATS_REFRESH_MS = 15000;

type StepData = { stepId: string; type: string; name?: string; counts?: LiveStep; selected: boolean };

function StepNode({ data }: NodeProps<Node<StepData>>) {
  const { m, locale } = useT();
  const n = (x: number | undefined) => new Intl.NumberFormat(locale).format(x ?? 0);
  const c = data.counts;
  return (
    <div className={`step step-${data.type}${data.selected ? ' selected' : ''}${c && c.failed > 0 ? ' failing' : ''}`} style={{ width: NODE_W, height: NODE_H }} data-step={data.stepId}>
      <Handle type="target" position={Position.Top} />
      <div className="step-title">
        <strong>{data.name ?? data.stepId}</strong> <span className="step-type">{data.type}</span>
      </div>
      <dl className="counts">
        <div>
          <dt>{m.entered}</dt>
          <dd data-count="entered">{n(c?.entered)}</dd>
        </div>
        <div>
          <dt>{m.waiting}</dt>
          <dd data-count="waiting">{n(c?.waiting)}</dd>
        </div>
        <div>
          <dt>{m.exitedHere}</dt>
          <dd data-count="exitedHere">{n(c?.exitedHere)}</dd>
        </div>
        <div>
          <dt>{m.failed}</dt>
          <dd data-count="failed">{n(c?.failed)}</dd>
        </div>
      </dl>
      <Handle type="source" position={Position.Bottom} />
    </div>
  );
}

const nodeTypes = { step: StepNode };

export default function JourneyPage({ id, me, onError }: { id: string; me: Me; onError: (err: unknown) => void }) {
  const { t, m, locale } = useT();
  const [journey, setJourney] = useState<JourneyDetail | null>(null);
  const [version, setVersion] = useState<number | null>(null);
  const [plan, setPlan] = useState<Plan | null>(null);
  const [positions, setPositions] = useState<Map<string, { x: number; y: number }> | null>(null);
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

  const graph = useMemo(() => (plan ? planGraph(plan, m) : null), [plan, m]);

  useEffect(() => {
    if (version === null || version === planOf) return;
    setPlan(null);
    setPositions(null);
    setSelected(null);
    api.plan(id, version).then((p) => {
      setPlanOf(p.version);
      setPlan(p.plan);
    }, fail);
  }, [id, version]);

  useEffect(() => {
    if (!graph) return;
    let stop = false;
    layout(graph.ids, graph.edges).then((p) => !stop && setPositions(p), fail);
    return () => {
      stop = true;
    };
  }, [graph]);

  useEffect(() => {
    if (version === null) return;
    let stop = false;
    const tick = () =>
      api.live(id, version).then(
        (l) => {
          if (stop) return;
          setCounts(new Map(l.steps.map((s) => [s.stepId, s])));
          setRefreshedAt(new Date());
        },
        (err) => !stop && fail(err),
      );
    void tick();
    const timer = setInterval(() => void tick(), REFRESH_MS);
    return () => {
      stop = true;
      clearInterval(timer);
    };
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

  const nodes: Node<StepData>[] = useMemo(
    () =>
      plan && positions
        ? Object.values(plan.steps).map((s) => ({
            id: s.id,
            type: 'step',
            position: positions.get(s.id) ?? { x: 0, y: 0 },
            // The step box has this fixed size (StepNode): given, React Flow shows the node at once instead of keeping
            // it hidden until its ResizeObserver has measured it (on a loaded machine that took longer than 30 s).
            width: NODE_W,
            height: NODE_H,
            data: { stepId: s.id, type: s.type, ...(s.name ? { name: s.name } : {}), ...(counts.get(s.id) ? { counts: counts.get(s.id)! } : {}), selected: selected === s.id },
            ariaLabel: `${s.name ?? s.id} (${s.type})`,
          }))
        : [],
    [plan, positions, counts, selected],
  );
  const edges: Edge[] = useMemo(
    () => (graph ? graph.edges.map((e) => ({ id: e.id, source: e.source, target: e.target, label: e.label || undefined, type: 'smoothstep', labelBgPadding: [4, 2] as [number, number] })) : []),
    [graph],
  );

  // Times on a journey's page are in the journey's zone (settings.timezone), labelled; the viewer's until it is known.
  const zone = plan?.settings.timezone ?? VIEWER_ZONE;
  return (
    <TimeZoneContext.Provider value={zone}>
    <section className="journey">
      <p>
        <a href="#/">← {m.back}</a>
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
      {plan && positions && version !== null && (
        <div className="canvas" role="figure" aria-label={t('graphLabel', { id, version })}>
          <ReactFlow
            nodes={nodes}
            edges={edges}
            nodeTypes={nodeTypes}
            fitView
            nodesDraggable={false}
            nodesConnectable={false}
            edgesFocusable={false}
            onNodeClick={(_e, node) => setSelected(node.id)}
            minZoom={0.2}
            proOptions={{ hideAttribution: true }}
          >
            <Background />
            <Controls showInteractive={false} />
          </ReactFlow>
        </div>
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
