import { describe, expect, it } from 'vitest';
import { compileJourney, formatError } from '../../src/journey/compiler';
import { emptyCatalog, templateUsage, type TemplateCatalog } from '../../src/templates/catalog';
import { CONTACT_FIELD_NAMES } from '../../src/templates/context';
import { CONTACT_FIELDS } from '../../src/journey/schema';
import { catalog, compile, errorsOf, journey } from './helpers';

const steps = (s: Record<string, unknown>) => journey({ steps: s });
const email = (next = 'done', extra: Record<string, unknown> = {}) => ({ type: 'send_email', template: 'welcome', next, ...extra });
const done = { type: 'exit' };

describe('compileJourney: shape errors', () => {
  it('reports a bad duration with the file, path and a hint, as in the docs', () => {
    const errs = errorsOf(
      steps({
        'wait-click': { type: 'wait_for_event', event: 'email.clicked', timeout: '2 dayz', on_event: 'done', on_timeout: 'done' },
        done,
      }),
      { file: 'journeys/new-lead.yaml' },
    );
    expect(errs).toEqual(['journeys/new-lead.yaml: steps.wait-click.timeout: "2 dayz" is not a duration (use 2d, 48h or P2D)']);
  });

  it('reports a number where a duration belongs', () => {
    expect(errorsOf(steps({ w: { type: 'wait', duration: 30, next: 'done' }, done }))).toEqual(['steps.w.duration: 30 is not a duration (use 2d, 48h or P2D)']);
  });

  it('names missing required fields, with a hint for next and else', () => {
    const errs = errorsOf(steps({ a: { type: 'send_email' }, b: { type: 'branch', conditions: [{ when: { tag: 'x' }, next: 'a' }] } }));
    expect(errs).toContain('steps.a.template: is required');
    expect(errs).toContain('steps.a.next: is required: name the step that follows (end a path with an exit or goal step)');
    expect(errs).toContain('steps.b.else: is required: every branch needs an else step (where contacts go when no condition matches)');
  });

  it('flags unknown fields with a suggestion', () => {
    expect(errorsOf(steps({ a: { type: 'send_email', template: 'w', nxt: 'done', next: 'done' }, done }))).toEqual([
      'steps.a.nxt: unknown field (did you mean "next"?)',
    ]);
  });

  it('flags an unknown step type with a suggestion and the list of types', () => {
    const [err] = errorsOf(steps({ a: { type: 'send_mail', next: 'done' }, done }));
    expect(err).toMatch(/^steps\.a\.type: "send_mail" is not a step type \(did you mean "send_email"\?\) \(use one of send_email, send_sms, /);
  });

  it('flags wrong enum values, types and empty lists', () => {
    const errs = errorsOf(
      journey({
        triggers: [],
        settings: { unknown_contact: 'maybe', quiet_hours: { start: '9pm', end: '08:00' }, timezone: 'Mars/Olympus' },
        steps: { a: email('done', { category: 'promo' }), done },
      }),
    );
    expect(errs).toEqual(
      expect.arrayContaining([
        'triggers: needs at least one item',
        'settings.unknown_contact: "maybe" is not one of create, reject',
        'settings.quiet_hours.start: "9pm" is not a time of day (use 24-hour HH:MM such as 08:30)',
        'settings.timezone: "Mars/Olympus" is not an IANA time zone (such as Asia/Shanghai or Europe/Berlin)',
        'steps.a.category: "promo" is not one of marketing, transactional',
      ]),
    );
  });

  it('explains union mistakes by the closest alternative', () => {
    const errs = errorsOf(
      steps({
        b: { type: 'branch', conditions: [{ when: { field: 'score', gte: 'x', bogus: 1 }, next: 'done' }, { when: { field: 'score' }, next: 'done' }], else: 'done' },
        done,
      }),
    );
    expect(errs).toContain('steps.b.conditions[0].when.bogus: unknown field');
    expect(errs).toContain('steps.b.conditions[1].when: needs an operator (one of eq, neq, in, contains, gt, gte, lt, lte, exists, before, after)');
  });

  it('reports every error at once, across sections and steps', () => {
    const errs = errorsOf({
      id: 'Bad Id',
      name: '',
      triggers: [{ type: 'event' }],
      settings: { event_lookback: 'soon' },
      steps: {
        a: { type: 'wait', duration: '1x', next: 'b' },
        b: { type: 'tag', tags: [], next: 'nowhere' },
      },
    });
    expect(errs).toEqual(
      expect.arrayContaining([
        'id: "Bad Id" is not a valid id (use lowercase letters, digits and -)',
        'name: must not be empty',
        'triggers[0].event: is required',
        'settings.event_lookback: "soon" is not a duration (use 2d, 48h or P2D)',
        'steps.a.duration: "1x" is not a duration (use 2d, 48h or P2D)',
        'steps.b.tags: needs at least one item',
        'steps.b.next: "nowhere" is not a step in this journey',
      ]),
    );
    expect(errs.length).toBeGreaterThanOrEqual(7);
  });

  it('reports YAML syntax errors with line numbers', () => {
    const r = compileJourney('id: x\nname: test\nsteps:\n  a: [1, 2\n  b: 3\n', { file: 'j.yaml' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors[0]!.line).toBeGreaterThanOrEqual(4);
    expect(formatError(r.errors[0]!)).toMatch(/^j\.yaml: YAML syntax error at line \d+, column \d+: /);
  });

  it('reports duplicate YAML keys as syntax errors', () => {
    expect(errorsOf('id: x\nid: y\n')[0]).toMatch(/YAML syntax error at line 2/);
  });

  it('refuses custom YAML tags and unknown directives instead of reading them as strings', () => {
    expect(errorsOf('id: x\nname: !!js/function "function () { return process }"\n')[0]).toMatch(
      /^YAML at line 2, column 7: Unresolved tag: tag:yaml\.org,2002:js\/function \(journeys are plain YAML/,
    );
    expect(errorsOf('%FOO bar\n---\nid: x\n')[0]).toMatch(/^YAML at line 1, column 1: .*directive/i);
  });

  it('rejects a document that is not a mapping', () => {
    expect(errorsOf('- just\n- a list\n')).toEqual(['a journey must be a mapping with id, name, triggers and steps (got ["just","a list"])']);
  });

  it('attaches YAML line numbers and step ids to errors', () => {
    const r = compileJourney('id: t\nname: T\ntriggers:\n  - type: event\n    event: x\nsteps:\n  a:\n    type: wait\n    duration: nope\n    next: a\n');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors[0]).toMatchObject({ path: 'steps.a.duration', stepId: 'a', line: 9 });
  });
});

describe('compileJourney: graph checks', () => {
  it('reports unknown step references with a suggestion', () => {
    expect(errorsOf(steps({ a: email('dne'), done }))).toEqual(['steps.a.next: "dne" is not a step in this journey (did you mean "done"?)']);
  });

  it('reports an unknown start step', () => {
    expect(errorsOf(journey({ start: 'nope', steps: { a: email(), done } }))).toEqual(['start: "nope" is not a step in this journey']);
  });

  it('reports unreachable steps', () => {
    expect(errorsOf(steps({ a: email(), orphan: email(), done }))).toEqual(['steps.orphan: is unreachable: no path from the start step (a) leads here']);
  });

  it('reports loops without a wait, and accepts loops through a wait', () => {
    const loop = { a: { type: 'tag', tags: 'x', next: 'b' }, b: { type: 'untag', tags: 'x', next: 'a' } };
    expect(errorsOf(steps(loop))).toEqual([
      'steps.a: a → b → a is a loop without a wait; a contact would cycle forever (add a wait or wait_for_event step to the loop)',
    ]);
    expect(errorsOf(steps({ a: { type: 'tag', tags: 'x', next: 'a' } }))[0]).toMatch(/a → a is a loop without a wait/);
    const withWait = { a: { type: 'tag', tags: 'x', next: 'w' }, w: { type: 'wait', duration: '1d', next: 'a' } };
    expect(compileJourney(steps(withWait)).ok).toBe(true);
  });

  it('requires split percentages to sum to 100', () => {
    const s = { type: 'split', paths: [{ name: 'a', percent: 50, next: 'done' }, { name: 'b', percent: 40, next: 'done' }] };
    expect(errorsOf(steps({ s, done }))).toEqual(['steps.s.paths: percentages add up to 90, not 100']);
  });

  it('rejects an empty step map', () => {
    expect(errorsOf(steps({}))).toEqual(['steps: needs at least one step']);
  });
});

describe('compileJourney: fields and templates', () => {
  it('rejects unknown contact fields with a suggestion, accepts attributes.* and event.*', () => {
    const b = (field: string) => steps({ b: { type: 'branch', conditions: [{ when: { field, exists: true }, next: 'done' }], else: 'done' }, done });
    expect(errorsOf(b('industy'))[0]).toMatch(/^steps\.b\.conditions\[0\]\.when\.field: "industy" is not a contact field \(did you mean "industry"\?\)/);
    expect(compileJourney(b('attributes.plan')).ok).toBe(true);
    expect(compileJourney(b('event.attended')).ok).toBe(true);
  });

  it('checks fields even in a branch that is invalid for another reason', () => {
    const errs = errorsOf(steps({ b: { type: 'branch', conditions: [{ when: { field: 'nope', eq: 1 }, next: 'done' }] }, done }));
    expect(errs.some((e) => e.startsWith('steps.b.else: is required'))).toBe(true);
    expect(errs.some((e) => e.startsWith('steps.b.conditions[0].when.field: "nope" is not a contact field'))).toBe(true);
  });

  it('refuses to set fields that have their own step type', () => {
    expect(errorsOf(steps({ s: { type: 'set_attribute', field: 'score', value: 3, next: 'done' }, done }))).toEqual([
      'steps.s.field: "score" cannot be set here: use an update_score step',
    ]);
  });

  it('refuses a built-in field a journey may not set, and a value its column cannot hold', () => {
    expect(
      errorsOf(
        steps({
          a: { type: 'set_attribute', field: 'email', value: 'x@example.com', next: 'b' },
          b: { type: 'set_attribute', field: 'industry', value: 3, next: 'c' },
          c: { type: 'set_attribute', field: 'timezone', value: 'Mars/Base', next: 'd' },
          d: { type: 'set_attribute', field: 'attributes.seats', value: 3, next: 'done' },
          done,
        }),
      ),
    ).toEqual([
      'steps.a.field: "email" cannot be set here: change it through the contacts API (PUT /v1/contacts), which normalizes it and merges duplicates',
      'steps.b.value: 3 cannot be stored in industry: it takes text (or null)',
      'steps.c.value: "Mars/Base" is not an IANA time zone (such as Asia/Shanghai or Europe/Berlin)',
    ]);
  });

  it('reports templates that do not exist, with a suggestion', () => {
    const errs = errorsOf(steps({ a: email('done', { template: 'welcom' }), done }), { templates: catalog });
    expect(errs).toEqual(['steps.a.template: email template "welcom" does not exist (did you mean "welcome"?) (expected journeys/templates/welcom/<locale>/)']);
  });

  it('reports a missing locale version of a template', () => {
    const doc = journey({ settings: { locales: ['en', 'ja'] }, steps: { a: email(), done } });
    expect(errorsOf(doc, { templates: catalog })).toEqual(['steps.a.template: email template "welcome" has no ja version (add journeys/templates/welcome/ja/)']);
  });

  it('reports template variables no contact field provides, and bad inline templates', () => {
    const cat: TemplateCatalog = emptyCatalog();
    cat.templates.email.promo = { en: { locale: 'en', parts: ['subject', 'html'], variables: ['contact.firstname', 'first_name'], partials: ['missing'], layout: 'nope' } };
    const errs = errorsOf(
      steps({
        a: email('b', { template: 'promo', subject: 'Hi {{frist_name}}' }),
        b: { type: 'send_sms', body: 'Hi {{#if x}}', next: 'done' },
        done,
      }),
      { templates: cat },
    );
    expect(errs).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^steps\.a\.template: journeys\/templates\/promo\/en: uses \{\{contact\.firstname\}\}, which no contact field provides/),
        expect.stringMatching(/^steps\.a\.template: .* uses layout "nope", which is not in journeys\/templates\/_layouts\//),
        expect.stringMatching(/^steps\.a\.template: .* uses partial "missing"/),
        expect.stringMatching(/^steps\.a\.subject: uses \{\{frist_name\}\}, which no contact field provides/),
        expect.stringMatching(/^steps\.b\.body: is not a valid template: /),
      ]),
    );
    expect(errs.some((e) => e.includes('{{first_name}}'))).toBe(false);
  });

  it('checks SMS and chat templates in their own folders', () => {
    const errs = errorsOf(
      steps({
        s: { type: 'send_sms', template: 'welcome', next: 'n' },
        n: { type: 'notify', channel: 'slack', to: 'owner', template: 'reactivation-reminder', next: 'done' },
        done,
      }),
      { templates: catalog },
    );
    expect(errs[0]).toMatch(/^steps\.s\.template: sms template "welcome" does not exist/);
    expect(errs[1]).toMatch(/^steps\.n\.template: chat template "reactivation-reminder" does not exist/);
  });

  it('warns about marketing SMS without quiet hours (and still compiles)', () => {
    const r = compileJourney(steps({ s: { type: 'send_sms', body: 'Hi', next: 'done' }, done }));
    expect(r.ok).toBe(true);
    expect(r.warnings.map(formatError)).toEqual([expect.stringMatching(/^settings\.quiet_hours: marketing SMS without quiet hours/)]);
  });
});

