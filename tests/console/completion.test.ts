/**
 * The editor's completion (console/src/editor/completion.ts) on the real journey schema: where the cursor is in block
 * and flow YAML, and what is offered there. No browser needed; in the browser project with the console's other tests.
 */
import { readFileSync } from 'node:fs';
import { CompletionContext } from '@codemirror/autocomplete';
import { EditorState } from '@codemirror/state';
import { describe, expect, it } from 'vitest';
import { journeyCompletion, placeAt, stepIds } from '../../console/src/editor/completion';
import type { JourneyLanguage } from '../../console/src/editor/api';

const schema = JSON.parse(readFileSync(new URL('../../journeys/journey.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const language: JourneyLanguage = { schema, templates: { email: ['welcome', 'webinar-replay'], sms: ['reminder'], chat: ['mql-alert'] }, eventTypes: ['lead.created'], topics: ['newsletter'] };

const doc = `id: x
name: X
triggers:
  - type: event
    ev
steps:
  hello:
    type: send_email
    tem
  wait-demo: { type: wait_for_event, event: demo.booked, on_event: , timeout: 1h }
  done:
    type: exit
`;
const at = (needle: string) => doc.indexOf(needle) + needle.length;
const labels = (text: string, pos: number) => {
  const state = EditorState.create({ doc: text });
  const r = journeyCompletion(() => language)(new CompletionContext(state, pos, true));
  return r ? { from: r.from, labels: r.options.map((o) => o.label) } : null;
};

describe('journey YAML completion', () => {
  it('finds the mapping and the key or value under the cursor, in block and flow style', () => {
    const item = placeAt(doc, at('    ev'));
    expect(item).toMatchObject({ path: ['triggers', '*'], kind: 'key', from: at('    ev') - 2 });
    expect([...item.siblings]).toEqual([['type', 'event']]);
    expect(placeAt(doc, at('    tem'))).toMatchObject({ path: ['steps', 'hello'], kind: 'key' });
    const flow = placeAt(doc, at('on_event: '));
    expect(flow).toMatchObject({ path: ['steps', 'wait-demo'], kind: 'value', key: 'on_event' });
    expect(flow.siblings.get('type')).toBe('wait_for_event');
    expect(flow.siblings.get('timeout')).toBe('1h');
    expect(placeAt(doc, at('    type: send_email'))).toMatchObject({ path: ['steps', 'hello'], kind: 'value', key: 'type' });
    expect(stepIds(doc)).toEqual(['hello', 'wait-demo', 'done']);
  });

  it("offers a step's own keys, the step types, the server's templates, known events and the document's steps", () => {
    // A trigger item of type event: its keys, not the schedule trigger's.
    const trigger = labels(doc, at('    ev'))!.labels;
    expect(trigger).toContain('event');
    expect(trigger).not.toContain('cron');
    expect(trigger).not.toContain('type');
    // A send_email step: template and next, not wait_for_event's keys.
    const step = labels(doc, at('    tem'))!.labels;
    expect(step).toEqual(expect.arrayContaining(['template', 'next', 'subject', 'topic']));
    expect(step).not.toContain('on_timeout');
    expect(labels(doc, at('on_event: '))!.labels).toEqual(['hello', 'wait-demo', 'done']);
    const types = labels(doc, at('    type: send_email'))!.labels;
    expect(types).toEqual(expect.arrayContaining(['send_email', 'send_sms', 'wait', 'wait_for_event', 'branch', 'split', 'exit']));
    const withTemplate = doc.replace('    tem\n', '    template: \n');
    expect(labels(withTemplate, withTemplate.indexOf('template: ') + 10)!.labels).toEqual(['welcome', 'webinar-replay']);
    const sms = withTemplate.replace('type: send_email', 'type: send_sms');
    expect(labels(sms, sms.indexOf('template: ') + 10)!.labels).toEqual(['reminder']);
    // Event types: those seen by the server and those the document names.
    const event = doc.replace('    ev\n', '    event: \n');
    expect(labels(event, event.indexOf('event: \n') + 7)!.labels).toEqual(['demo.booked', 'lead.created']);
    // Inside a flow sequence of flow mappings: a trigger's keys.
    const flowTriggers = 'id: x\ntriggers: [{ type: schedule, ';
    expect(labels(flowTriggers, flowTriggers.length)!.labels).toEqual(expect.arrayContaining(['cron', 'timezone', 'at']));
  });
});
