import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { eq, sql } from 'drizzle-orm';
import { contacts, conversions, runArms } from '../../src/db/schema';
import { splitPosition } from '../../src/journey/hash';
import { publishJourney } from '../../src/publishing/journeys';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { compareProportions, wilsonInterval } from '../../src/stats/ab';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

/**
 * A 50/50 split with a holdout, on the real Temporal dev server, Postgres and SMTP: only the treatment arm is mailed,
 * the holdout's goal events still count, and the per-arm statistics come from the rows those runs wrote.
 */
const JOURNEY = `
id: e2e-split
name: E2E split with a holdout
triggers:
  - type: event
    event: lead.created
goals:
  - { id: demo, name: Demo booked, event: demo.booked }
start: ab
steps:
  ab:
    type: split
    paths:
      - { name: treatment, percent: 50, next: mail }
      - { name: control, percent: 50, holdout: true, next: mail }
  mail:
    type: send_email
    template: welcome
    category: transactional
    next: wait-demo
  wait-demo:
    type: wait_for_event
    event: demo.booked
    timeout: 1h
    on_event: done
    on_timeout: done
  done:
    type: exit
    reason: finished
`;

const PER_ARM = 20;
/** Contact ids chosen so that each arm gets exactly PER_ARM of them (the split position is a hash of contact, journey, step). */
function chooseContacts(): { treatment: string[]; control: string[] } {
  const out = { treatment: [] as string[], control: [] as string[] };
  for (let i = 1; out.treatment.length < PER_ARM || out.control.length < PER_ARM; i++) {
    const id = `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
    const arm = splitPosition(id, 'e2e-split', 'ab') < 50 ? out.treatment : out.control;
    if (arm.length < PER_ARM) arm.push(id);
  }
  return out;
}

describe('split with a holdout → per-arm runs, mail and conversions → stats', () => {
  let stack: TestStack;
  const chosen = chooseContacts();
  const email = (id: string) => `split-${id.slice(-4)}@example.com`;

  beforeAll(async () => {
    stack = await startTestStack();
    await publishJourney(stack.db.db, JOURNEY, { templates: await loadTemplateCatalog(TEMPLATES_DIR) });
    const all = [...chosen.treatment, ...chosen.control];
    await stack.db.db.insert(contacts).values(all.map((id) => ({ id, externalId: `split-${id}`, email: email(id), firstName: 'Split', locale: 'en' })));
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const post = (events: object[]) => request(stack.app).post('/v1/events').set('Authorization', `Bearer ${stack.keys.integration}`).send({ events }).expect(202);
  const event = (id: string, type: string, contactId: string) => ({ id, type, contact: { externalId: `split-${contactId}` } });

  it('records every arm, mails only the treatment arm, and counts the holdout’s conversions', async () => {
    const all = [...chosen.treatment, ...chosen.control];
    const started = await post(all.map((id) => event(`lead-${id}`, 'lead.created', id)));
    expect(started.body.rejected).toEqual([]);
    expect(started.body.accepted.every((a: { runs: string[] }) => a.runs.length === 1)).toBe(true);

    // Every run reports its arm once; the arms are the ones the hash gives.
    const arms = await until('an arm row for each of the 40 runs', async () => {
      const rows = await stack.db.db.select().from(runArms).where(eq(runArms.journeyId, 'e2e-split'));
      return rows.length === all.length ? rows : undefined;
    }, 90_000);
    for (const r of arms) {
      expect(r.splitId).toBe('ab');
      expect(r.arm).toBe(chosen.treatment.includes(r.contactId) ? 'treatment' : 'control');
      expect(r.holdout).toBe(r.arm === 'control');
      expect(r.workflowId).toBe(`journey:e2e-split:${r.contactId}`);
    }

    // Every run reaches the wait: treatment runs after their mail, holdout runs without one.
    await until('all 40 runs waiting for the demo', async () => {
      const res = await stack.db.db.execute(sql`select count(*)::int as n from journey_runs where journey_id = 'e2e-split' and current_step = 'wait-demo'`);
      const n = Number(((res as unknown as { rows: { n: number }[] }).rows ?? [])[0]?.n ?? 0);
      return n === all.length ? n : undefined;
    }, 90_000);
    await stack.smtp.waitFor(PER_ARM, 60_000);
    // A moment for any stray holdout mail to arrive: there must be none.
    await new Promise((r) => setTimeout(r, 1500));
    expect(stack.smtp.messages.flatMap((m) => m.envelopeTo).sort()).toEqual(chosen.treatment.map(email).sort());

    // 12 of the treatment arm and 6 of the holdout book a demo: the goal counts for both arms.
    const converters = [...chosen.treatment.slice(0, 12), ...chosen.control.slice(0, 6)];
    await post(converters.map((id) => event(`demo-${id}`, 'demo.booked', id)));
    await until('18 conversions recorded', async () => {
      const rows = await stack.db.db.select().from(conversions).where(eq(conversions.journeyId, 'e2e-split'));
      return rows.length === converters.length ? rows : undefined;
    }, 90_000);

    const stats = (await request(stack.app).get('/v1/journeys/e2e-split/stats').set('Authorization', `Bearer ${stack.keys.marketer}`).expect(200)).body;
    expect(stats.splits).toHaveLength(1);
    const split = stats.splits[0];
    expect(split).toMatchObject({ splitId: 'ab', control: 'control', test: 'two-proportion z-test (pooled standard error, two-sided)' });
    expect(split.arms.map((a: { arm: string }) => a.arm)).toEqual(['treatment', 'control']);
    const [treatment, control] = split.arms;
    expect(treatment).toMatchObject({ arm: 'treatment', holdout: false, control: false, percent: 50, entered: 20, messagesHeldOut: 0 });
    expect(control).toMatchObject({ arm: 'control', holdout: true, control: true, percent: 50, entered: 20, messagesHeldOut: 20 });
    expect(treatment.goals).toEqual([
      { goal: 'demo', conversions: 12, rate: 0.6, interval: wilsonInterval(12, 20), vsControl: compareProportions({ successes: 12, n: 20 }, { successes: 6, n: 20 }) },
    ]);
    expect(control.goals).toEqual([{ goal: 'demo', conversions: 6, rate: 0.3, interval: wilsonInterval(6, 20), vsControl: null }]);
    expect(treatment.goals[0].vsControl).toMatchObject({ tooSmall: false, reason: null });
    expect(treatment.goals[0].vsControl.pValue).toBeCloseTo(0.0565, 3);
    // The email channel counts only what was sent: the holdout's skipped mails are not messages.
    expect(stats.messages.byChannel.email.sent).toBe(PER_ARM);
  });

  it('the simulator shows the arm and, for a holdout contact, no send', async () => {
    const simulate = (id: string) =>
      request(stack.app)
        .post('/v1/journeys/e2e-split/simulate')
        .set('Authorization', `Bearer ${stack.keys.marketer}`)
        .send({ contact: { id, email: email(id), locale: 'en' }, timeline: [{ at: '+10m', type: 'demo.booked' }] })
        .expect(200);
    const held = (await simulate(chosen.control[0]!)).body;
    expect(held.arms).toEqual([{ splitId: 'ab', arm: 'control', holdout: true }]);
    expect(held.heldOut).toBe(1);
    expect(held.actions.some((a: { action: { kind: string } }) => a.action.kind === 'send_email')).toBe(false);
    expect(held.goals).toEqual(['demo']);
    expect(held.text).toMatch(/held out: email welcome not sent: arm control of split ab is a holdout/);
    const treated = (await simulate(chosen.treatment[0]!)).body;
    expect(treated.arms).toEqual([{ splitId: 'ab', arm: 'treatment', holdout: false }]);
    expect(treated.actions.filter((a: { action: { kind: string } }) => a.action.kind === 'send_email')).toHaveLength(1);
  });
});
