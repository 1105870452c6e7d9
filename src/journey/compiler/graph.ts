/**
 * Step graph checks, on the raw document (so they still work when some steps have shape errors): references to
 * steps that do not exist, the start step, unreachable steps and loops without a wait.
 */
import { formatPath, show, type JourneyError, type Path } from './diagnostics';
import { isObject, type Raw } from './parse';
import { didYouMean } from './suggestions';

const REF_KEYS = ['next', 'on_failure', 'on_missing', 'on_event', 'on_timeout', 'else'] as const;

function rawRefs(step: Raw): { path: Path; target: string }[] {
  const refs: { path: Path; target: string }[] = [];
  for (const k of REF_KEYS) if (typeof step[k] === 'string') refs.push({ path: [k], target: step[k] });
  for (const list of ['conditions', 'paths'] as const) {
    const items = step[list];
    if (Array.isArray(items)) {
      items.forEach((c: unknown, i) => {
        if (isObject(c) && typeof c.next === 'string') refs.push({ path: [list, i, 'next'], target: c.next });
      });
    }
  }
  return refs;
}

const isWait = (step: unknown) => isObject(step) && (step.type === 'wait' || step.type === 'wait_for_event');

export function checkGraph(raw: Raw, errors: JourneyError[]): void {
  if (!isObject(raw.steps)) return;
  const steps = raw.steps;
  const ids = Object.keys(steps);
  if (ids.length === 0) {
    errors.push({ path: 'steps', message: 'needs at least one step' });
    return;
  }
  let broken = false;
  const edges = new Map<string, string[]>();
  for (const id of ids) {
    const step = steps[id];
    if (!isObject(step)) continue;
    const out: string[] = [];
    for (const ref of rawRefs(step)) {
      if (Object.hasOwn(steps, ref.target)) out.push(ref.target);
      else {
        broken = true;
        errors.push({ path: formatPath(['steps', id, ...ref.path]), stepId: id, message: `${show(ref.target)} is not a step in this journey${didYouMean(ref.target, ids)}` });
      }
    }
    if (!(typeof step.type === 'string' && ['exit', 'goal'].includes(step.type)) && out.length === 0) broken = true;
    edges.set(id, out);
  }
  const start = typeof raw.start === 'string' ? raw.start : ids[0]!;
  if (!Object.hasOwn(steps, start)) {
    errors.push({ path: 'start', message: `${show(start)} is not a step in this journey${didYouMean(start, ids)}` });
    return;
  }
  // A missing or wrong reference makes its targets look unreachable; reporting those too would bury the cause.
  if (!broken) {
    const seen = new Set([start]);
    const queue = [start];
    while (queue.length > 0) {
      for (const n of edges.get(queue.shift()!) ?? []) {
        if (seen.has(n)) continue;
        seen.add(n);
        queue.push(n);
      }
    }
    for (const id of ids) {
      if (!seen.has(id)) errors.push({ path: `steps.${id}`, stepId: id, message: `is unreachable: no path from the start step (${start}) leads here` });
    }
  }
  for (const cycle of loopsWithoutWait(ids, edges, (id) => isWait(steps[id]))) {
    errors.push({
      path: `steps.${cycle[0]}`,
      stepId: cycle[0],
      message: `${[...cycle, cycle[0]].join(' → ')} is a loop without a wait; a contact would cycle forever (add a wait or wait_for_event step to the loop)`,
    });
  }
}

/** Strongly connected components (Tarjan) of the graph without wait steps: each non-trivial one is a spin loop. */
function loopsWithoutWait(ids: string[], edges: Map<string, string[]>, isWaitStep: (id: string) => boolean): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const loops: string[][] = [];
  let counter = 0;
  const out = (id: string) => (isWaitStep(id) ? [] : (edges.get(id) ?? []).filter((n) => !isWaitStep(n)));
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of out(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || out(v).includes(v)) loops.push(ids.filter((id) => comp.includes(id)));
    }
  };
  for (const id of ids) if (!index.has(id)) visit(id);
  return loops;
}
