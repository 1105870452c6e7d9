/**
 * Hostile input for the security tests: strings an attacker or a careless integration sends, and fast-check
 * arbitraries that mix them with random text, numbers, nesting and prototype keys.
 */
import fc from 'fast-check';
import type { ZodType } from 'zod';

/**
 * Quick mode (CI's `npm test`) keeps tests/security around two minutes; CHAOS_FULL=1 runs ten times as many cases, and
 * FUZZ_FACTOR=n any multiple of the quick counts. FUZZ_SEED=n replays the cases of a failed run (fast-check prints
 * the seed with the failure).
 */
export const RUN_FACTOR = factor(process.env.FUZZ_FACTOR) ?? (process.env.CHAOS_FULL === '1' ? 10 : 1);
if (process.env.FUZZ_SEED !== undefined && process.env.FUZZ_SEED !== '') fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: Number(process.env.FUZZ_SEED) });

function factor(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`FUZZ_FACTOR must be a whole number ≥ 1 (got ${JSON.stringify(v)})`);
  return n;
}

export const SQLISH = [
  "'; DROP TABLE contacts; --",
  "' OR '1'='1",
  '" OR 1=1 --',
  "Robert'); DROP TABLE events;--",
  '1; SELECT pg_sleep(10)',
  "$$; COPY contacts TO '/tmp/x'; $$",
  "\\'; truncate journeys cascade; --",
  'E\'\\x00\'',
  '%00',
  '%27%20OR%201%3D1',
];

export const TEMPLATE_INJECTIONS = [
  '{{constructor.constructor "return process"}}',
  '{{#with __proto__}}{{constructor}}{{/with}}',
  '{{{ triple-stash }}}',
  '{{{contact.email}}}',
  '{{lookup this "constructor"}}',
  '{{> evil}}',
  '{{log "pwned"}}',
  '<script>alert(document.cookie)</script>',
  '"><img src=x onerror=alert(1)>',
  '${process.exit(1)}',
  '#{7*7}',
  '<%= 7*7 %>',
];

export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__', 'valueOf'];

const ODD = [
  '',
  ' ',
  '\t\n\r',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-1',
  '0',
  '1e309',
  '9007199254740993',
  // Just past the 32-bit integer columns (and their edges): the schemas must refuse what Postgres would.
  '2147483647',
  '2147483648',
  '-2147483649',
  '4294967296',
  '+99999999999d',
  '0000-01-01T00:00:00Z',
  '-0',
  'true',
  '[]',
  '{}',
  '../../etc/passwd',
  '..',
  '%',
  '%E0%A4%A',
  '\u202eevil\u202c',
  '😀👍🏽',
  '𝕏𝕐',
  '工作流程',
  'ﷺ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  '\u2028\u2029',
  'itk_AAAAAAAAAAAA_' + 'A'.repeat(43),
  '00000000-0000-0000-0000-000000000000',
];

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...SQLISH, ...TEMPLATE_INJECTIONS, ...PROTO_KEYS, ...ODD) },
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: fc.integer({ min: 300, max: 20_000 }).map((n) => 'x'.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom(100_000, 400_000).map((n) => '界'.repeat(n)) },
);

const hostileNumber = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -1, 1, 1e300, -1e300, 2 ** 53, 2 ** 53 + 2, 0.5, 1e-300, Number.MAX_SAFE_INTEGER, 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, 8.64e15, -8.64e15),
);

/** Any JSON value, with hostile strings and prototype keys in objects. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    hostileNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(fc.tuple(fc.oneof(fc.constantFrom(...PROTO_KEYS), hostileString), tie('value')), { maxLength: 4 }).map(objectOf),
  ),
})).value;

/**
 * An object with own properties in this order — `__proto__` included as a real key, as JSON.parse makes it (plain
 * assignment would set the prototype instead).
 */
export function objectOf(entries: [string, unknown][]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

/** Top-level keys a zod schema knows (objects, unions of objects, refinements and pipes of them). */
export function schemaKeys(schema: ZodType | undefined): string[] {
  const out = new Set<string>();
  const walk = (s: unknown, depth: number) => {
    if (!s || depth > 6) return;
    const x = s as { shape?: Record<string, unknown>; options?: unknown[]; def?: { in?: unknown; out?: unknown; innerType?: unknown } };
    if (x.shape && typeof x.shape === 'object') Object.keys(x.shape).forEach((k) => out.add(k));
    if (Array.isArray(x.options)) x.options.forEach((o) => walk(o, depth + 1));
    if (x.def?.in) walk(x.def.in, depth + 1);
    if (x.def?.out) walk(x.def.out, depth + 1);
    if (x.def?.innerType) walk(x.def.innerType, depth + 1);
  };
  walk(schema, 0);
  return [...out];
}

/** Encodes a path segment or query component; a lone surrogate (which encodeURIComponent refuses) goes as `%ED%A0%80`. */
export function encode(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return [...s].map((c) => (/[\ud800-\udfff]/.test(c) ? '%ED%A0%80' : encodeURIComponent(c))).join('');
  }
}

/** YAML that attacks the parser: alias bombs, recursive anchors, language tags, merge keys, prototype keys. */
export const YAML_ATTACKS = [
  ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...'bcdefghi'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`), 'id: bomb'].join('\n'),
  'id: loop\nsteps: &s\n  a: *s\n',
  'id: fn\nname: !!js/function "function () { return process }"\n',
  'id: py\nname: !!python/object/apply:os.system ["id"]\n',
  'id: proto\n__proto__:\n  polluted: true\nconstructor:\n  prototype:\n    polluted: true\n',
  'id: merge\n<<: *missing\n',
  'id: dup\nid: dup2\nname: a\nname: b\n',
  'id: tag\nsteps: !!binary aGVsbG8=\n',
  '%YAML 9.9\n---\nid: directive\n',
  '--- !<tag:evil.example,2024:x>\nid: custom-tag\n',
  `id: long-key\n${'k'.repeat(10_000)}: 1\n`,
  'id: "\\x00\\u0000"\n',
];

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const storable = (s: string) => !s.includes('\u0000') && !LONE_SURROGATE.test(s);

/** Hostile but storable and short: what passes validation, so it reaches handlers, SQL and templates. */
export const storableText: fc.Arbitrary<string> = hostileString.filter((s) => s.length >= 1 && s.length <= 200 && storable(s));

/** JSON a CRM could send that Postgres can store: small, no NUL, no lone surrogates (keys included). */
export const storableJson: fc.Arbitrary<unknown> = hostileJson.filter((v) => {
  const s = JSON.stringify(v ?? null);
  return s.length < 20_000 && !s.includes('\\u0000') && !/\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}/i.test(s);
});
