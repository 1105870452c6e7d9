/**
 * Shape errors: zod issues rewritten as sentences that name the field (`is required: every branch needs an else
 * step`, `unknown field (did you mean "next"?)`) instead of zod's generic messages.
 */
import type { z } from 'zod';
import { JourneyDefinition, OPERATORS, Settings as SettingsSchema, Step as StepSchema, STEP_TYPES } from '../schema';
import { formatPath, show, stepOf, type JourneyError, type Path } from './diagnostics';
import { isObject } from './parse';
import { didYouMean } from './suggestions';

/** Known keys of each step type, for "did you mean" on misspelt fields. */
const STEP_KEYS: Record<string, string[]> = Object.fromEntries(
  StepSchema.options.map((o) => [o.shape.type.value, Object.keys(o.shape)]),
);
const VOCABULARY = new Set<string>([
  ...Object.keys(JourneyDefinition.shape),
  ...Object.values(STEP_KEYS).flat(),
  ...Object.keys(SettingsSchema.shape),
  ...OPERATORS,
  'event', 'where', 'within', 'at_least', 'field', 'tag', 'all', 'any', 'not', 'when', 'reason', 'filter', 'cron', 'at',
  'timezone', 'audience', 'from', 'to', 're_entry', 'max_concurrent', 'key', 'cap', 'total', 'per_day', 'per_hour', 'after', 'id', 'exit', 'max', 'per', 'on_cap',
  'days', 'start', 'end', 'strategy', 'team', 'rules', 'fallback_team', 'owner', 'due', 'title', 'escalate_to',
  'percent', 'holdout', 'offset', 'time', 'user', 'group', 'currency', 'email', 'sms',
]);

const MISSING_HINTS: Record<string, string> = {
  else: 'every branch needs an else step (where contacts go when no condition matches)',
  next: 'name the step that follows (end a path with an exit or goal step)',
  type: `use one of ${STEP_TYPES.join(', ')}`,
};

const article = (t: string) => (t === 'array' ? 'a list' : t === 'object' ? 'a mapping' : /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);

export function translate(issue: z.core.$ZodIssue, base: Path, raw: unknown, out: JourneyError[]): void {
  const path = [...base, ...(issue.path as Path)];
  const push = (message: string, p: Path = path): void => {
    out.push({ path: formatPath(p), message, ...stepOf(p) });
  };
  const input = (issue as { input?: unknown }).input;
  const custom = !issue.message.startsWith('Invalid') && !issue.message.startsWith('Unrecognized');
  switch (issue.code) {
    case 'invalid_type': {
      if (input === undefined) {
        const key = String(path[path.length - 1]);
        return push(MISSING_HINTS[key] ? `is required: ${MISSING_HINTS[key]}` : 'is required');
      }
      if (custom) return push(issue.message);
      return push(`expected ${article(issue.expected)}, got ${show(input)}`);
    }
    case 'invalid_value': {
      const values = issue.values.map(String);
      return push(`${show(input)} is not one of ${values.join(', ')}${typeof input === 'string' ? didYouMean(input, values) : ''}`);
    }
    case 'unrecognized_keys': {
      for (const key of issue.keys) {
        const candidates = knownKeysAt(path, raw) ?? VOCABULARY;
        push(`unknown field${didYouMean(key, candidates)}`, [...path, key]);
      }
      return;
    }
    case 'invalid_union': {
      const disc = (issue as { discriminator?: string }).discriminator;
      if (disc !== undefined || (issue as { note?: string }).note === 'No matching discriminator') {
        const options = ((issue as { options?: unknown[] }).options ?? []).map(String);
        const key = disc ?? String(path[path.length - 1]);
        const value = disc !== undefined && isObject(input) ? input[disc] : input;
        const what = key === 'type' && path[0] === 'steps' ? 'a step type' : `a valid ${key}`;
        if (value === undefined) return push(`is required (use one of ${options.join(', ')})`);
        return push(`${show(value)} is not ${what}${typeof value === 'string' ? didYouMean(value, options) : ''} (use one of ${options.join(', ')})`);
      }
      const branches = issue.errors;
      // "expected a string or a list": every alternative rejected the value's type outright.
      if (branches.every((b) => b.length === 1 && b[0]!.code === 'invalid_type' && b[0]!.path.length === 0)) {
        const expected = [...new Set(branches.map((b) => article((b[0] as { expected: string }).expected)))];
        return push(`expected ${expected.join(' or ')}, got ${show(input)}`);
      }
      // Otherwise explain the alternative that came closest (fewest problems, no unknown keys at its root).
      const score = (b: z.core.$ZodIssue[]) => b.length + (b.some((i) => i.code === 'unrecognized_keys' && i.path.length === 0) ? 100 : 0) + (b.some((i) => i.code === 'invalid_type' && i.path.length === 0) ? 1000 : 0);
      const best = [...branches].sort((a, b) => score(a) - score(b))[0] ?? [];
      for (const i of best) translate(i, path, raw, out);
      return;
    }
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'array') return push(min === 1 ? 'needs at least one item' : `needs at least ${min} items`);
      if (issue.origin === 'string') return push('must not be empty');
      return push(issue.inclusive === false ? `must be greater than ${min}` : `must be at least ${min}`);
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'array') return push(`allows at most ${max} items`);
      return push(`must be at most ${max}`);
    }
    case 'invalid_key': {
      const inner = issue.issues[0];
      return push(inner && !inner.message.startsWith('Invalid') ? inner.message : `${show(input)} is not a valid key`);
    }
    default:
      return push(issue.message);
  }
}

/** Keys valid at a path, when we can tell (the step's own type). */
function knownKeysAt(path: Path, raw: unknown): string[] | undefined {
  if (path.length === 2 && path[0] === 'steps' && isObject(raw) && isObject(raw.steps)) {
    const step = raw.steps[String(path[1])];
    if (isObject(step) && typeof step.type === 'string') return STEP_KEYS[step.type];
  }
  if (path.length === 0) return Object.keys(JourneyDefinition.shape);
  if (path.length === 1 && path[0] === 'settings') return Object.keys(SettingsSchema.shape);
  return undefined;
}
