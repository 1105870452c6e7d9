/**
 * What Postgres can store, checked where input arrives so that a value the database would refuse is a 400 naming its
 * field — never a 500 from the insert, nor an activity that retries a write that can never succeed.
 *
 * - Integers: every integer column is a 32-bit `integer`. A request integer uses {@link int32} (JSON bodies) or
 *   {@link queryInt32} (query strings and path segments); `tests/api/bounds.test.ts` walks the route table and fails on
 *   any integer in a request schema that is not bounded this way.
 * - Text: `text` and `jsonb` refuse U+0000, and `jsonb` refuses a lone UTF-16 surrogate (`text` would silently store
 *   U+FFFD instead): {@link unstorableInput} finds the first such string or key, and runaway nesting.
 */
import { z } from 'zod';

export const INT32_MIN = -2_147_483_648;
export const INT32_MAX = 2_147_483_647;

export type IntBounds = {
  /** @default INT32_MIN */
  min?: number;
  /** @default INT32_MAX */
  max?: number;
};

function range({ min = INT32_MIN, max = INT32_MAX }: IntBounds): { min: number; max: number } {
  // A schema asking for more than the column holds is a programming error: fail when the module loads, not in production.
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min < INT32_MIN || max > INT32_MAX || min > max) {
    throw new RangeError(`int32 bounds must be integers within ${INT32_MIN}..${INT32_MAX} (got ${min}..${max})`);
  }
  return { min, max };
}

const bounded = (n: z.ZodNumber, b: IntBounds) => {
  const { min, max } = range(b);
  return n
    .int({ error: 'must be a whole number' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}${max === INT32_MAX ? ' (the largest 32-bit integer)' : ''}` });
};

/** A JSON integer within `min..max`, both inside what a 32-bit `integer` column holds. */
export const int32 = (b: IntBounds = {}) => bounded(z.number({ error: 'must be a number' }), b);

/** A query-string or path integer (text coerced to a number) within `min..max`, both inside the 32-bit range. */
export const queryInt32 = (b: IntBounds = {}) => bounded(z.coerce.number({ error: 'must be a number' }), b);

/** Instants from 0001-01-01 to 9999-12-31 (UTC): what ISO 8601, a Date, Postgres timestamps and Temporal all hold. */
export const INSTANT_RANGE = { min: Date.parse('0001-01-01T00:00:00.000Z'), max: Date.parse('9999-12-31T23:59:59.999Z') } as const;

export const inInstantRange = (ms: number) => ms >= INSTANT_RANGE.min && ms <= INSTANT_RANGE.max;

/** An ISO date-time with an offset, within {@link INSTANT_RANGE} (Postgres refuses year 0000, which the format allows). */
export const isoInstant = () =>
  z.iso.datetime({ offset: true }).refine(
    // Text that is no date-time at all has its error from the format check already: one error per field.
    (s) => Number.isNaN(Date.parse(s)) || inInstantRange(Date.parse(s)),
    { error: 'must be between 0001-01-01 and 9999-12-31 (UTC)' },
  );

/** Deeper than any journey document or CRM payload; deep enough nesting overflows Postgres' jsonb parser and recursive code. */
export const MAX_INPUT_DEPTH = 64;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/** Why Postgres cannot store this string, or undefined when it can. */
export function unstorableText(s: string): string | undefined {
  if (s.includes('\u0000')) return 'must not contain the NUL character (U+0000)';
  if (LONE_SURROGATE.test(s)) return 'must be well-formed Unicode (no lone surrogates)';
  return undefined;
}

/**
 * Text from outside (a receiver's or provider's answer, an SMTP reply) made storable, at most `max` UTF-16 units: NUL
 * and lone surrogates become U+FFFD, and a cut never leaves half a surrogate pair. A remote answer must not make the
 * write that records it fail (and its activity retry for as long as the remote keeps answering so).
 */
export function storableText(s: string, max = 500): string {
  return s.replaceAll('\u0000', '\uFFFD').slice(0, max).replace(LONE_SURROGATES, '\uFFFD');
}

/**
 * The first part of a value Postgres cannot store or our code should not walk: a string or key with NUL (text and
 * jsonb refuse U+0000) or a lone surrogate (jsonb refuses it; text would store U+FFFD instead), or nesting deeper than
 * {@link MAX_INPUT_DEPTH}. `keys` leads to it (array indices as numbers). Iterative, so a hostile depth cannot overflow
 * the stack.
 */
export function firstUnstorable(value: unknown): { keys: (string | number)[]; message: string } | undefined {
  type Node = { v: unknown; depth: number; key?: string | number; parent?: Node };
  const keysOf = (n: Node, key?: string | number) => {
    const keys = key === undefined ? [] : [key];
    for (let x: Node | undefined = n; x?.key !== undefined; x = x.parent) keys.unshift(x.key);
    return keys;
  };
  if (typeof value === 'string') {
    const m = unstorableText(value);
    return m ? { keys: [], message: m } : undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  // Only objects and arrays are pushed (strings are checked in place): this runs on every event batch.
  const stack: Node[] = [{ v: value, depth: 0 }];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (n.depth >= MAX_INPUT_DEPTH) return { keys: keysOf(n), message: `is nested deeper than ${MAX_INPUT_DEPTH} levels` };
    const o = n.v as Record<string, unknown>;
    const isArray = Array.isArray(o);
    for (const k in o) {
      if (!Object.hasOwn(o, k)) continue;
      const key = isArray ? Number(k) : k;
      const v = o[k];
      if (typeof v === 'string') {
        const m = unstorableText(v);
        if (m) return { keys: keysOf(n, key), message: m };
      } else if (typeof v === 'object' && v !== null) stack.push({ v, depth: n.depth + 1, key, parent: n });
      if (!isArray) {
        const m = unstorableText(k);
        if (m) return { keys: keysOf(n, key), message: `has a key that ${m}` };
      }
    }
  }
  return undefined;
}

/**
 * A problem+json field path: keys dotted (`properties.tags.0`), an empty key shown as `""` (so `{"": …}` is not
 * mistaken for the body itself), and `(root)` for the body itself.
 */
export function fieldPath(keys: readonly PropertyKey[]): string {
  return keys.length === 0 ? '(root)' : keys.map((k) => (k === '' ? '""' : String(k))).join('.');
}

/** {@link firstUnstorable} as a problem+json error: its path dotted after `prefix` (`properties.tags.0`). */
export function unstorableInput(value: unknown, prefix: (string | number)[]): { path: string; message: string } | undefined {
  const found = firstUnstorable(value);
  return found && { path: fieldPath([...prefix, ...found.keys]), message: found.message };
}
