/**
 * Completion for journey YAML from the journey language's JSON Schema (GET /v1/journey-schema): the keys a mapping may
 * have (a step's keys follow its `type`), the values a key may take (step types, enums), and what only the server and
 * the document know — template names per channel, event types seen, mail topics and the step ids a `next` may name.
 *
 * Where the cursor is, is read from the text (indentation, `- ` items, and `{ }` / `[ ]` on the line), which keeps
 * working on the half-typed lines an editor is full of, where a YAML parser sees errors.
 */
import type { Completion, CompletionContext, CompletionResult } from '@codemirror/autocomplete';
import type { JourneyLanguage } from './api';

type Schema = { [k: string]: unknown };
/** A key, or `*` for an item of a sequence. */
export type Segment = string;
export type Place = {
  /** The mapping or sequence the cursor is in, from the document root. */
  path: Segment[];
  /** Completing a key of that mapping, or the value of `key` (`*`: an item of that sequence). */
  kind: 'key' | 'value';
  key?: string;
  /** Keys already in that mapping, with their scalar values (a step's `type` picks its keys). */
  siblings: Map<string, string>;
  /** Where the word being completed starts. */
  from: number;
};

const KEY_LINE = /^([A-Za-z0-9_$.-]+)\s*:(?:\s+(.*))?$/;
const indentOf = (line: string) => line.length - line.trimStart().length;
const unquote = (v: string) => v.trim().replace(/^(['"])(.*)\1$/, '$2');

/** A block line read as: where its `- ` is (if any), where its content starts, and its `key:` and value. */
function readLine(line: string): { dash: number | null; at: number; key: string | null; value: string } | null {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return null;
  let at = indentOf(line);
  let dash: number | null = null;
  let rest = line.slice(at);
  while (rest.startsWith('- ') || rest === '-') {
    dash ??= at;
    const skip = rest === '-' ? 1 : 2 + indentOf(rest.slice(2));
    at += skip;
    rest = line.slice(at);
  }
  const m = KEY_LINE.exec(rest.replace(/\s+#.*$/, ''));
  return { dash, at, key: m ? m[1]! : null, value: m ? (m[2] ?? '') : rest };
}

/** The keys of the block mapping whose keys start at column `at`, around line `row`, with their scalar values. */
function blockSiblings(lines: string[], row: number, at: number, dash: number | null): Map<string, string> {
  const out = new Map<string, string>();
  // Upwards to the mapping's first key (a `- ` item starts it) unless this line starts the item itself.
  for (let r = row - 1; r >= 0 && dash === null; r--) {
    const l = readLine(lines[r]!);
    if (!l || l.at > at) continue;
    if (l.at < at) break;
    if (l.key) out.set(l.key, unquote(l.value));
    if (l.dash !== null) break;
  }
  // Downwards to the next item or the end of the mapping.
  for (let r = row + 1; r < lines.length; r++) {
    const l = readLine(lines[r]!);
    if (!l || l.at > at) continue;
    if (l.at < at || l.dash !== null) break;
    if (l.key) out.set(l.key, unquote(l.value));
  }
  return out;
}

/** Segments above a block line whose content starts at `at` (a `- ` at `dash` makes it an item). */
function blockParents(lines: string[], row: number, at: number, dash: number | null): Segment[] {
  const path: Segment[] = [];
  let target = at;
  if (dash !== null) {
    path.unshift('*');
    target = dash;
  }
  for (let r = row - 1; r >= 0 && target > 0; r--) {
    const l = readLine(lines[r]!);
    if (!l) continue;
    if (l.at === target && l.dash !== null && l.dash < target) {
      // A sibling that starts the item we are in.
      path.unshift('*');
      target = l.dash;
    } else if (l.at < target) {
      if (l.key) path.unshift(l.key);
      target = l.at;
      if (l.dash !== null) {
        path.unshift('*');
        target = l.dash;
      }
    }
  }
  return path;
}

type Frame = { kind: 'map' | 'seq'; key: string | null; keys: Map<string, string>; token: string };

/** Reads `{ a: 1, b: [x, {` left to right: the open flow collections and where the cursor is in the innermost. */
function flowFrames(text: string): { frames: Frame[]; segments: Segment[] } {
  const frames: Frame[] = [];
  const segments: Segment[] = [];
  let quote: string | null = null;
  for (const ch of text) {
    const f = frames.at(-1);
    if (quote) {
      if (ch === quote) quote = null;
      if (f) f.token += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      if (f) f.token += ch;
    } else if (ch === '{' || ch === '[') {
      if (f) segments.push(f.kind === 'seq' ? '*' : (f.key ?? ''));
      frames.push({ kind: ch === '{' ? 'map' : 'seq', key: null, keys: new Map(), token: '' });
    } else if (ch === '}' || ch === ']') {
      frames.pop();
      segments.pop();
      const parent = frames.at(-1);
      if (parent) parent.token = '\u0000'; // a collection, not a scalar
    } else if (ch === ':' && f?.kind === 'map' && f.key === null) {
      f.key = f.token.trim();
      f.token = '';
    } else if (ch === ',' && f) {
      if (f.kind === 'map' && f.key !== null) f.keys.set(f.key, unquote(f.token));
      f.key = null;
      f.token = '';
    } else if (f) {
      f.token += ch;
    }
  }
  return { frames, segments };
}

/** The keys a flow mapping has after the cursor (`{ |, type: wait }` knows its type). */
function flowKeysAfter(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let depth = 0;
  for (const part of text.split(/([{}[\],])/)) {
    if (part === '{' || part === '[') depth++;
    else if (part === '}' || part === ']') {
      if (depth === 0) break;
      depth--;
    } else if (depth === 0 && part !== ',') {
      const m = /^\s*([A-Za-z0-9_$.-]+)\s*:\s*(.*)$/.exec(part);
      if (m) out.set(m[1]!, unquote(m[2]!));
    }
  }
  return out;
}

/** Where `pos` is in the document: the mapping or sequence, and whether a key or a value is being typed. */
export function placeAt(doc: string, pos: number): Place {
  const lines = doc.split('\n');
  const before = doc.slice(0, pos);
  const row = before.split('\n').length - 1;
  const lineStart = before.lastIndexOf('\n') + 1;
  const lineBefore = before.slice(lineStart);
  const lineAfter = lines[row]!.slice(lineBefore.length);
  const word = /[A-Za-z0-9_$.-]*$/.exec(lineBefore)![0];
  const from = pos - word.length;
  const l = readLine(lineBefore + 'x') ?? { dash: null, at: lineBefore.length, key: null, value: '' };
  const parents = blockParents(lines, row, l.at, l.dash);
  // The block key's value holds flow collections: read them.
  const keyed = KEY_LINE.exec(lineBefore.slice(l.at));
  const flowText = keyed ? (keyed[2] ?? '') : lineBefore.slice(l.at);
  if (/[{[]/.test(flowText)) {
    const { frames, segments } = flowFrames(flowText);
    const f = frames.at(-1);
    if (f) {
      const path = [...parents, ...(keyed ? [keyed[1]!] : []), ...segments];
      if (f.kind === 'seq') return { path, kind: 'value', key: '*', siblings: new Map(), from };
      const siblings = new Map([...f.keys, ...flowKeysAfter(lineAfter)]);
      return f.key === null ? { path, kind: 'key', siblings, from } : { path, kind: 'value', key: f.key, siblings, from };
    }
  }
  const siblings = blockSiblings(lines, row, l.at, l.dash);
  if (keyed) return { path: parents, kind: 'value', key: keyed[1]!, siblings, from };
  return { path: parents, kind: 'key', siblings, from };
}

/** The schema alternatives at a path (references followed, unions spread). */
export function schemasAt(root: Schema, path: Segment[]): Schema[] {
  const defs = (root.$defs ?? {}) as Record<string, Schema>;
  const expand = (s: Schema | undefined, depth = 0): Schema[] => {
    if (!s || depth > 20) return [];
    if (typeof s.$ref === 'string') return expand(defs[s.$ref.replace('#/$defs/', '')], depth + 1);
    const alts = [...((s.oneOf as Schema[]) ?? []), ...((s.anyOf as Schema[]) ?? []), ...((s.allOf as Schema[]) ?? [])];
    return alts.length ? alts.flatMap((a) => expand(a, depth + 1)) : [s];
  };
  let current = expand(root);
  for (const seg of path) {
    current = current.flatMap((s) => {
      if (seg === '*') return expand(s.items as Schema | undefined);
      const props = s.properties as Record<string, Schema> | undefined;
      if (props?.[seg]) return expand(props[seg]);
      return typeof s.additionalProperties === 'object' ? expand(s.additionalProperties as Schema) : [];
    });
  }
  return current;
}

/** Of a union of object shapes, those whose `type` (or other const-valued key) matches what the mapping holds. */
function matching(alts: Schema[], siblings: Map<string, string>): Schema[] {
  const fits = alts.filter((s) => {
    const props = (s.properties ?? {}) as Record<string, Schema>;
    return [...siblings].every(([k, v]) => !(k in props) || props[k]!.const === undefined || props[k]!.const === v);
  });
  return fits.length ? fits : alts;
}

const STEP_REFS = new Set(['next', 'on_failure', 'on_missing', 'on_event', 'on_timeout', 'else', 'start']);

/** The step ids of the document (the keys under `steps:`). */
export function stepIds(doc: string): string[] {
  const lines = doc.split('\n');
  const at = lines.findIndex((l) => /^steps:\s*(#.*)?$/.test(l));
  if (at < 0) return [];
  const ids: string[] = [];
  let indent: number | null = null;
  for (const line of lines.slice(at + 1)) {
    const l = readLine(line);
    if (!l) continue;
    if (l.at === 0) break;
    indent ??= l.at;
    if (l.at === indent && l.key && l.dash === null) ids.push(l.key);
  }
  return ids;
}

function valueOptions(alts: Schema[], key: string, siblings: Map<string, string>, doc: string, lang: JourneyLanguage): Completion[] {
  if (STEP_REFS.has(key)) return stepIds(doc).map((id) => ({ label: id, type: 'variable' }));
  if (key === 'template') {
    const t = siblings.get('type');
    const names = t === 'send_email' ? lang.templates.email : t === 'send_sms' ? lang.templates.sms : t === 'notify' ? lang.templates.chat : [...lang.templates.email, ...lang.templates.sms, ...lang.templates.chat];
    return [...new Set(names)].map((n) => ({ label: n, type: 'text' }));
  }
  if (key === 'event') {
    const inDoc = [...doc.matchAll(/\bevent:[ \t]*["']?([A-Za-z0-9_.-]+)/g)].map((x) => x[1]!);
    return [...new Set([...lang.eventTypes, ...inDoc])].sort().map((e) => ({ label: e, type: 'enum' }));
  }
  if (key === 'topic') return lang.topics.map((t) => ({ label: t, type: 'enum' }));
  const values = new Set<string>();
  const add = (s: Schema) => {
    if (s.const !== undefined) values.add(String(s.const));
    for (const e of (s.enum as unknown[]) ?? []) values.add(String(e));
    if (s.type === 'boolean') ['true', 'false'].forEach((b) => values.add(b));
  };
  for (const s of alts.flatMap((a) => schemasAt({ ...a, $defs: lang.schema.$defs }, [key]))) add(s);
  return [...values].map((v) => ({ label: v, type: 'enum' }));
}

/** The completion source for the editor. */
export function journeyCompletion(lang: () => JourneyLanguage | null) {
  return (ctx: CompletionContext): CompletionResult | null => {
    const language = lang();
    if (!language) return null;
    const doc = ctx.state.doc.toString();
    const place = placeAt(doc, ctx.pos);
    if (place.from === ctx.pos && !ctx.explicit && place.kind === 'key') return null;
    const root = language.schema;
    const alts = matching(schemasAt(root, place.path), place.siblings);
    let options: Completion[];
    if (place.kind === 'key') {
      const keys = new Map<string, boolean>();
      for (const s of alts) {
        const required = new Set((s.required as string[]) ?? []);
        for (const k of Object.keys((s.properties ?? {}) as object)) if (!place.siblings.has(k) && k !== '$schema') keys.set(k, (keys.get(k) ?? false) || required.has(k));
      }
      options = [...keys].map(([k, req]) => ({ label: k, apply: `${k}: `, type: 'property', ...(req ? { detail: '*', boost: 1 } : {}) }));
    } else {
      options = valueOptions(alts, place.key!, place.siblings, doc, language);
    }
    if (!options.length) return null;
    return { from: place.from, options, validFor: /^[A-Za-z0-9_$.-]*$/ };
  };
}
