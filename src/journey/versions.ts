/**
 * Pure helpers for journey versions: a content hash (same plan → same hash, whatever the key order
 * or the YAML formatting it came from) and a readable diff between two plans.
 */
import { createHash } from 'node:crypto';
import { formatDuration } from './duration';
import type { JourneyPlan, PlanStep } from './plan';

/** JSON with object keys sorted at every level and `undefined` members dropped. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** `sha256:<hex>` of the canonical JSON of the plan. */
export function contentHash(plan: JourneyPlan): string {
  return `sha256:${createHash('sha256').update(canonicalJson(plan)).digest('hex')}`;
}

export type PlanChange =
  | { kind: 'step_added'; stepId: string; stepType: PlanStep['type'] }
  | { kind: 'step_removed'; stepId: string; stepType: PlanStep['type'] }
  /** `path` is relative to the plan (`steps.welcome.template`, `settings.quietHours.startMinute`). */
  | { kind: 'changed'; path: string; stepId?: string; before: unknown; after: unknown }
  | { kind: 'added'; path: string; stepId?: string; after: unknown }
  | { kind: 'removed'; path: string; stepId?: string; before: unknown };

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function diffValues(a: unknown, b: unknown, path: string, stepId: string | undefined, out: PlanChange[]): void {
  if (canonicalJson(a) === canonicalJson(b)) return;
  const at = stepId !== undefined ? { stepId } : {};
  if (isRecord(a) && isRecord(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const p = path === '' ? k : `${path}.${k}`;
      if (!(k in b) || b[k] === undefined) {
        if (a[k] !== undefined) out.push({ kind: 'removed', path: p, ...at, before: a[k] });
      } else if (!(k in a) || a[k] === undefined) out.push({ kind: 'added', path: p, ...at, after: b[k] });
      else diffValues(a[k], b[k], p, stepId, out);
    }
    return;
  }
  // Lists of objects of equal length are compared item by item; anything else is replaced whole.
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every(isRecord)) {
    a.forEach((x, i) => diffValues(x, b[i], `${path}[${i}]`, stepId, out));
    return;
  }
  out.push({ kind: 'changed', path, ...at, before: a, after: b });
}

/** Changes from plan `a` to plan `b`, steps first (in b's order, then removed ones), then the rest. */
export function diffPlans(a: JourneyPlan, b: JourneyPlan): PlanChange[] {
  const out: PlanChange[] = [];
  for (const [id, step] of Object.entries(b.steps)) {
    const before = a.steps[id];
    if (!before) out.push({ kind: 'step_added', stepId: id, stepType: step.type });
    else diffValues(before, step, `steps.${id}`, id, out);
  }
  for (const [id, step] of Object.entries(a.steps)) {
    if (!b.steps[id]) out.push({ kind: 'step_removed', stepId: id, stepType: step.type });
  }
  const rest = (p: JourneyPlan) => {
    const { steps: _steps, ...others } = p;
    return others;
  };
  diffValues(rest(a), rest(b), '', undefined, out);
  return out;
}

/** Renders a value for people: durations as `2d`, minutes of day as `21:00`. */
function showValue(path: string, v: unknown): string {
  const leaf = path.split('.').pop() ?? '';
  if (typeof v === 'number' && /Ms$|^ms$/.test(leaf)) return formatDuration(v);
  if (typeof v === 'number' && /(^m|M)inute$/.test(leaf)) return `${String(Math.floor(v / 60)).padStart(2, '0')}:${String(v % 60).padStart(2, '0')}`;
  return JSON.stringify(v);
}

export function formatDiff(changes: PlanChange[]): string {
  if (changes.length === 0) return 'no changes';
  return changes
    .map((c) => {
      switch (c.kind) {
        case 'step_added':
          return `+ step ${c.stepId} (${c.stepType})`;
        case 'step_removed':
          return `- step ${c.stepId} (${c.stepType})`;
        case 'added':
          return `+ ${c.path}: ${showValue(c.path, c.after)}`;
        case 'removed':
          return `- ${c.path}: ${showValue(c.path, c.before)}`;
        case 'changed':
          return `~ ${c.path}: ${showValue(c.path, c.before)} → ${showValue(c.path, c.after)}`;
      }
    })
    .join('\n');
}
