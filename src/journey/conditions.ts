/**
 * Evaluation of compiled conditions and event filters. Pure (workflow-safe).
 *
 * Missing values never satisfy a comparison (`gt`, `before`, …) except `neq` and `exists: false`,
 * so a contact without an industry does not fall into "industry ≠ manufacturing" by accident of
 * type coercion but does by the plain meaning of "not equal".
 */
import type { PlanCondition, PlanFilter, PlanTest } from './plan';
import type { Contact } from './schema';

export interface SeenEvent {
  type: string;
  /** occurredAt, epoch ms */
  at: number;
  p: Record<string, unknown>;
}

export interface EvalContext {
  contact: Contact;
  now: number;
  enteredAt: number;
  /** Recent events known to the run, any order. */
  events: readonly SeenEvent[];
  /** Properties of the event that started the run (`event.<property>` fields). */
  trigger?: Record<string, unknown> | undefined;
}

function get(obj: unknown, path: readonly string[]): unknown {
  let cur: unknown = obj;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** A property by dotted path; a flat key containing dots (`utm.source`) also matches. */
export function getProperty(props: Record<string, unknown>, path: readonly string[]): unknown {
  const nested = get(props, path);
  return nested !== undefined || path.length < 2 ? nested : props[path.join('.')];
}

export function resolveField(contact: Contact, path: readonly string[], enteredAt?: number, trigger?: Record<string, unknown>): unknown {
  if (path[0] === 'journey' && path[1] === 'entered_at') return enteredAt;
  if (path[0] === 'event') return trigger ? getProperty(trigger, path.slice(1)) : undefined;
  return get(contact, path);
}

export function toEpoch(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v !== '') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

const present = (v: unknown) => v !== undefined && v !== null && v !== '';

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  // Attributes arrive from CSV imports and forms as strings: "5" should equal 5.
  if ((typeof a === 'number' && typeof b === 'string') || (typeof a === 'string' && typeof b === 'number')) {
    return String(a) === String(b);
  }
  return false;
}

function order(a: unknown, b: number | string): number | undefined {
  if (!present(a)) return undefined;
  const na = typeof a === 'number' ? a : typeof a === 'string' && a.trim() !== '' ? Number(a) : NaN;
  const nb = typeof b === 'number' ? b : b.trim() !== '' ? Number(b) : NaN;
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  const da = toEpoch(a);
  const db = toEpoch(b);
  if (da !== undefined && db !== undefined) return da - db;
  if (typeof a !== 'string' && typeof a !== 'number') return undefined;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

export function runTest(test: PlanTest, v: unknown, now: number): boolean {
  switch (test.op) {
    case 'eq':
      return same(v, test.value);
    case 'neq':
      return !same(v, test.value);
    case 'in':
      return Array.isArray(v) ? v.some((x) => test.value.some((y) => same(x, y))) : test.value.some((y) => same(v, y));
    case 'contains': {
      if (Array.isArray(v)) return v.some((x) => same(x, test.value));
      // Case-insensitive: "CFO" should find "Group cfo".
      return typeof v === 'string' && test.value !== null && v.toLowerCase().includes(String(test.value).toLowerCase());
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const c = order(v, test.value);
      if (c === undefined) return false;
      return test.op === 'gt' ? c > 0 : test.op === 'gte' ? c >= 0 : test.op === 'lt' ? c < 0 : c <= 0;
    }
    case 'exists':
      return present(v) === test.value;
    case 'before':
    case 'after': {
      const t = toEpoch(v);
      if (t === undefined) return false;
      const ref = 'abs' in test.value ? test.value.abs : now + test.value.rel;
      return test.op === 'before' ? t < ref : t > ref;
    }
  }
}

export function matchesFilters(filters: readonly PlanFilter[], props: Record<string, unknown>, now: number): boolean {
  for (const f of filters) {
    const v = getProperty(props, f.path);
    for (const t of f.tests) if (!runTest(t, v, now)) return false;
  }
  return true;
}

export function evaluate(c: PlanCondition, ctx: EvalContext): boolean {
  switch (c.op) {
    case 'all':
      return c.of.every((x) => evaluate(x, ctx));
    case 'any':
      return c.of.some((x) => evaluate(x, ctx));
    case 'not':
      return !evaluate(c.of, ctx);
    case 'field': {
      const v = resolveField(ctx.contact, c.field, ctx.enteredAt, ctx.trigger);
      return c.tests.every((t) => runTest(t, v, ctx.now));
    }
    case 'tag':
      return ctx.contact.tags.includes(c.tag);
    case 'event': {
      const since = ctx.now - c.withinMs;
      let n = 0;
      for (const e of ctx.events) {
        if (e.type === c.event && e.at >= since && e.at <= ctx.now && matchesFilters(c.where, e.p, ctx.now) && ++n >= c.atLeast) return true;
      }
      return false;
    }
  }
}
