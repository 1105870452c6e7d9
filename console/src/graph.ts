import type { ElkNode } from 'elkjs/lib/elk-api';
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

type Elk = { layout(graph: ElkNode): Promise<ElkNode> };
let elk: Promise<Elk> | undefined;

/**
 * ELK's layered algorithm (what draw.io and Eclipse use for flow charts) places a journey top to bottom with few
 * crossings. It runs in a Web Worker loaded only on the journey page, so the sign-in and list pages never download it.
 */
export function loadElk(): Promise<Elk> {
  elk ??= Promise.all([import('elkjs/lib/elk-api'), import('elkjs/lib/elk-worker.min.js?worker')]).then(
    ([api, worker]) => new api.default({ workerFactory: () => new worker.default() }) as unknown as Elk,
  );
  return elk;
}

export async function layout(ids: string[], edges: GraphEdge[]): Promise<Map<string, { x: number; y: number }>> {
  const engine = await loadElk();
  const res = await engine.layout({
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.layered.spacing.nodeNodeBetweenLayers': '70',
      'elk.spacing.nodeNode': '50',
      'elk.edgeLabels.inline': 'true',
    },
    children: ids.map((id) => ({ id, width: NODE_W, height: NODE_H })),
    edges: edges.map((e) => ({ id: e.id, sources: [e.source], targets: [e.target], labels: e.label ? [{ text: e.label, width: e.label.length * 7, height: 16 }] : [] })),
  });
  return new Map((res.children ?? []).map((c) => [c.id, { x: c.x ?? 0, y: c.y ?? 0 }]));
}
