/**
 * An event's properties as a marketer types them in the simulator: a JSON object (`{"link": "product-a"}`), or
 * `key=value` pairs separated by `;` (`link=product-a; amount=120`). A pair's value is read as JSON when it is a
 * number, `true`, `false` or `null` (conditions compare `properties.amount > 100` as numbers, as the CRM would post
 * it) and kept as text otherwise; a dotted key (`utm.campaign=spring`) nests.
 */
export type ParsedProperties =
  | { ok: true; properties: Record<string, unknown> | undefined }
  | { ok: false; problem: { kind: 'json'; detail: string } | { kind: 'not_object' } | { kind: 'pair'; pair: string } };

const SCALAR = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)$/;

export function parseEventProperties(text: string): ParsedProperties {
  const source = text.trim();
  if (source === '') return { ok: true, properties: undefined };
  if (source.startsWith('{') || source.startsWith('[')) {
    let value: unknown;
    try {
      value = JSON.parse(source);
    } catch (err) {
      return { ok: false, problem: { kind: 'json', detail: (err as Error).message } };
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, problem: { kind: 'not_object' } };
    return { ok: true, properties: value as Record<string, unknown> };
  }
  const properties: Record<string, unknown> = {};
  for (const raw of source.split(/[;；\n]/)) {
    const pair = raw.trim();
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = eq > 0 ? pair.slice(0, eq).trim() : '';
    if (key === '') return { ok: false, problem: { kind: 'pair', pair } };
    const text = pair.slice(eq + 1).trim();
    const value: unknown = SCALAR.test(text) ? JSON.parse(text) : text;
    const path = key.split('.');
    let target = properties;
    for (const part of path.slice(0, -1)) {
      const next = target[part];
      target = (target[part] = next !== null && typeof next === 'object' && !Array.isArray(next) ? next : {}) as Record<string, unknown>;
    }
    target[path[path.length - 1]!] = value;
  }
  return { ok: true, properties };
}
