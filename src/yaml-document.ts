import { LineCounter, parseDocument, type Document, type DocumentOptions, type ParseOptions, type SchemaOptions, type YAMLError } from 'yaml';

/** One thing wrong with a YAML text, at its 1-based line and column; `message` is the library's first line. */
export type YamlProblem = { kind: 'syntax' | 'unsupported'; line: number; col: number; message: string };

/**
 * Parses the YAML of our own files (journeys, the scoring model, sales teams) and lists what is wrong with it:
 * syntax errors, and the custom tags (`!!js/function`, `!!python/object`) and unknown directives that the YAML
 * library only warns about and would read as plain strings — our files are plain YAML, so those are refused too.
 * Nothing is printed: the callers report problems with the file's name.
 */
export function parseYamlDocument(
  text: string,
  opts: ParseOptions & DocumentOptions & SchemaOptions = {},
): { doc: Document.Parsed; lineCounter: LineCounter; problems: YamlProblem[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { ...opts, lineCounter, prettyErrors: false });
  const at = (e: YAMLError) => e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
  const problems: YamlProblem[] = [
    ...doc.errors.map((e) => ({ kind: 'syntax' as const, ...at(e), message: e.message.split('\n')[0]! })),
    ...doc.warnings.map((w) => ({ kind: 'unsupported' as const, ...at(w), message: w.message.split('\n')[0]! })),
  ];
  return { doc, lineCounter, problems };
}
