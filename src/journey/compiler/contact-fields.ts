/**
 * The contact fields a run's rules read (`plan.contactFields`): exit and goal `when:` rules, branch conditions,
 * territory rules, `until_date` and `owner_attribute` fields. The router signals a running run with a contact change
 * only when a changed path is one of these, so a score bump does not wake every run of a busy contact.
 */
import type { JourneyPlan, PlanCondition } from '../plan';

/** Dotted contact paths a condition reads; `tags` for tag conditions. Trigger properties and journey fields are not the contact's. */
export function conditionFields(c: PlanCondition, into: Set<string>): void {
  switch (c.op) {
    case 'all':
    case 'any':
      c.of.forEach((x) => conditionFields(x, into));
      return;
    case 'not':
      conditionFields(c.of, into);
      return;
    case 'field':
      addPath(c.field, into);
      return;
    case 'tag':
      into.add('tags');
      return;
    case 'event':
      return;
  }
}

function addPath(path: readonly string[], into: Set<string>): void {
  if (path[0] === 'event' || path[0] === 'journey') return;
  into.add(path.join('.'));
}

/** Sorted, without duplicates; empty when the run's rules read no contact field. */
export function contactFieldsOf(plan: Pick<JourneyPlan, 'exitRules' | 'goals' | 'steps'>): string[] {
  const out = new Set<string>();
  for (const r of plan.exitRules) if (r.kind === 'condition') conditionFields(r.when, out);
  for (const g of plan.goals) if (g.when) conditionFields(g.when, out);
  for (const s of Object.values(plan.steps)) {
    if (s.type === 'branch') s.conditions.forEach((x) => conditionFields(x.when, out));
    else if (s.type === 'wait' && s.wait.mode === 'until_date') addPath(s.wait.field, out);
    else if (s.type === 'handoff_to_sales') {
      if (s.assignment.strategy === 'territory') s.assignment.rules.forEach((r) => conditionFields(r.when, out));
      else if (s.assignment.strategy === 'owner_attribute') addPath(s.assignment.field, out);
    }
  }
  return [...out].sort();
}

/**
 * Whether a changed contact path touches a field the run reads: equal, or one inside the other (`attributes.plan`
 * changed and the run reads `attributes.plan.tier`, or the reverse). `country` is kept in `attributes.country`.
 */
export function readsChangedPath(fields: readonly string[], changed: string): boolean {
  const c = changed === 'attributes.country' ? 'country' : changed;
  return fields.some((f) => f === c || f.startsWith(`${c}.`) || c.startsWith(`${f}.`) || f === changed || changed.startsWith(`${f}.`));
}
