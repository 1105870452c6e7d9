import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { and, eq } from 'drizzle-orm';
import { journeyRuns, journeyRunSteps, messages } from '../../src/db/schema';
import { compileOrThrow } from '../../src/journey/compiler';
import { simulate } from '../../src/journey/simulator';
import { loadTemplateCatalog } from '../../src/templates/catalog';
import { TEMPLATES_DIR } from '../../src/paths';
import { startTestStack, type TestStack } from '../helpers/stack';
import { until } from '../helpers/until';

const drip = (wait = '1d', template = 'welcome') => `
id: drip
name: Drip
triggers: [{ type: event, event: lead.created }]
settings:
  costs: { currency: CNY, email: 0.25 }
start: welcome
steps:
  welcome: { type: send_email, template: ${template}, next: pause }
  pause: { type: wait, duration: ${wait}, next: done }
  done: { type: exit }
`;

const pauseJourney = `
id: pause-j
name: Pause test
triggers: [{ type: event, event: trial.started }]
start: wait-demo
steps:
  wait-demo: { type: wait_for_event, event: demo.booked, timeout: 1h, on_event: booked, on_timeout: timed-out }
  booked: { type: exit, reason: booked }
  timed-out: { type: exit, reason: timed-out }
`;

describe('journeys API', () => {
  let stack: TestStack;
  const as = (role: keyof TestStack['keys'] = 'marketer') => ({ Authorization: `Bearer ${stack.keys[role]}` });
  const yaml = (method: 'post' | 'put', path: string, body: string) =>
    request(stack.app)[method](path).set(as()).set('content-type', 'application/yaml').send(body);
  const post = (path: string, body?: object) => {
    const r = request(stack.app).post(path).set(as());
    return body ? r.send(body) : r;
  };
  const get = (path: string) => request(stack.app).get(path).set(as());
  const expectProblem = (res: request.Response, status: number) => {
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    return res.body as { code: string; detail: string; errors?: { path: string; message: string }[] };
  };

  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  describe('drafts', () => {
    it('creates a draft from raw YAML', async () => {
      const res = await yaml('post', '/v1/journeys', drip()).expect(201);
      expect(res.headers.location).toBe('/v1/journeys/drip');
      expect(res.body).toMatchObject({ id: 'drip', name: 'Drip', status: 'draft', latestVersion: null, versions: [], draft: { source: drip(), publishedAs: null } });
      expect(res.body.validation).toMatchObject({ valid: true, errors: [], contentHash: expect.stringMatching(/^sha256:/) });
      const again = expectProblem(await yaml('post', '/v1/journeys', drip()), 409);
      expect(again.code).toBe('journey_exists');
    });

    it('creates from JSON { source } and from { definition }, and stores a draft that does not compile yet', async () => {
      const fromSource = await post('/v1/journeys', { source: drip().replace('id: drip', 'id: drip-json'), format: 'yaml' }).expect(201);
      expect(fromSource.body.id).toBe('drip-json');
      const definition = {
        id: 'drip-def',
        name: 'Drip (object)',
        triggers: [{ type: 'event', event: 'lead.created' }],
        steps: { done: { type: 'exit' } },
      };
      const fromObject = await post('/v1/journeys', { definition }).expect(201);
      expect(fromObject.body).toMatchObject({ id: 'drip-def', name: 'Drip (object)', status: 'draft' });
      expect(JSON.parse(fromObject.body.draft.source)).toEqual(definition);

      const wip = await yaml('post', '/v1/journeys', 'id: wip\nname: Work in progress\ntriggers: []\nsteps:\n  a: { type: wait, duration: 2 dayz, next: b }\n').expect(201);
      expect(wip.body.status).toBe('draft');
      expect(wip.body.validation.valid).toBe(false);
      expect(wip.body.validation.errors).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ path: 'steps.a.duration', text: expect.stringMatching(/^wip \(draft\): steps\.a\.duration: /) }),
          expect.objectContaining({ path: 'steps.a.next' }),
        ]),
      );
    });

    it('names the field of every malformed request', async () => {
      const none = expectProblem(await post('/v1/journeys'), 400);
      expect(none.errors).toEqual([expect.objectContaining({ path: 'source' })]);
      const empty = expectProblem(await post('/v1/journeys', {}), 400);
      expect(empty.errors).toEqual([expect.objectContaining({ path: 'source' })]);
      const both = expectProblem(await post('/v1/journeys', { source: drip(), definition: { id: 'x' } }), 400);
      expect(both.errors).toEqual([expect.objectContaining({ path: 'definition' })]);
      const notJson = expectProblem(await post('/v1/journeys', { source: drip(), format: 'json' }), 400);
      expect(notJson.errors).toEqual([expect.objectContaining({ path: 'source', message: expect.stringMatching(/not valid JSON/) })]);
      const badFormat = expectProblem(await post('/v1/journeys', { source: drip(), format: 'xml' }), 400);
      expect(badFormat.errors).toEqual([expect.objectContaining({ path: 'format' })]);
      const unknown = expectProblem(await post('/v1/journeys', { source: drip(), extra: 1 }), 400);
      expect(unknown.errors?.[0]?.message).toMatch(/extra/);
      const plain = expectProblem(await request(stack.app).post('/v1/journeys').set(as()).set('content-type', 'text/plain').send(drip()), 415);
      expect(plain.code).toBe('unsupported_media_type');
      const emptyYaml = expectProblem(await yaml('post', '/v1/journeys', '  \n'), 400);
      expect(emptyYaml.errors).toEqual([expect.objectContaining({ path: 'body' })]);
      const nulYaml = expectProblem(await yaml('post', '/v1/journeys', 'id: nul\nname: "a\u0000b"\n'), 400);
      expect(nulYaml.errors).toEqual([expect.objectContaining({ path: 'body', message: expect.stringMatching(/NUL/) })]);

      const noId = expectProblem(await yaml('post', '/v1/journeys', 'name: No id\nsteps: {}\n'), 422);
      expect(noId.code).toBe('invalid_journey');
      expect(noId.errors).toEqual([expect.objectContaining({ path: 'id' })]);
      const badYaml = expectProblem(await yaml('post', '/v1/journeys', 'id: [unclosed\n'), 422);
      expect(badYaml.errors?.[0]).toMatchObject({ path: '(root)', message: expect.stringMatching(/YAML syntax error/) });
    });

    it('replaces a draft, refusing another id and unknown journeys', async () => {
      const res = await yaml('put', '/v1/journeys/drip-json/draft', drip('2d').replace('id: drip', 'id: drip-json')).expect(200);
      expect(res.body.draft.source).toContain('duration: 2d');
      expect(res.body.validation.valid).toBe(true);
      const other = expectProblem(await yaml('put', '/v1/journeys/drip-json/draft', drip()), 422);
      expect(other.errors).toEqual([{ path: 'id', message: expect.stringMatching(/"drip" is not this journey's id "drip-json"/) }]);
      expectProblem(await yaml('put', '/v1/journeys/nope/draft', drip().replace('id: drip', 'id: nope')), 404);
      const invalidBody = expectProblem(await request(stack.app).put('/v1/journeys/drip-json/draft').set(as()).send({ source: 42 }), 400);
      expect(invalidBody.errors).toEqual([expect.objectContaining({ path: 'source' })]);
    });
  });

  describe('validate, publish, diff', () => {
    it('validates the draft with its templates and answers 422 with the compiler errors', async () => {
      await yaml('put', '/v1/journeys/drip/draft', drip('1d', 'no-such-template')).expect(200);
      const bad = expectProblem(await post('/v1/journeys/drip/validate'), 422);
      expect(bad.code).toBe('invalid_journey');
      expect(bad.errors).toEqual([{ path: 'steps.welcome.template', message: expect.stringMatching(/no-such-template/) }]);
      expect(bad.detail).toMatch(/^The journey is invalid:\ndrip \(draft\): steps\.welcome\.template: /);
      // Templates are checked at publish too: nothing is written.
      expectProblem(await post('/v1/journeys/drip/publish'), 422);
      expect((await get('/v1/journeys/drip').expect(200)).body).toMatchObject({ status: 'draft', versions: [] });

      await yaml('put', '/v1/journeys/drip/draft', drip()).expect(200);
      const ok = await post('/v1/journeys/drip/validate').expect(200);
      // Nothing has sent lead.created yet: a warning (not an error) that no contact would enter.
      expect(ok.body).toMatchObject({ valid: true, changed: true, latestVersion: null, warnings: [{ path: 'triggers[0].event', message: expect.stringContaining('"lead.created" is not an event type the system emits') }] });
      expectProblem(await post('/v1/journeys/nope/validate'), 404);
    });

    it('publishes a new version only when the content changed', async () => {
      const first = await post('/v1/journeys/drip/publish').expect(201);
      expect(first.body).toMatchObject({ journeyId: 'drip', version: 1, created: true, status: 'active' });
      const same = await post('/v1/journeys/drip/publish').expect(200);
      expect(same.body).toEqual({ ...first.body, created: false });
      // Reformatting is not a change: same compiled content, same version.
      await yaml('put', '/v1/journeys/drip/draft', `# a comment\n${drip()}`).expect(200);
      expect((await post('/v1/journeys/drip/publish').expect(200)).body).toMatchObject({ version: 1, created: false });
      expect((await post('/v1/journeys/drip/validate').expect(200)).body.changed).toBe(false);

      await yaml('put', '/v1/journeys/drip/draft', drip('3d')).expect(200);
      const second = await post('/v1/journeys/drip/publish').expect(201);
      expect(second.body).toMatchObject({ version: 2, created: true });

      const detail = await get('/v1/journeys/drip').expect(200);
      expect(detail.body).toMatchObject({ status: 'active', latestVersion: { version: 2, publishedBy: 'test marketer' }, draft: { publishedAs: 2 } });
      expect(detail.body.versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
      expectProblem(await get('/v1/journeys/nope'), 404);
      expectProblem(await post('/v1/journeys/nope/publish'), 404);
    });

    it('validates a text without storing it: errors and warnings at line and column, and whether it would publish', async () => {
      const r = await yaml('post', '/v1/journeys/validate', drip('2 dayz')).expect(200);
      // Line 10 of the text (it starts with a newline) is `  pause: { type: wait, duration: 2 dayz, next: done }`.
      expect(r.body).toMatchObject({ valid: false, contentHash: null, changed: null, latestVersion: null, plan: null });
      expect(r.body.errors).toEqual([expect.objectContaining({ path: 'steps.pause.duration', line: 10, column: 34, message: expect.stringMatching(/"2 dayz" is not a duration/) })]);
      // Event types are checked once the journey compiles: a typo is a warning at its place.
      const typo = await yaml('post', '/v1/journeys/validate', drip().replace('event: lead.created', 'event: lead.craeted')).expect(200);
      expect(typo.body).toMatchObject({ valid: true, changed: true, latestVersion: 2 });
      expect(typo.body.warnings).toEqual([expect.objectContaining({ line: 4, column: 34, path: 'triggers[0].event', message: expect.stringMatching(/"lead\.craeted" is not an event type/) })]);
      // Nothing was stored.
      expect((await get('/v1/journeys/drip').expect(200)).body.draft.source).not.toContain('2 dayz');

      const same = await post('/v1/journeys/validate', { source: drip('3d') }).expect(200);
      expect(same.body).toMatchObject({ valid: true, errors: [], changed: false, latestVersion: 2 });
      const changed = await post('/v1/journeys/validate', { source: drip('4d') }).expect(200);
      expect(changed.body).toMatchObject({ valid: true, changed: true, latestVersion: 2 });
      // The compiled plan, for the editor to draw as it is typed.
      expect(changed.body.plan).toMatchObject({ id: 'drip', start: expect.any(String), steps: expect.objectContaining({ pause: expect.objectContaining({ type: 'wait' }) }) });
      const fresh = await post('/v1/journeys/validate', { source: drip().replace('id: drip', 'id: drip-new') }).expect(200);
      expect(fresh.body).toMatchObject({ valid: true, changed: true, latestVersion: null });

      expectProblem(await request(stack.app).post('/v1/journeys/validate').set(as('integration')).send({ source: drip() }), 403);
      expectProblem(await request(stack.app).post('/v1/journeys/validate').set(as()).set('content-type', 'text/plain').send('x'), 415);
    });

    it('diffs two versions, or a version and the draft', async () => {
      const res = await get('/v1/journeys/drip/diff?from=1&to=2').expect(200);
      expect(res.body.text).toBe('~ steps.pause.wait.ms: 1d → 3d');
      expect(res.body.changes).toEqual([{ kind: 'changed', path: 'steps.pause.wait.ms', stepId: 'pause', before: 86_400_000, after: 259_200_000 }]);
      expect((await get('/v1/journeys/drip/diff?from=2').expect(200)).body).toMatchObject({ to: 2, text: 'no changes' });

      await yaml('put', '/v1/journeys/drip/draft', drip('3d').replace('  done: { type: exit }', '  done: { type: exit, reason: finished }')).expect(200);
      expect((await get('/v1/journeys/drip/diff?from=2&to=draft').expect(200)).body.text).toBe('~ steps.done.reason: "done" → "finished"');

      expectProblem(await get('/v1/journeys/drip/diff?from=9&to=2'), 404);
      expectProblem(await get('/v1/journeys/nope/diff?from=1'), 404);
      expect(expectProblem(await get('/v1/journeys/drip/diff?from=abc'), 400).errors).toEqual([expect.objectContaining({ path: 'query.from' })]);
      expect(expectProblem(await get('/v1/journeys/drip/diff'), 400).errors).toEqual([expect.objectContaining({ path: 'query.from' })]);
      // A draft never published has nothing to diff against by default.
      expectProblem(await get('/v1/journeys/drip-def/diff?from=draft'), 404);
    });

    it("answers a published version's source, for an editor to diff against", async () => {
      const v1 = await get('/v1/journeys/drip/versions/1').expect(200);
      expect(v1.body).toMatchObject({ journeyId: 'drip', version: 1, contentHash: expect.stringMatching(/^sha256:/), publishedBy: 'test marketer' });
      // The text as it was published (v1 went out with the draft of that time, not today's draft).
      expect(v1.body.source).toBe(drip());
      expect((await get('/v1/journeys/drip/versions/2').expect(200)).body.source).toBe(drip('3d'));
      expectProblem(await get('/v1/journeys/drip/versions/3'), 404);
      expectProblem(await get('/v1/journeys/nope/versions/1'), 404);
      expect(expectProblem(await get('/v1/journeys/drip/versions/0'), 400).errors).toEqual([expect.objectContaining({ path: 'params.version' })]);
      expectProblem(await request(stack.app).get('/v1/journeys/drip/versions/1').set(as('ops')), 403);
    });

    it('describes the journey language for editor completion: schema, templates, event types seen and topics', async () => {
      await request(stack.app).post('/v1/events').set(as('integration')).send({ id: 'lang-1', type: 'webinar.attended', contact: { externalId: 'lang-1' } }).expect(202);
      const r = await get('/v1/journey-schema').expect(200);
      expect(r.body.schema).toEqual(JSON.parse(readFileSync(new URL('../../journeys/journey.schema.json', import.meta.url), 'utf8')));
      const catalog = (await loadTemplateCatalog(TEMPLATES_DIR)).templates;
      expect(r.body.templates).toEqual({ email: Object.keys(catalog.email).sort(), sms: Object.keys(catalog.sms).sort(), chat: Object.keys(catalog.chat).sort() });
      expect(r.body.templates.email).toContain('welcome');
      expect(r.body.eventTypes).toContain('webinar.attended');
      expect(r.body.topics).toEqual(['newsletter', 'product_updates', 'events']);
      expectProblem(await request(stack.app).get('/v1/journey-schema').set(as('integration')), 403);
    });
  });

  describe('listing', () => {
    it('pages through journeys with a cursor and filters by status', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: request.Response = await get(`/v1/journeys?limit=2${cursor ? `&cursor=${cursor}` : ''}`).expect(200);
        expect(res.body.items.length).toBeLessThanOrEqual(2);
        seen.push(...res.body.items.map((j: { id: string }) => j.id));
        cursor = res.body.nextCursor;
      } while (cursor);
      expect(seen.sort()).toEqual(['drip', 'drip-def', 'drip-json', 'wip']);
      const active = await get('/v1/journeys?status=active').expect(200);
      expect(active.body.items.map((j: { id: string }) => j.id)).toEqual(['drip']);
      expect(expectProblem(await get('/v1/journeys?cursor=xyz'), 400).errors).toEqual([{ path: 'query.cursor', message: 'invalid cursor' }]);
      expect(expectProblem(await get('/v1/journeys?status=gone'), 400).errors).toEqual([expect.objectContaining({ path: 'query.status' })]);
      expect(expectProblem(await get('/v1/journeys?limit=0'), 400).errors).toEqual([expect.objectContaining({ path: 'query.limit' })]);
    });
  });

  describe('lifecycle', () => {
    it('allows only the transitions in the table', async () => {
      expect((await post('/v1/journeys/drip/pause').expect(200)).body).toEqual({ journeyId: 'drip', status: 'paused', previous: 'active', changed: true });
      expect((await post('/v1/journeys/drip/pause').expect(200)).body).toMatchObject({ status: 'paused', changed: false });
      // Publishing a paused journey keeps it paused.
      const published = await post('/v1/journeys/drip/publish').expect(201);
      expect(published.body).toMatchObject({ version: 3, status: 'paused' });
      expect((await post('/v1/journeys/drip/resume').expect(200)).body).toMatchObject({ status: 'active', previous: 'paused', changed: true });

      const draftPause = expectProblem(await post('/v1/journeys/drip-def/pause'), 409);
      expect(draftPause.code).toBe('invalid_transition');
      // Repeating the current state is not an error (a retried request succeeds); resuming a draft is.
      expect((await post('/v1/journeys/drip/resume').expect(200)).body).toMatchObject({ status: 'active', changed: false });
      expect(expectProblem(await post('/v1/journeys/wip/resume'), 409).detail).toMatch(/never been published/);
      expectProblem(await post('/v1/journeys/nope/pause'), 404);

      expect((await post('/v1/journeys/drip-def/archive').expect(200)).body).toMatchObject({ status: 'archived', previous: 'draft' });
      expect((await post('/v1/journeys/drip-def/archive').expect(200)).body.changed).toBe(false);
      for (const action of ['pause', 'resume', 'publish']) {
        expect(expectProblem(await post(`/v1/journeys/drip-def/${action}`), 409).code, action).toBe('journey_archived');
      }
      expect(expectProblem(await yaml('put', '/v1/journeys/drip-def/draft', 'id: drip-def\nname: again\n'), 409).code).toBe('journey_archived');
    });
  });

  describe('simulate', () => {
    const file = 'journeys/webinar-follow-up.yaml';
    const contact = JSON.parse(readFileSync('journeys/samples/webinar-follow-up/contact.json', 'utf8'));
    const timeline = JSON.parse(readFileSync('journeys/samples/webinar-follow-up/timeline-attended.json', 'utf8'));

    it('returns the path the CLI simulator computes, for the latest version or the draft', async () => {
      await yaml('post', '/v1/journeys', readFileSync(file, 'utf8')).expect(201);
      const draft = await post('/v1/journeys/webinar-follow-up/simulate', { contact, timeline }).expect(200);
      expect(draft.body.version).toBe('draft');
      await post('/v1/journeys/webinar-follow-up/publish').expect(201);
      const res = await post('/v1/journeys/webinar-follow-up/simulate', { contact, timeline }).expect(200);
      expect(res.body.version).toBe(1);

      const plan = compileOrThrow(readFileSync(file, 'utf8'), { templates: await loadTemplateCatalog(TEMPLATES_DIR) });
      const expected = simulate(plan, { contact, events: timeline.events, start: timeline.start, trigger: timeline.trigger });
      expect(res.body.path).toEqual(expected.path);
      expect(res.body.outcome).toEqual(expected.outcome);
      expect(res.body.actions).toEqual(JSON.parse(JSON.stringify(expected.actions)));
      expect(res.body.path.map((p: { stepId: string }) => p.stepId)).toEqual(['attended-or-not', 'attended-score', 'clear-no-show', 'mark-attended', 'next-morning', 'survey-email', 'attended-done']);
      expect(res.body.text).toMatch(/→ survey-email \(send_email\)/);
      expect(draft.body.path).toEqual(res.body.path);
      expect(res.body.state).toBeUndefined();
    });

    it('lists a schedule trigger\'s next five fire times in its time zone', async () => {
      const source = 'id: weekly-digest\nname: Weekly digest\ntriggers: [{ type: schedule, cron: "0 9 * * MON", timezone: Europe/Berlin }]\nsteps:\n  done: { type: exit }\n';
      await yaml('post', '/v1/journeys', source).expect(201);
      const res = await post('/v1/journeys/weekly-digest/simulate', { contact: { id: 'c1' }, start: '2026-12-07T12:00:00Z' }).expect(200);
      expect(res.body.schedule).toEqual([
        {
          trigger: 0,
          schedule: '0 9 * * MON',
          timezone: 'Europe/Berlin',
          next: ['2026-12-14', '2026-12-21', '2026-12-28', '2027-01-04', '2027-01-11'].map((d) => Date.parse(`${d}T08:00:00Z`)),
          local: ['2026-12-14 09:00 Mon', '2026-12-21 09:00 Mon', '2026-12-28 09:00 Mon', '2027-01-04 09:00 Mon', '2027-01-11 09:00 Mon'],
        },
      ]);
      expect(res.body.text).toContain('triggers.0 schedule "0 9 * * MON" (Europe/Berlin): next 5 fires');
    });

    it('names invalid fields and unknown versions', async () => {
      const noContact = expectProblem(await post('/v1/journeys/webinar-follow-up/simulate', { timeline }), 400);
      expect(noContact.errors).toEqual([expect.objectContaining({ path: 'contact' })]);
      const badAt = expectProblem(
        await post('/v1/journeys/webinar-follow-up/simulate', { contact, timeline: { ...timeline, events: [{ at: 'next tuesday', type: 'x' }] } }),
        400,
      );
      expect(badAt.errors).toEqual([expect.objectContaining({ path: 'timeline.events.0.at', message: expect.stringMatching(/is not a time/) })]);
      const badStart = expectProblem(await post('/v1/journeys/webinar-follow-up/simulate', { contact, start: 'soon' }), 400);
      expect(badStart.errors).toEqual([expect.objectContaining({ path: 'start' })]);
      expectProblem(await post('/v1/journeys/webinar-follow-up/simulate', { contact, version: 5 }), 404);
      expectProblem(await post('/v1/journeys/nope/simulate', { contact }), 404);
    });
  });

  describe('stats', () => {
    it('reports the funnel and ROI of a version over HTTP', async () => {
      // drip v1 prices email at 0.25; two runs entered, one accepted email.
      const [a, b] = ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'];
      await stack.db.db.insert(journeyRuns).values([
        { workflowId: 'w-a', runId: 'ra', journeyId: 'drip', version: 1, contactId: a, currentStep: 'pause', status: 'running' },
        { workflowId: 'w-b', runId: 'rb', journeyId: 'drip', version: 1, contactId: b, currentStep: 'done', status: 'completed' },
      ]);
      const t = new Date('2025-01-01T00:00:00Z');
      await stack.db.db.insert(journeyRunSteps).values([
        { workflowId: 'w-a', runId: 'ra', seq: 1, journeyId: 'drip', version: 1, contactId: a, stepId: 'welcome', enteredAt: t },
        { workflowId: 'w-a', runId: 'ra', seq: 2, journeyId: 'drip', version: 1, contactId: a, stepId: 'pause', enteredAt: t },
        { workflowId: 'w-b', runId: 'rb', seq: 1, journeyId: 'drip', version: 1, contactId: b, stepId: 'welcome', enteredAt: t },
        { workflowId: 'w-b', runId: 'rb', seq: 2, journeyId: 'drip', version: 1, contactId: b, stepId: 'pause', enteredAt: t },
        { workflowId: 'w-b', runId: 'rb', seq: 3, journeyId: 'drip', version: 1, contactId: b, stepId: 'done', enteredAt: t },
      ]);
      await stack.db.db.insert(messages).values([
        { idempotencyKey: 'w-a:welcome', channel: 'email', contactId: a, journeyId: 'drip', workflowId: 'w-a', stepId: 'welcome', recipient: 'a@x', status: 'sent', createdAt: new Date(t.getTime() + 1000) },
        { idempotencyKey: 'w-b:welcome', channel: 'email', contactId: b, journeyId: 'drip', workflowId: 'w-b', stepId: 'welcome', recipient: 'b@x', status: 'suppressed', createdAt: new Date(t.getTime() + 1000) },
      ]);
      const res = await get('/v1/journeys/drip/stats?version=1').expect(200);
      expect(res.body.steps).toEqual([
        { stepId: 'welcome', type: 'send_email', entered: 2, passed: 2, waiting: 0, exitedHere: 0 },
        { stepId: 'pause', type: 'wait', entered: 2, passed: 1, waiting: 1, exitedHere: 0 },
        { stepId: 'done', type: 'exit', entered: 1, passed: 0, waiting: 0, exitedHere: 1 },
      ]);
      expect(res.body.runs).toEqual({ total: 2, byStatus: { completed: 1, running: 1 } });
      expect(res.body.messages.byChannel.email).toEqual({ sent: 1, delivered: 0, bounced: 0, failed: 0, suppressed: 1 });
      expect(res.body.roi).toEqual({
        currency: 'CNY',
        cost: 0.25,
        costByChannel: { email: 0.25 },
        campaignCost: 0,
        revenue: 0,
        deals: 0,
        unconvertedRevenue: {},
        attribution: { model: 'linear', halfLifeDays: 7, lookbackDays: 365 },
        windowMs: null,
        roi: -1,
      });
      expect((await get('/v1/journeys/drip/stats?version=2').expect(200)).body.entered).toEqual({ runs: 0, contacts: 0 });

      expect(expectProblem(await get('/v1/journeys/drip/stats?version=9'), 404).detail).toMatch(/drip@9/);
      expectProblem(await get('/v1/journeys/nope/stats'), 404);
      expect(expectProblem(await get('/v1/journeys/drip/stats?version=first'), 400).errors).toEqual([expect.objectContaining({ path: 'query.version' })]);
    });
  });

  it('is for marketers (and admins), not for integrations or ops', async () => {
    await request(stack.app).get('/v1/journeys').set(as('admin')).expect(200);
    for (const role of ['integration', 'ops'] as const) {
      expect(expectProblem(await request(stack.app).get('/v1/journeys').set(as(role)), 403).code).toBe('forbidden');
      expectProblem(await request(stack.app).post('/v1/journeys/drip/pause').set(as(role)), 403);
    }
    expectProblem(await request(stack.app).get('/v1/journeys'), 401);
  });

  it('pausing stops new entries while a run in flight still receives its events', async () => {
    const event = (id: string, type: string, contact: string) =>
      request(stack.app).post('/v1/events').set(as('integration')).send({ id, type, contact: { externalId: contact } }).expect(202);
    await yaml('post', '/v1/journeys', pauseJourney).expect(201);
    // A draft starts nothing.
    expect((await event('p-0', 'trial.started', 'early')).body.accepted[0].runs).toEqual([]);
    await post('/v1/journeys/pause-j/publish').expect(201);

    const entered = (await event('p-1', 'trial.started', 'in-flight')).body.accepted[0];
    expect(entered.runs).toHaveLength(1);
    const workflowId: string = entered.runs[0];
    await until(async () => {
      const [r] = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.workflowId, workflowId));
      return r?.currentStep === 'wait-demo' ? r : undefined;
    });

    await post('/v1/journeys/pause-j/pause').expect(200);
    const refused = (await event('p-2', 'trial.started', 'newcomer')).body.accepted[0];
    expect(refused.runs).toEqual([]);

    const booked = (await event('p-3', 'demo.booked', 'in-flight')).body.accepted[0];
    expect(booked.runs).toEqual([workflowId]);
    const ended = await until(async () => {
      const [r] = await stack.db.db.select().from(journeyRuns).where(eq(journeyRuns.workflowId, workflowId));
      return r && r.status !== 'running' ? r : undefined;
    });
    expect(ended.currentStep).toBe('booked');
    const newcomers = await stack.db.db.select().from(journeyRuns).where(and(eq(journeyRuns.journeyId, 'pause-j'), eq(journeyRuns.status, 'running')));
    expect(newcomers).toEqual([]);

    await post('/v1/journeys/pause-j/resume').expect(200);
    expect((await event('p-4', 'trial.started', 'newcomer')).body.accepted[0].runs).toHaveLength(1);
  });
});
