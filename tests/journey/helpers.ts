import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileJourney, formatError } from '../../src/journey/compiler';
import { initialState, step, type Command, type Input, type RunState } from '../../src/journey/interpreter';
import type { JourneyPlan } from '../../src/journey/plan';
import type { Contact } from '../../src/journey/schema';
import { loadTemplateCatalog } from '../../src/templates/catalog';

export const JOURNEYS = fileURLToPath(new URL('../../journeys/', import.meta.url));
export const SAMPLES = ['new-lead-nurture', 'webinar-follow-up', 'mql-handoff', 'stale-opportunity', 'industry-content', 'renewal-reminder'] as const;
export const catalog = await loadTemplateCatalog(`${JOURNEYS}templates`);

export function readJourney(name: string): string {
  return readFileSync(`${JOURNEYS}${name}.yaml`, 'utf8');
}

export function readJson<T = unknown>(path: string): T {
  return JSON.parse(readFileSync(`${JOURNEYS}${path}`, 'utf8')) as T;
}

/** A minimal valid journey document, to be overridden per test. */
export function journey(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'test-journey',
    name: 'Test journey',
    triggers: [{ type: 'event', event: 'lead.created' }],
    ...overrides,
  };
}

export function compile(doc: string | object): JourneyPlan {
  const r = compileJourney(doc);
  if (!r.ok) throw new Error(r.errors.map(formatError).join('\n'));
  return r.plan;
}

export function errorsOf(doc: string | object, opts: Parameters<typeof compileJourney>[1] = {}): string[] {
  const r = compileJourney(doc, opts);
  if (r.ok) throw new Error('expected the journey to be invalid');
  return r.errors.map(formatError);
}

export const T0 = Date.parse('2025-03-03T02:00:00Z'); // Monday 10:00 in Shanghai
export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;

export function contact(overrides: Partial<Contact> = {}): Contact {
  return { id: 'c-1', score: 0, tags: [], attributes: {}, timezone: 'Asia/Shanghai', locale: 'en', ...overrides };
}

/** Drives the interpreter by hand and records every command. */
export class Driver {
  state: RunState;
  readonly all: Command[] = [];
  last: Command[] = [];
  constructor(readonly plan: JourneyPlan) {
    this.state = initialState(plan);
  }
  feed(input: Input): Command[] {
    const r = step(this.plan, this.state, input);
    // The core must never mutate its input state and must hand back plain JSON.
    JSON.parse(JSON.stringify(r.state));
    this.state = r.state;
    this.last = r.commands;
    this.all.push(...r.commands);
    return r.commands;
  }
  start(c: Contact = contact(), at = T0, extra: Partial<Extract<Input, { type: 'start' }>> = {}) {
    return this.feed({ type: 'start', at, contact: c, trigger: { id: 'trigger', type: 'lead.created', properties: {}, occurredAt: at }, ...extra });
  }
  /** The action the run waits for now. */
  pending() {
    const a = [...this.all].reverse().find((c): c is Extract<Command, { type: 'action' }> => c.type === 'action' && c.commandId === (this.state.waiting.for === 'action' ? this.state.waiting.commandId : ''));
    if (!a) throw new Error(`no pending action (waiting: ${JSON.stringify(this.state.waiting)})`);
    return a;
  }
  ok(at: number, data?: Record<string, unknown>) {
    const a = this.pending();
    return this.feed({ type: 'action_result', at, commandId: a.commandId, outcome: { status: 'ok', ...(data ? { data } : {}) } });
  }
  fail(at: number, permanent = true) {
    const a = this.pending();
    return this.feed({ type: 'action_result', at, commandId: a.commandId, outcome: { status: 'failed', permanent, error: 'boom' } });
  }
  timer() {
    const w = this.state.waiting;
    if (w.for !== 'timer' && w.for !== 'event') throw new Error(`no timer (waiting: ${JSON.stringify(w)})`);
    return w;
  }
  fire() {
    const w = this.timer();
    return this.feed({ type: 'timer_fired', at: w.at, timerId: w.timerId });
  }
  event(at: number, type: string, properties: Record<string, unknown> = {}, id = `e-${at}-${type}`, occurredAt = at) {
    return this.feed({ type: 'event', at, event: { id, type, properties, occurredAt } });
  }
  entered(): string[] {
    return this.all.flatMap((c) => (c.type === 'enter_step' ? [c.stepId] : []));
  }
  actions() {
    return this.all.flatMap((c) => (c.type === 'action' ? [c.action] : []));
  }
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * Applies one random edit at a random place in a JSON document: delete, rename (to `rename(key)`, `__proto__`
 * included as a real key) or replace.
 */
export function mutate(doc: Json, choice: number[], replacement: Json, rename: (key: string) => string = (k) => `${k}x`): Json {
  const copy = structuredClone(doc);
  const containers: { parent: Json[] | Record<string, Json>; key: string | number }[] = [];
  const walk = (v: Json) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        containers.push({ parent: v, key: i });
        walk(x);
      });
    } else if (v && typeof v === 'object') {
      for (const k of Object.keys(v)) {
        containers.push({ parent: v, key: k });
        walk(v[k]!);
      }
    }
  };
  walk(copy);
  if (containers.length === 0) return replacement;
  const { parent, key } = containers[choice[0]! % containers.length]!;
  const op = choice[1]! % 4;
  if (Array.isArray(parent)) {
    if (op === 0) parent.splice(key as number, 1);
    else parent[key as number] = replacement;
  } else if (op === 0) delete parent[key as string];
  else if (op === 1) {
    const value = parent[key as string]!;
    delete parent[key as string];
    Object.defineProperty(parent, rename(key as string), { value, enumerable: true, configurable: true, writable: true });
  } else parent[key as string] = replacement;
  return copy;
}
