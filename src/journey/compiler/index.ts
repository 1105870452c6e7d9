/**
 * Journey compiler: YAML/JSON source → validated, normalized {@link JourneyPlan}.
 *
 * Reports every problem it can find in one pass (a marketer fixing errors one by one through a
 * CI loop is the experience we avoid): YAML syntax, shape (zod issues rewritten as sentences that
 * name the field), step graph (unknown references, unreachable steps, loops without a wait, split
 * percentages) and templates (existence, locales, variables no contact field provides).
 * Graph checks run on the raw document, so they still work when some steps have shape errors.
 *
 * The public API. The passes live beside this file, one concern each: parse.ts (source → raw document),
 * zod-issues.ts (shape errors as sentences), graph.ts (step graph), semantics.ts (fields and templates),
 * normalize.ts (definition → plan), compile.ts (the passes in order), diagnostics.ts and suggestions.ts (wording).
 * None of them imports this file.
 */
export { compileCondition, compileJourney, compileOrThrow, type CompileOptions, type CompileResult } from './compile';
export { formatError, formatLocated, formatPath, type JourneyError } from './diagnostics';
export type { SourcePosition } from './parse';
export { checkEventTypes, eventTypesOfPlan } from './event-types';