describe('templateUsage', () => {
  it('collects variables but not helpers, data variables or paths inside each/with', () => {
    const u = templateUsage('{{!< base}}{{default first_name "x"}} {{contact.attributes.plan}} {{#each items}}{{name}}{{@index}}{{/each}}{{#if owner.name}}{{> footer}}{{else}}{{links.unsubscribe}}{{/if}} {{{raw}}} {{this.q}} {{fmt (lower company)}}');
    expect(u.variables).toEqual(['company', 'contact.attributes.plan', 'first_name', 'items', 'links.unsubscribe', 'owner.name', 'q', 'raw']);
    expect(u.partials).toEqual(['footer']);
    expect(u.helpers).toEqual(['fmt', 'lower']);
  });
});

describe('compileJourney: normalized plan', () => {
  it('fills defaults, converts durations and times, and makes every next explicit', () => {
    const plan = compile(
      journey({
        settings: { timezone: 'Asia/Shanghai', quiet_hours: { start: '21:00', end: '08:00' }, send_windows: [{ days: ['mon', 'fri'], start: '09:00', end: '18:00' }], frequency_caps: { email: { max: 2, per: '1w' } } },
        steps: [
          { id: 'a', type: 'send_email', template: 'welcome', next: 'w' },
          { id: 'w', type: 'wait_for_event', event: 'email.clicked', where: { link_tag: 'x', 'utm.source': { in: ['a', 'b'] } }, timeout: 'PT48H', on_event: 'done', on_timeout: 'done' },
          { id: 'done', type: 'exit' },
        ],
      }),
    );
    expect(plan.start).toBe('a');
    expect(plan.entry).toEqual({ reEntry: 'once', maxConcurrent: 1 });
    expect(plan.settings).toMatchObject({
      timezone: 'Asia/Shanghai',
      defaultLocale: 'en',
      locales: ['en'],
      quietHours: { startMinute: 1260, endMinute: 480 },
      sendWindows: [{ days: [1, 5], startMinute: 540, endMinute: 1080 }],
      frequencyCaps: { email: { max: 2, perMs: 7 * 86_400_000, onCap: 'defer' } },
      unknownContact: 'reject',
      eventLookbackMs: 15 * 60_000,
    });
    expect(plan.steps.a).toMatchObject({ id: 'a', category: 'marketing', next: 'w', onFailure: 'w' });
    expect(plan.steps.w).toMatchObject({
      timeoutMs: 48 * 3_600_000,
      lookbackMs: 15 * 60_000,
      where: [{ path: ['link_tag'], tests: [{ op: 'eq', value: 'x' }] }, { path: ['utm', 'source'], tests: [{ op: 'in', value: ['a', 'b'] }] }],
    });
    expect(plan.steps.done).toEqual({ id: 'done', type: 'exit', reason: 'done' });
    expect(plan.eventTypes).toEqual(['email.clicked']);
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });

  it('reports duplicate ids and missing ids in list-form steps', () => {
    const errs = errorsOf(journey({ steps: [{ id: 'a', type: 'exit' }, { id: 'a', type: 'exit' }, { type: 'exit' }] }));
    expect(errs).toEqual(['steps[1].id: "a" is used by more than one step', 'steps[2].id: is required: in a list of steps every step needs an id']);
  });

  it('accepts the same journey as YAML text and as an object', () => {
    const obj = steps({ a: email(), done });
    const yaml = 'id: test-journey\nname: Test journey\ntriggers:\n  - type: event\n    event: lead.created\nsteps:\n  a: { type: send_email, template: welcome, next: done }\n  done: { type: exit }\n';
    expect(compile(yaml)).toEqual(compile(obj));
  });

  it('does not modify the object it is given', () => {
    const obj = journey({ steps: [{ id: 'done', type: 'exit' }] });
    const copy = structuredClone(obj);
    compile(obj);
    expect(obj).toEqual(copy);
  });
});

