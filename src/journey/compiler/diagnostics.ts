/**
 * What the compiler reports and how it words it: the error type, its one-line format, paths into the journey
 * (`steps.wait-click.timeout`) and the small helpers every check uses to phrase and collect its messages.
 */
export interface JourneyError {
  file?: string;
  /** Dotted path into the journey (`steps.wait-click.timeout`); empty for document-level problems. */
  path: string;
  stepId?: string;
  message: string;
  /** 1-based line in the YAML source, when known. */
  line?: number;
  /** 1-based column in the YAML source, when known (with `line`). */
  column?: number;
}

/** `journeys/new-lead.yaml: steps.wait-click.timeout: "2 dayz" is not a duration (use 2d, 48h or P2D)` */
export function formatError(e: JourneyError): string {
  return [e.file, e.path, e.message].filter((x) => x !== undefined && x !== '').join(': ');
}

/**
 * The compiler's (and editors') `file:line:col: path: message`:
 * `journeys/new-lead.yaml:12:14: steps.wait-click.timeout: "2 dayz" is not a duration (use 2d, 48h or P2D)`.
 * Without a position (a journey given as an object) it is `formatError`'s form.
 */
export function formatLocated(e: JourneyError): string {
  if (e.line === undefined) return formatError(e);
  const at = `${e.file ?? '<journey>'}:${e.line}:${e.column ?? 1}`;
  return [at, e.path, e.message].filter((x) => x !== '').join(': ');
}

export type Path = (string | number)[];

export const show = (x: unknown): string => (typeof x === 'string' ? JSON.stringify(x) : x === undefined ? 'nothing' : JSON.stringify(x) ?? String(x));

export function formatPath(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

export function stepOf(path: Path): { stepId?: string } {
  return path[0] === 'steps' && typeof path[1] === 'string' ? { stepId: path[1] } : {};
}

export function dedupe(errors: JourneyError[]): JourneyError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = `${e.path}\u0000${e.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
