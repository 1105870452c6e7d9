import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileJourney, formatError } from '../../src/journey/compiler';
import { eventVocabularyTable, SYSTEM_EVENTS } from '../../src/journey/events';
import { seenEventTypes } from '../../src/db/event-types';
import { events } from '../../src/db/schema';
import { createTestDatabase } from '../helpers/db';
import { validateCommand } from '../../src/cli/journey-commands';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const journey = (waitOn: string, extra = '') => `
id: vocab
name: Vocabulary
triggers: [{ type: event, event: lead.mql }]
${extra}
steps:
  wait: { type: wait_for_event, event: ${waitOn}, timeout: 2d, on_event: done, on_timeout: done }
  done: { type: exit }
`;

describe('the event vocabulary', () => {
  it('the README table is the module\'s', () => {
    const readme = readFileSync('README.md', 'utf8');
    const table = /<!-- events:start -->\n([\s\S]*?)\n<!-- events:end -->/.exec(readme)?.[1];
    expect(table).toBe(eventVocabularyTable());
  });

  it('every event the system emits is literally emitted in src (CRM events are marked as such)', () => {
    // The emitters: tracking's record('…'), scoring's lead.mql, the hand-off feedback's `handoff.${outcome}`, launches,
    // contact writes (contact.updated / contact.unsubscribed) and date triggers (date.reached).
    const src = ['src/api/routes/tracking.ts', 'src/scoring/apply.ts', 'src/sales/feedback.ts', 'src/activities/launch.ts', 'src/scoring/model.ts', 'src/contacts/changes.ts', 'src/triggers/event.ts', 'src/deliverability/apply.ts', 'src/api/routes/sms-webhooks.ts']
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    for (const e of SYSTEM_EVENTS.filter((x) => x.source !== 'crm')) {
      const [prefix, name] = e.type.split('.') as [string, string];
      const literal = src.includes(`'${e.type}'`) || (prefix === 'handoff' && src.includes('`handoff.${fb.outcome}`') && src.includes(`'${name}'`)) || (e.type === 'lead.mql' && /'mql'|lead\.mql/.test(src));
      expect(literal, e.type).toBe(true);
    }
    expect(SYSTEM_EVENTS.filter((x) => x.source === 'crm').map((x) => x.type)).toEqual(['deal.created', 'deal.updated', 'deal.stage_changed', 'deal.won', 'deal.lost', 'order.paid', 'payment.received', 'sales.touched']);
  });
});

describe('the compiler warns about event types nothing sends', () => {
  it('email.click warns with did-you-mean email.clicked, at the step that waits for it', () => {
    const r = compileJourney(journey('email.click'), { knownEventTypes: [] });
    expect(r.ok).toBe(true);
    expect(r.warnings.map(formatError)).toEqual([
      'steps.wait.event: "email.click" is not an event type the system emits nor one known to arrive (did you mean "email.clicked"?): this wait always ends in done',
    ]);
  });

  it('triggers, exits and goals are checked too, each type once', () => {
    const src = journey('email.clicked', 'exit: [{ event: contact.deleted }, { event: contact.deleted }]\ngoals: [{ id: won, event: deal.wonn }]').replace('event: lead.mql', 'event: lead.mq');
    const r = compileJourney(src, { knownEventTypes: [] });
    expect(r.warnings.map((w) => w.path)).toEqual(['triggers[0].event', 'exit[0].event', 'goals[0].event']);
    expect(r.warnings[0]!.message).toContain('(did you mean "lead.mql"?)');
    expect(r.warnings[2]!.message).toContain('(did you mean "deal.won"?)');
  });

  it('without known types (no caller supplied them) nothing is checked', () => {
    expect(compileJourney(journey('email.click')).warnings).toEqual([]);
  });

  describe('types seen in the events table count as known', () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    beforeAll(async () => {
      db = await createTestDatabase();
    });
    afterAll(async () => db?.drop());

    it('opportunity.updated (a CRM event) warns until it was seen, then not', async () => {
      const src = journey('opportunity.updated');
      expect(compileJourney(src, { knownEventTypes: await seenEventTypes(db.db) }).warnings).toHaveLength(1);
      await db.db.insert(events).values([
        { id: 'e1', type: 'opportunity.updated', properties: {}, occurredAt: new Date(), source: 'api' },
        { id: 'e2', type: 'opportunity.updated', properties: {}, occurredAt: new Date(), source: 'api' },
        { id: 'e3', type: 'page.viewed', properties: {}, occurredAt: new Date(), source: 'api' },
      ]);
      expect((await seenEventTypes(db.db)).sort()).toEqual(['opportunity.updated', 'page.viewed']);
      expect(compileJourney(src, { knownEventTypes: await seenEventTypes(db.db) }).warnings).toEqual([]);
    });
  });

  it('itinera validate prints the warning; a type another journey in the directory uses is known', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vocab-'));
    writeFileSync(join(dir, 'a.yaml'), journey('email.click'));
    writeFileSync(join(dir, 'b.yaml'), journey('opportunity.update').replace('id: vocab', 'id: vocab-b'));
    writeFileSync(join(dir, 'c.yaml'), journey('opportunity.updated').replace('id: vocab', 'id: vocab-c'));
    const err: string[] = [];
    const code = await validateCommand([join(dir, 'a.yaml'), join(dir, 'b.yaml')], {}, { out: () => undefined, err: (l) => err.push(l) });
    expect(code).toBe(0);
    // The CLI cannot know what the CRM sends: it warns on likely misspellings of a known type only, and the types
    // sibling journeys use count as known (b.yaml's type is one edit from c.yaml's).
    expect(err).toEqual([
      `  warning: ${join(dir, 'a.yaml')}:7:40: steps.wait.event: "email.click" is not an event type the system emits nor one known to arrive (did you mean "email.clicked"?): this wait always ends in done`,
      `  warning: ${join(dir, 'b.yaml')}:7:40: steps.wait.event: "opportunity.update" is not an event type the system emits nor one known to arrive (did you mean "opportunity.updated"?): this wait always ends in done`,
    ]);
  });
});
