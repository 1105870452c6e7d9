import { useMemo } from 'react';
import { Background, Controls, Handle, MarkerType, Position, ReactFlow, type Edge, type Node, type NodeProps } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import type { LiveStep, Plan } from './api';
import { layout, NODE_H, NODE_W, planGraph } from './graph';
import { useT } from './i18n';

type StepData = {
  stepId: string;
  type: string;
  name?: string;
  /** Live counts; absent when the graph draws a plan without runs (the editor). */
  counts?: LiveStep;
  showCounts: boolean;
  selected: boolean;
  /** 1-based places of this step on a highlighted path (a step entered twice has two). */
  visits: number[];
};

function StepNode({ data }: NodeProps<Node<StepData>>) {
  const { t, m, locale } = useT();
  const n = (x: number | undefined) => new Intl.NumberFormat(locale).format(x ?? 0);
  const c = data.counts;
  const onPath = data.visits.length > 0;
  return (
    <div
      className={`step step-${data.type}${data.selected ? ' selected' : ''}${c && c.failed > 0 ? ' failing' : ''}${onPath ? ' on-path' : ''}`}
      style={{ width: NODE_W, height: data.showCounts ? NODE_H : NODE_H / 2 }}
      data-step={data.stepId}
      {...(onPath ? { 'data-visits': data.visits.join(' ') } : {})}
    >
      <Handle type="target" position={Position.Top} />
      <div className="step-title">
        {onPath && <span className="visit">{t('visitBadge', { n: data.visits.join(', ') })}</span>} <strong>{data.name ?? data.stepId}</strong>{' '}
        <span className="step-type">{data.type}</span>
      </div>
      {data.showCounts && (
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
      )}
      <Handle type="source" position={Position.Bottom} />
    </div>
  );
}

const nodeTypes = { step: StepNode };

/**
 * A compiled plan drawn as a graph laid out by dagre: the journey page's (with live counts) and the editor's (with a
 * simulated path highlighted) are this one component.
 */
export function FlowGraph({
  plan,
  label,
  counts,
  selected = null,
  onSelect,
  path,
}: {
  plan: Plan;
  label: string;
  /** Per-step live counts; without them the nodes show no counts. */
  counts?: Map<string, LiveStep>;
  selected?: string | null;
  onSelect?: (stepId: string) => void;
  /** Step ids in the order a run entered them: those nodes and the edges between them are highlighted. */
  path?: string[];
}) {
  const { m } = useT();
  const graph = useMemo(() => planGraph(plan, m), [plan, m]);
  const positions = useMemo(() => layout(graph.ids, graph.edges), [graph]);

  const visits = useMemo(() => {
    const v = new Map<string, number[]>();
    (path ?? []).forEach((id, i) => v.set(id, [...(v.get(id) ?? []), i + 1]));
    return v;
  }, [path]);
  const walked = useMemo(() => new Set((path ?? []).slice(1).map((id, i) => `${path![i]}->${id}`)), [path]);

  const nodes: Node<StepData>[] = useMemo(
    () =>
      Object.values(plan.steps).map((s) => ({
        id: s.id,
        type: 'step',
        position: positions.get(s.id) ?? { x: 0, y: 0 },
        // The step box has this fixed size (StepNode): given, React Flow shows the node at once instead of keeping
        // it hidden until its ResizeObserver has measured it (on a loaded machine that took longer than 30 s).
        width: NODE_W,
        height: counts ? NODE_H : NODE_H / 2,
        data: {
          stepId: s.id,
          type: s.type,
          ...(s.name ? { name: s.name } : {}),
          ...(counts?.get(s.id) ? { counts: counts.get(s.id)! } : {}),
          showCounts: counts !== undefined,
          selected: selected === s.id,
          visits: visits.get(s.id) ?? [],
        },
        ariaLabel: `${s.name ?? s.id} (${s.type})${visits.has(s.id) ? ` — ${m.onSimulatedPath}` : ''}`,
      })),
    [plan, positions, counts, selected, visits, m],
  );
  const edges: Edge[] = useMemo(
    () =>
      graph.edges.map((e) => {
        const hot = walked.has(e.id);
        return {
          id: e.id,
          source: e.source,
          target: e.target,
          label: e.label || undefined,
          type: 'smoothstep',
          labelBgPadding: [4, 2] as [number, number],
          ...(hot ? { className: 'on-path', animated: true, markerEnd: { type: MarkerType.ArrowClosed, color: '#0b57d0' } } : {}),
        };
      }),
    [graph, walked],
  );
  return (
    <div className="canvas" role="figure" aria-label={label}>
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        fitView
        nodesDraggable={false}
        nodesConnectable={false}
        edgesFocusable={false}
        {...(onSelect ? { onNodeClick: (_e: unknown, node: Node) => onSelect(node.id) } : {})}
        minZoom={0.2}
        proOptions={{ hideAttribution: true }}
      >
        <Background />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
