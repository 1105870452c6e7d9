import dagre from '@dagrejs/dagre';
import type { Messages } from './i18n';
import { format } from './i18n';
import type { Plan, PlanStep } from './api';

export type GraphEdge = { id: string; source: string; target: string; label: string };

export function duration(ms: number): string {
  const units: [number, string][] = [[86400_000, 'd'], [3600_000, 'h'], [60_000, 'm'], [1000, 's']];
  for (const [size, unit] of units) if (ms % size === 0 && ms >= size) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** The labelled ways out of a step: the branches, waits, timeouts and split arms a marketer reads on the canvas. */
export function edgesOf(step: PlanStep, m: Messages): { target: string; label: string }[] {
  const out: { target: string; label: string }[] = [];
  const add = (target: string | undefined, label: string) => {
    if (target) out.push({ target, label });
  };
  switch (step.type) {
    case 'send_email':
    case 'send_sms':
    case 'webhook':
    case 'notify':
    case 'handoff_to_sales':
      add(step.next, '');
      if (step.onFailure !== step.next) add(step.onFailure, m.onFailure);
      break;
    case 'wait':
      add(step.next, step.wait?.mode === 'duration' && step.wait.ms !== undefined ? format(m.after, { d: duration(step.wait.ms) }) : m.next);
      if (step.onMissing !== step.next) add(step.onMissing, m.onMissing);
      break;
    case 'wait_for_event':
      add(step.onEvent, format(m.onEvent, { event: step.event ?? '' }));
      add(step.onTimeout, format(m.timeout, { d: duration(step.timeoutMs ?? 0) }));
      break;
    case 'branch':
      (step.conditions ?? []).forEach((c, i) => add(c.next, format(m.when, { n: i + 1 })));
      add(step.else, m.otherwise);
      break;
    case 'split':
      for (const p of step.paths ?? []) add(p.next, `${format(m.arm, { name: p.name, percent: p.percent })}${p.holdout ? ` (${m.holdout})` : ''}`);
      break;
    default:
      add(step.next, '');
  }
  return out;
}

/** Nodes and edges; ways out of one step into the same next step (two split arms, say) are one edge, labels joined. */
export function planGraph(plan: Plan, m: Messages): { ids: string[]; edges: GraphEdge[] } {
  const ids = Object.keys(plan.steps);
  const byPair = new Map<string, GraphEdge>();
  for (const id of ids) {
    for (const e of edgesOf(plan.steps[id]!, m)) {
      const key = `${id}->${e.target}`;
      const seen = byPair.get(key);
      if (seen) seen.label = [seen.label, e.label].filter(Boolean).join(' · ');
      else byPair.set(key, { id: key, source: id, target: e.target, label: e.label });
    }
  }
  return { ids, edges: [...byPair.values()] };
}

export const NODE_W = 220;
export const NODE_H = 96;

/**
 * Dagre's layered layout (Sugiyama: ranks, few crossings, cycles broken for the drawing) places a journey top to
 * bottom, each edge's label given room between the ranks. It runs synchronously in a few milliseconds for a journey's
 * size — the journey page draws as soon as its plan is in, with no worker to load (ELK's was 1.4 MB and its first
 * layout took longer than the page's API calls).
 */
export function layout(ids: string[], edges: GraphEdge[]): Map<string, { x: number; y: number }> {
  const g = new dagre.graphlib.Graph<object, { width: number; height: number; x?: number; y?: number }, object>({ multigraph: false });
  g.setGraph({ rankdir: 'TB', ranksep: 70, nodesep: 50, edgesep: 20 });
  for (const id of ids) g.setNode(id, { width: NODE_W, height: NODE_H });
  for (const e of edges) g.setEdge(e.source, e.target, e.label ? { label: e.label, width: e.label.length * 7, height: 16, labelpos: 'c' } : { width: 0, height: 0 });
  dagre.layout(g);
  // Dagre gives centres; React Flow places a node by its top-left corner.
  return new Map(ids.map((id) => {
    const n = g.node(id);
    return [id, { x: (n.x ?? 0) - NODE_W / 2, y: (n.y ?? 0) - NODE_H / 2 }];
  }));
}
