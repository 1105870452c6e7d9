/**
 * Source parsing: YAML/JSON text (or an already-parsed object) → the raw document the checks work on, with a way
 * back from a path to its line in the YAML, and list-form steps rewritten into a map keyed by step id.
 */
import type { Node as YamlNode } from 'yaml';
import { parseYamlDocument } from '../../yaml-document';
import { show, type JourneyError, type Path } from './diagnostics';

export type Raw = Record<string, unknown>;

export const isObject = (x: unknown): x is Raw => typeof x === 'object' && x !== null && !Array.isArray(x);

/** 1-based line and column in the YAML source. */
export type SourcePosition = { line: number; column: number };

interface Parsed {
  raw: unknown;
  /** Where a path's value starts; a path that is not in the source (a missing field) answers its nearest parent's. */
  positionOf: (path: Path) => SourcePosition | undefined;
}

export function parseSource(source: string | object, errors: JourneyError[]): Parsed | undefined {
  if (typeof source !== 'string') return { raw: source, positionOf: () => undefined };
  const { doc, lineCounter, problems } = parseYamlDocument(source, { uniqueKeys: true });
  if (problems.length > 0) {
    // A document that does not parse reports its syntax errors only; one that parses, its custom tags and directives.
    const syntax = problems.filter((p) => p.kind === 'syntax');
    for (const { kind, line, col, message } of syntax.length > 0 ? syntax : problems) {
      const what = message.replace(/ at line \d+, column \d+:?$/, '');
      errors.push({
        path: '',
        line,
        column: col,
        message: kind === 'syntax' ? `YAML syntax error at line ${line}, column ${col}: ${what}` : `YAML at line ${line}, column ${col}: ${what} (journeys are plain YAML: no custom tags or directives)`,
      });
    }
    return undefined;
  }
  const positionOf = (path: Path): SourcePosition | undefined => {
    // Unknown keys and missing fields point at their parent; a missing top-level field at the document itself.
    for (let n = path.length; n >= 0; n--) {
      const node = (n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true)) as YamlNode | null | undefined;
      if (node && typeof node === 'object' && 'range' in node && node.range) {
        const { line, col } = lineCounter.linePos(node.range[0]);
        return { line, column: col };
      }
    }
    return undefined;
  };
  try {
    return { raw: doc.toJS({ maxAliasCount: 100 }) as unknown, positionOf };
  } catch (err) {
    // Alias problems (`*name` without an `&name` anchor, alias bombs) only surface when converting.
    errors.push({ path: '', message: `YAML error: ${err instanceof Error ? err.message : String(err)}` });
    return undefined;
  }
}

/** A list of steps (`- id: welcome`) becomes a map so every later message names the step id. */
export function stepsAsMap(raw: Raw, errors: JourneyError[]): { indexOf: Map<string, number> } {
  const indexOf = new Map<string, number>();
  if (!Array.isArray(raw.steps)) return { indexOf };
  const map: Raw = {};
  raw.steps.forEach((item: unknown, i) => {
    if (!isObject(item)) {
      errors.push({ path: `steps[${i}]`, message: `expected a step (a mapping with id and type), got ${show(item)}` });
      return;
    }
    const { id, ...rest } = item;
    if (typeof id !== 'string' || id === '') {
      errors.push({ path: `steps[${i}].id`, message: 'is required: in a list of steps every step needs an id' });
      return;
    }
    if (id in map) {
      errors.push({ path: `steps[${i}].id`, stepId: id, message: `${show(id)} is used by more than one step` });
      return;
    }
    map[id] = rest;
    indexOf.set(id, i);
  });
  raw.steps = map;
  return { indexOf };
}