describe('contact fields', () => {
  it('the pure field list matches the zod contact schema', () => {
    expect([...CONTACT_FIELD_NAMES].sort()).toEqual([...CONTACT_FIELDS].sort());
  });
});

describe('compileJourney: YAML aliases', () => {
  it('reports an alias without an anchor instead of throwing', () => {
    expect(errorsOf('id: x\nname: *missing\n', { file: 'a.yaml' })[0]).toMatch(/^a\.yaml: YAML error: .*alias/i);
  });
});

describe('compileJourney: hostile values', () => {
  it('reports objects whose toString was overwritten instead of throwing on them', () => {
    const errs = errorsOf(steps({ s: { type: { toString: {} }, next: 'done' }, done, x: { type: 'exit', reason: { toString: false } } }));
    expect(errs.some((e) => e.startsWith('steps.s.type: {"toString":{}} is not a step type'))).toBe(true);
    expect(errs.some((e) => e.startsWith('steps.x.reason:'))).toBe(true);
  });

  it('does not take inherited object members for steps', () => {
    const errs = errorsOf(journey({ start: 'constructor', steps: { s: { type: 'wait', duration: '1d', next: 'toString' }, done } }));
    expect(errs).toContain('steps.s.next: "toString" is not a step in this journey');
    expect(errs.some((e) => e.startsWith('start: "constructor" is not a step in this journey'))).toBe(true);
  });
});
