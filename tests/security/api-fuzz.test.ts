/**
 * Hostile input against every endpoint, generated from the route table the app mounts (so a new route is fuzzed and
 * checked for authorization without anyone adding it here), against a real Postgres database and the shared Temporal
 * dev server. Writes bench/results/chaos-parts/security.json with the counts at the end.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import request from 'supertest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, routeTable, type AppDeps } from '../../src/api/app';
import { generateKeyPairSync } from 'node:crypto';
import { createOutboundHttp } from '../../src/net/outbound';
import { createApiKey, revokeApiKey, ROLES, type Role } from '../../src/api/auth';
import type { RouteDef } from '../../src/api/route';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { createTestDatabase } from '../helpers/db';
import { TEST_SECRETS } from '../helpers/stack';
import { connectTestTemporal, type TestTemporal } from '../helpers/temporal';
import { mutate, readJourney, SAMPLES, type Json } from '../journey/helpers';
import { encode, hostileJson, hostileString, objectOf, PROTO_KEYS, RUN_FACTOR, SQLISH, schemaKeys, storableJson, storableText, TEMPLATE_INJECTIONS, YAML_ATTACKS } from './hostile';

/** The table as the app builds it; placeholder deps are enough to list routes (handlers are not called). */
const ROUTES = routeTable({ database: { db: {} } as AppDeps['database'], temporal: {} as AppDeps['temporal'], taskQueue: 'x', triggers: {} as AppDeps['triggers'], signingSecrets: TEST_SECRETS });
const RUNS_PER_ROUTE = 50 * RUN_FACTOR;
const JOURNEY_CASES = 100 * RUN_FACTOR;

const stats = { fuzz_cases: 0, server_errors: 0, authz_cases: 0, authz_failures: 0 };
const serverErrors: string[] = [];

type Body =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown }
  | { kind: 'raw'; type: string; text: string };

type Case = { method: string; url: string; key?: string; body: Body };

/** Values that get past the first check of some field, so the fuzz reaches handlers and the database. */
const PLAUSIBLE = fc.constantFrom<unknown>('accepted', 'rejected', 'cancel', 'terminate', 'email', 'sms', 'none', 'admin', 'marketer', 'draft', 'yaml', 'json', 1, 2, 10, 100, true, false, {}, [], 'a.b', 'lead.created', 2147483647, 2147483648);
const fieldValue = fc.oneof({ weight: 3, arbitrary: hostileJson }, { weight: 1, arbitrary: PLAUSIBLE });

function isObjectBody(body: Body): boolean {
  let v: unknown;
  if (body.kind === 'json') v = body.value;
  else if (body.kind === 'raw' && body.type === 'application/json') {
    try {
      v = JSON.parse(body.text);
    } catch {
      return false;
    }
  }
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Top-level keys (or indices) of a raw JSON body, when it parses. */
function rawKeys(body: { type: string; text: string }): string[] {
  if (body.type === 'application/x-www-form-urlencoded') return [...new URLSearchParams(body.text).keys()];
  if (body.type !== 'application/json') return [];
  try {
    const v: unknown = JSON.parse(body.text);
    return typeof v === 'object' && v !== null ? Object.keys(v) : [];
  } catch {
    return [];
  }
}

const label = (r: RouteDef) => `${r.method.toUpperCase()} ${r.path}`;

describe('hostile input against every route', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let temporal: TestTemporal;
  let app: ReturnType<typeof buildApp>;
  const keys = {} as Record<Role, string>;
  const revoked = {} as Record<Role, string>;
  /** Real ids for path parameters, so some cases reach existing rows. */
  const known: Record<string, string[]> = {};

  beforeAll(async () => {
    [db, temporal] = await Promise.all([createTestDatabase(), connectTestTemporal()]);
    app = buildApp({
      database: db,
      temporal: temporal.client,
      taskQueue: temporal.taskQueue,
      triggers: dbTriggerSource(db.db),
      signingSecrets: TEST_SECRETS,
      // The fuzz is one client sending fast: the per-key limit is tested in tests/api, here it would only answer 429.
      rateLimit: { perSecond: 1e6, burst: 1e6 },
      // The authorization matrix sends hundreds of keyless requests from one address: the per-address limits are tested in tests/api/abuse-limits.
      addressLimits: { unauthenticatedPerMinute: 1e6, publicPerMinute: 1e6 },
      aliyun: { token: 'fuzz-aliyun-callback-token-0123' },
      // Every provider webhook configured, so hostile bodies reach their parsers and signature checks (not a 404).
      emailFeedback: {
        ses: { topicArns: ['arn:aws:sns:us-east-1:123456789012:fuzz'], http: createOutboundHttp() },
        mailgun: { signingKey: 'fuzz-mailgun-signing-key' },
        sendgrid: { publicKey: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey },
        postmark: { user: 'fuzz', password: 'fuzz-postmark-password' },
      },
    });
    for (const role of ROLES) {
      keys[role] = (await createApiKey(db.db, { name: `fuzz ${role}`, role })).key;
      const old = await createApiKey(db.db, { name: `revoked ${role}`, role });
      await revokeApiKey(db.db, old.id);
      revoked[role] = old.key;
    }
    const m = { Authorization: `Bearer ${keys.marketer}` };
    await request(app).post('/v1/journeys').set(m).set('content-type', 'application/yaml').send(readJourney('new-lead-nurture')).expect(201);
    await request(app).post('/v1/journeys/new-lead-nurture/publish').set(m).expect(201);
    const contact = await request(app).put('/v1/contacts/fuzz-c1').set('Authorization', `Bearer ${keys.integration}`).send({ email: 'fuzz@example.com' }).expect(201);
    known.id = ['new-lead-nurture', contact.body.id as string];
    known.journeyId = ['new-lead-nurture'];
    known.externalId = ['fuzz-c1'];
    known.workflowId = [`journey:new-lead-nurture:${contact.body.id as string}`];
  });

  afterAll(async () => {
    mkdirSync('bench/results/chaos-parts', { recursive: true });
    writeFileSync('bench/results/chaos-parts/security.json', `${JSON.stringify(stats, null, 2)}\n`);
    await temporal?.close();
    await db?.drop();
  });

  const send = (c: Case) => {
    let r = request(app)[c.method as 'get'](c.url);
    if (c.key) r = r.set('Authorization', `Bearer ${c.key}`);
    if (c.body.kind === 'json') return r.set('content-type', 'application/json').send(JSON.stringify(c.body.value) ?? 'null');
    if (c.body.kind === 'raw') return r.set('content-type', c.body.type).send(c.body.text);
    return r;
  };

  /** The contract for every answer: never a 5xx; every 4xx is problem+json; a validation error names its field. */
  const check = (res: request.Response, c: Case, route: RouteDef) => {
    stats.fuzz_cases++;
    const what = `${c.method.toUpperCase()} ${c.url.slice(0, 200)} → ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`;
    if (res.status >= 500) {
      stats.server_errors++;
      serverErrors.push(what);
    }
    expect(res.status, what).toBeLessThan(500);
    if (res.status < 400) return;
    // The error handler's net under validation (a value Postgres refused) must never be what answers: a schema missed it.
    if (res.body?.code === 'unstorable_value') serverErrors.push(`unvalidated: ${what}`);
    expect(res.body?.code, `${what}: reached Postgres unvalidated`).not.toBe('unstorable_value');
    expect(res.headers['content-type'], what).toMatch(/^application\/problem\+json/);
    expect(res.body, what).toMatchObject({ status: res.status, code: expect.any(String), type: expect.any(String), title: expect.any(String) });
    if (res.body.code !== 'validation_failed' && res.status !== 422) return;
    const errors = res.body.errors as { path: unknown; message: unknown }[] | undefined;
    expect(errors?.length, what).toBeGreaterThan(0);
    // Keys of the body sent (indices for an array body): a path starting with one names what was sent.
    const sent = c.body.kind === 'json' && typeof c.body.value === 'object' && c.body.value !== null ? Object.keys(c.body.value) : c.body.kind === 'raw' ? rawKeys(c.body) : [];
    const fields = new Set(['query', 'params', 'body', 'source', ...schemaKeys(route.body ?? route.bodyDoc), ...sent]);
    for (const e of errors!) {
      expect(typeof e.path === 'string' && e.path.length > 0, what).toBe(true);
      expect(typeof e.message === 'string' && e.message.length > 0, what).toBe(true);
      // 422 carries the compiler's paths inside the journey document.
      if (res.status === 422) continue;
      // An unknown key is reported at its object, the message naming it (`Unrecognized key: "colour"`).
      if (/^Unrecognized keys?: "/.test(e.message as string)) continue;
      const path = e.path as string;
      // (root) is the body itself, which is fine only when the body is not an object at all.
      if (path === '(root)') expect(isObjectBody(c.body) && sent.length > 0, `${what}: (root) for a body with fields`).toBe(false);
      // A sent key may hold dots itself (`.`, `a.b`): the path names a field when it is one, or starts with one and a dot.
      // An empty key is shown as "" (fieldPath).
      else expect([...fields].map((f) => (f === '' ? '""' : f)).some((f) => path === f || path.startsWith(`${f}.`)), `${what}: error path ${path} names no field of the request`).toBe(true);
    }
  };

  const roleFor = (route: RouteDef) =>
    route.auth === 'public' ? fc.constant<Role | undefined>(undefined) : fc.constantFrom<Role | undefined>(...(route.auth as Role[]), 'admin');

  const paramArb = (name: string) =>
    fc.oneof({ weight: 3, arbitrary: hostileString.filter((s) => s.length < 3000) }, { weight: 2, arbitrary: fc.constantFrom(...(known[name] ?? ['x'])) }, { weight: 1, arbitrary: fc.uuid() });

  const queryArb = (route: RouteDef) => {
    const names = schemaKeys(route.query);
    const value = fc.oneof(hostileString.filter((s) => s.length < 2000), fc.constantFrom('1', '0', '-1', '500', '501', '2147483647', '2147483648', 'true', 'false', 'draft', 'running', 'email'), fc.constant('eyJ0IjoxZTMwMH0'));
    return fc
      .array(fc.tuple(fc.oneof({ weight: 4, arbitrary: names.length ? fc.constantFrom(...names) : fc.constant('x') }, { weight: 1, arbitrary: fc.constantFrom(...PROTO_KEYS, 'api_key') }, { weight: 1, arbitrary: hostileString.filter((s) => s.length < 100) }), value), { maxLength: 4 })
      .map((pairs) => pairs.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&'));
  };

  /** Times a simulation may be given: plain, relative, and past either end of what a Date or ISO year can show. */
  const simTime = fc.oneof(fc.integer(), storableText, fc.constantFrom<string | number>('+1d', '-2d', '2026-01-01T00:00:00Z', 'P2D', '+99999999999d', 8.64e15, -8.64e15, 1e300, 253402300800000));
  const timelineEvent = fc.record({ at: simTime, type: fc.oneof(fc.constantFrom('email.clicked', 'demo.requested'), storableText), properties: storableJson.map((v) => objectOf([['p', v]])) }, { requiredKeys: ['at', 'type'] });

  /** Route-specific near-valid bodies: they pass the first checks, so hostile values reach the handler and SQL. */
  const special: Record<string, fc.Arbitrary<Body>> = {
    'post /v1/events': fc
      .array(
        fc.record({
          id: fc.oneof({ weight: 4, arbitrary: fc.uuid() }, { weight: 1, arbitrary: hostileString }),
          type: fc.constantFrom('lead.created', 'page.viewed', 'deal.won', 'x'),
          contact: fc.record(
            { externalId: fc.oneof(fc.constant('fuzz-c1'), storableText), firstName: storableText, company: storableText, email: fc.oneof({ weight: 4, arbitrary: fc.emailAddress() }, { weight: 1, arbitrary: hostileString }) },
            { requiredKeys: ['externalId'] },
          ),
          properties: fc.array(fc.tuple(fc.oneof(storableText, fc.constantFrom(...PROTO_KEYS)), storableJson), { maxLength: 5 }).map(objectOf),
        }),
        { minLength: 1, maxLength: 5 },
      )
      .chain((events) => fc.constantFrom<Body>({ kind: 'json', value: events[0] }, { kind: 'json', value: { events } })),
    'put /v1/contacts/:externalId': fc
      .array(
        fc.oneof(
          { weight: 6, arbitrary: fc.tuple(fc.constantFrom('firstName', 'lastName', 'company', 'jobTitle', 'ownerId', 'industry', 'region'), storableText.filter((t) => t.length <= 100)) },
          { weight: 2, arbitrary: fc.tuple(fc.constant('attributes'), storableJson.map((v) => objectOf([['k', v]]))) },
          { weight: 1, arbitrary: fc.tuple(fc.constant('tags'), fc.array(storableText.filter((t) => t.length <= 100), { maxLength: 3 })) },
          { weight: 1, arbitrary: fc.tuple(fc.constantFrom('email', 'phone', 'timezone', 'locale', 'country', 'consent', 'lifecycleStage'), fieldValue) },
        ),
        { maxLength: 6 },
      )
      .map((pairs) => ({ kind: 'json', value: objectOf(pairs) })),
    'post /v1/journeys/:id/simulate': fc
      .record({
        contact: fc.record({ id: storableText, first_name: storableText, email: storableText, tags: fc.array(storableText, { maxLength: 2 }), attributes: storableJson.map((v) => objectOf([['k', v]])) }, { requiredKeys: ['id'] }),
        timeline: fc.oneof(
          fc.array(timelineEvent, { maxLength: 4 }),
          fc.record({ start: simTime, events: fc.array(timelineEvent, { maxLength: 3 }), priorMessages: fc.array(fc.record({ channel: fc.constantFrom('email', 'sms'), at: simTime }), { maxLength: 2 }) }, { requiredKeys: [] }),
        ),
        start: fc.constantFrom('2026-01-01T00:00:00Z', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z'),
        version: fc.constantFrom<unknown>(1, 'draft', 2, 0, -1, '1', 2147483647, 2147483648, '2147483648'),
      }, { requiredKeys: ['contact'] })
      .map((value): Body => ({ kind: 'json', value })),
    // Near-valid with versions at and past the 32-bit edge: refused (400) or accepted, never a 500 or a job that cannot work.
    'post /v1/runs/bulk': fc
      .record({
        action: fc.constantFrom('cancel', 'migrate'),
        filter: fc.record({ journeyId: fc.constant('new-lead-nurture'), version: fc.constantFrom<unknown>(1, 2147483647, 2147483648, -1, '1') }, { requiredKeys: ['journeyId'] }),
        version: fc.constantFrom<unknown>(1, 2147483647, 2147483648),
        dryRun: fc.constant(true),
        pageSize: fc.constantFrom<unknown>(1, 1000, 1001, 2147483648),
      }, { requiredKeys: ['action', 'filter', 'dryRun'] })
      .map((value): Body => ({ kind: 'json', value })),
    'post /v1/journeys/:journeyId/replay': fc
      .record({ limit: fc.constantFrom<unknown>(1, 200, 201, 2147483648), version: fc.constantFrom<unknown>(1, 2147483647, 2147483648, 0) }, { requiredKeys: [] })
      .map((value): Body => ({ kind: 'json', value })),
    'post /v1/journeys': fc.oneof(
      hostileString.map((t): Body => ({ kind: 'raw', type: 'application/yaml', text: t })),
      fc.constantFrom(...YAML_ATTACKS).map((t): Body => ({ kind: 'raw', type: 'application/yaml', text: t })),
      fc.constantFrom(...SAMPLES).chain((s) => fc.tuple(fc.nat(), fc.nat({ max: 40 }), hostileString).map(([at, del, ins]): Body => {
        const text = readJourney(s);
        const i = at % text.length;
        return { kind: 'raw', type: 'text/yaml', text: text.slice(0, i) + ins + text.slice(i + del) };
      })),
      hostileJson.map((d): Body => ({ kind: 'json', value: { definition: d } })),
    ),
  };

  const bodyArb = (route: RouteDef): fc.Arbitrary<Body> => {
    const names = schemaKeys(route.body ?? route.bodyDoc);
    const shaped = fc
      .tuple(fc.subarray(names), fc.array(fieldValue, { minLength: names.length, maxLength: names.length }), fc.array(fc.tuple(fc.constantFrom(...PROTO_KEYS, 'extra'), hostileJson), { maxLength: 2 }))
      .map(([chosen, values, extra]): Body => ({ kind: 'json', value: objectOf([...chosen.map((k, i): [string, unknown] => [k, values[i]]), ...extra]) }));
    const extra = special[`${route.method} ${route.path}`];
    return fc.oneof(
      { weight: 5, arbitrary: shaped },
      { weight: 2, arbitrary: hostileJson.map((value): Body => ({ kind: 'json', value })) },
      { weight: 1, arbitrary: fc.string({ maxLength: 50 }).map((text): Body => ({ kind: 'raw', type: 'application/json', text })) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom('application/yaml', 'text/plain', 'application/x-www-form-urlencoded', 'application/xml'), hostileString).map(([type, text]): Body => ({ kind: 'raw', type, text })) },
      { weight: 1, arbitrary: fc.constant<Body>({ kind: 'none' }) },
      ...(extra ? [{ weight: 5, arbitrary: extra }] : []),
    );
  };

  const caseArb = (route: RouteDef): fc.Arbitrary<Case> => {
    const names = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
    return fc
      .tuple(
        fc.tuple(...names.map(paramArb)),
        queryArb(route),
        route.method === 'get' ? fc.constant<Body>({ kind: 'none' }) : bodyArb(route),
        roleFor(route),
      )
      .map(([params, query, body, role]) => {
        let i = 0;
        const path = route.path.replace(/:(\w+)/g, () => encode(params[i++]!));
        return { method: route.method, url: query ? `${path}?${query}` : path, body, ...(role ? { key: keys[role] } : {}) };
      });
  };

  describe('random params, query and bodies with valid auth: no 5xx, problem+json, named fields', () => {
    it.each(ROUTES.map((r) => [label(r), r] as const))('%s', async (_l, route) => {
      await fc.assert(
        fc.asyncProperty(caseArb(route), async (c) => {
          check(await send(c), c, route);
        }),
        { numRuns: RUNS_PER_ROUTE },
      );
    });
  });

  describe('journey documents through the draft and validate API', () => {
    const docs = SAMPLES.map((s) => parseYaml(readJourney(s)) as Json);
    const inlineTemplate = fc.constantFrom(...TEMPLATE_INJECTIONS, ...SQLISH, '{{contact.first_name}}', '{{event.x}}');
    const docArb = fc
      .tuple(fc.constantFrom(...docs), fc.array(fc.tuple(fc.nat(), fc.nat(), fc.oneof(hostileJson, inlineTemplate) as fc.Arbitrary<Json>), { minLength: 1, maxLength: 3 }), fc.boolean())
      .map(([doc, edits, asYaml]) => {
        let d: Json = doc;
        for (const [pick, op, v] of edits) d = mutate(d, [pick, op], v, (k) => PROTO_KEYS[pick % PROTO_KEYS.length] ?? k);
        // The draft is stored under this id; a mutated id is a 422 from the create call, which is checked too.
        return { doc: d, asYaml };
      });

    it('never a 5xx: drafts are stored or refused with paths, validate answers 200 or 422 with every error', async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(docArb, async ({ doc, asYaml }) => {
          const id = `fuzz-${++n}`;
          const d = doc && typeof doc === 'object' && !Array.isArray(doc) ? { ...doc, id } : doc;
          let text: string;
          try {
            text = asYaml ? stringifyYaml(d) : JSON.stringify(d);
          } catch {
            text = JSON.stringify(d);
          }
          const key = keys.marketer;
          const create: Case = { method: 'post', url: '/v1/journeys', key, body: asYaml ? { kind: 'raw', type: 'application/yaml', text } : { kind: 'json', value: { source: text } } };
          const created = await send(create);
          check(created, create, ROUTES.find((r) => r.method === 'post' && r.path === '/v1/journeys')!);
          if (created.status !== 201) return;
          for (const action of ['validate', 'publish'] as const) {
            const c: Case = { method: 'post', url: `/v1/journeys/${id}/${action}`, key, body: { kind: 'none' } };
            const res = await send(c);
            check(res, c, ROUTES.find((r) => r.path === `/v1/journeys/:id/${action}`)!);
            expect([200, 201, 422], `${action} ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`).toContain(res.status);
            if (res.status === 422) expect(res.body.detail).toMatch(/^The journey is invalid:\n/);
            if (res.status !== 200 && res.status !== 201) break;
          }
        }),
        { numRuns: JOURNEY_CASES },
      );
    });
  });

  it.each(YAML_ATTACKS.map((t) => [t.slice(0, 40).replace(/\n/g, '⏎'), t] as const))('YAML attack %s is stored or refused, never evaluated or a 5xx', async (_l, text) => {
    const route = ROUTES.find((r) => r.method === 'post' && r.path === '/v1/journeys')!;
    const c: Case = { method: 'post', url: '/v1/journeys', key: keys.marketer, body: { kind: 'raw', type: 'application/yaml', text } };
    const res = await send(c);
    check(res, c, route);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    if (res.status === 201) {
      const v = await send({ method: 'post', url: `/v1/journeys/${encode(res.body.id as string)}/validate`, key: keys.marketer, body: { kind: 'none' } });
      expect([200, 422]).toContain(v.status);
      expect(JSON.stringify(v.body)).not.toMatch(/\[object process\]|function \(\) \{ return process/);
    }
  });

  describe('body size and depth', () => {
    const withBodies = ROUTES.filter((r) => r.method !== 'get');
    const keyFor = (r: RouteDef) => (r.auth === 'public' ? undefined : keys[(r.auth as Role[])[0] ?? 'admin']);
    const concrete = (path: string) => path.replace(/:(\w+)/g, (_m, name: string) => known[name]?.[0] ?? 'x');

    it.each(withBodies.map((r) => [label(r), r] as const))('%s refuses a body over the limit with 413 problem+json', async (_l, route) => {
      const c: Case = { method: route.method, url: concrete(route.path), ...(keyFor(route) ? { key: keyFor(route)! } : {}), body: { kind: 'json', value: { events: [{ id: 'x', blob: 'a'.repeat(1_100_000) }] } } };
      const res = await send(c);
      check(res, c, route);
      expect(res.status).toBe(413);
      expect(res.body.code).toBe('body_too_large');
    });

    it('refuses a YAML journey over its limit with 413 problem+json', async () => {
      const c: Case = { method: 'post', url: '/v1/journeys', key: keys.marketer, body: { kind: 'raw', type: 'application/yaml', text: `id: big\nname: ${'x'.repeat(600 * 1024)}\n` } };
      const res = await send(c);
      check(res, c, ROUTES.find((r) => r.method === 'post' && r.path === '/v1/journeys')!);
      expect(res.status).toBe(413);
    });

    const deep = (levels: number, open: string, close: string, leaf: string) => open.repeat(levels) + leaf + close.repeat(levels);
    const shapes = [
      ['10,000 nested arrays', deep(10_000, '[', ']', '1')],
      ['10,000 nested objects', deep(10_000, '{"a":', '}', '1')],
      ['100,000 nested objects under a known field', `{"filter":${deep(100_000, '{"not":', '}', '{}')},"properties":${deep(100_000, '{"__proto__":', '}', '1')}}`],
      ['10,000 nested condition filters', `{"filter":${deep(10_000, '{"all":[', ']}', '{"tag":"x"}')}}`],
    ] as const;

    it.each(withBodies.map((r) => [label(r), r] as const))('%s refuses deeply nested bodies with a 4xx, never a crash', async (_l, route) => {
      for (const [name, text] of shapes) {
        const c: Case = { method: route.method, url: concrete(route.path), ...(keyFor(route) ? { key: keyFor(route)! } : {}), body: { kind: 'raw', type: 'application/json', text } };
        const res = await send(c);
        check(res, c, route);
        expect(res.status, name).toBeGreaterThanOrEqual(400);
      }
      // The same depth inside an otherwise valid event reaches no database: it is refused naming where it got too deep.
      if (route.path === '/v1/events') {
        const c: Case = { method: 'post', url: '/v1/events', key: keys.integration, body: { kind: 'raw', type: 'application/json', text: `{"id":"deep","type":"a.b","contact":{"externalId":"d"},"properties":{"p":${deep(10_000, '[', ']', '1')}}}` } };
        const res = await send(c);
        check(res, c, route);
        expect(res.status).toBe(400);
        expect(res.body.errors[0].path).toMatch(/^properties\.p(\.0)+$/);
        expect(res.body.errors[0].message).toMatch(/nested deeper than/);
      }
    });

    it('refuses a deeply nested YAML journey with 422, never a crash', async () => {
      const c: Case = { method: 'post', url: '/v1/journeys', key: keys.marketer, body: { kind: 'raw', type: 'application/yaml', text: `id: deep-yaml\nsteps: ${deep(10_000, '[', ']', '1')}\n` } };
      const res = await send(c);
      check(res, c, ROUTES.find((r) => r.method === 'post' && r.path === '/v1/journeys')!);
      expect(res.status).toBeGreaterThanOrEqual(400);
    });
  });

  describe('authorization matrix, generated from the route table', () => {
    const concrete = (path: string) => path.replace(/:(\w+)/g, 'does-not-exist');
    const cell = async (route: RouteDef, headers: Record<string, string>, expectFn: (res: request.Response) => void, query = '') => {
      stats.authz_cases++;
      let r = request(app)[route.method as 'get'](concrete(route.path) + query);
      for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
      const res = await r;
      try {
        expect(res.status, `${label(route)} ${JSON.stringify(headers).slice(0, 80)} → ${res.status}`).toBeLessThan(500);
        if (res.status >= 400) expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expectFn(res);
      } catch (err) {
        stats.authz_failures++;
        throw err;
      }
    };
    const refused = (code: string) => (res: request.Response) => {
      expect(res.status).toBe(401);
      expect(res.body.code).toBe(code);
    };
    const PROTECTED = ROUTES.filter((r) => r.auth !== 'public');
    const MALFORMED = ['itk_not-a-key', 'Bearer', '', ' ', 'null', "' OR 1=1 --", 'itk_AAAAAAAAAAAA_short', 'itk_AAAAAAAAAAAA_' + 'A'.repeat(44), 'itk_AAAAAAAAAAA!_' + 'A'.repeat(43)];

    it.each(PROTECTED.map((r) => [label(r), r] as const))('%s: each role as the policy says; no, malformed, forged and revoked keys refused', async (_l, route) => {
      await cell(route, {}, refused('unauthenticated'));
      for (const bad of MALFORMED) {
        await cell(route, { Authorization: `Bearer ${bad}` }, (res) => {
          expect(res.status).toBe(401);
          expect(['unauthenticated', 'invalid_api_key']).toContain(res.body.code);
        });
      }
      // A key in the query string is never read (it would land in logs).
      await cell(route, {}, refused('unauthenticated'), `?api_key=${keys.admin}&key=${keys.admin}`);
      for (const role of ROLES) {
        const allowed = role === 'admin' || (route.auth as Role[]).includes(role);
        for (const header of ['Authorization', 'X-Api-Key'] as const) {
          const value = header === 'Authorization' ? `Bearer ${keys[role]}` : keys[role];
          await cell(route, { [header]: value }, (res) => {
            if (allowed) expect([401, 403], `${role} may call ${label(route)}`).not.toContain(res.status);
            else {
              expect(res.status, `${role} must not call ${label(route)}`).toBe(403);
              expect(res.body.code).toBe('forbidden');
            }
          });
        }
        // Forged: the right format and a real prefix, a wrong secret.
        await cell(route, { Authorization: `Bearer ${keys[role].slice(0, -4)}AAAA` }, refused('invalid_api_key'));
        await cell(route, { Authorization: `Bearer ${revoked[role]}` }, refused('revoked_api_key'));
        await cell(route, { 'X-Api-Key': revoked[role] }, refused('revoked_api_key'));
      }
    });

    it('refuses a key on its very next request once it is revoked through the API (the key cache included)', async () => {
      const admin = { Authorization: `Bearer ${keys.admin}` };
      const created = await request(app).post('/v1/keys').set(admin).send({ name: 'short-lived', role: 'ops' }).expect(201);
      const runs = ROUTES.find((r) => r.method === 'get' && r.path === '/v1/runs')!;
      // Warm the cache with a few successful requests first.
      for (let i = 0; i < 3; i++) await cell(runs, { Authorization: `Bearer ${created.body.key as string}` }, (res) => expect(res.status).toBe(200));
      await request(app).post(`/v1/keys/${created.body.id as string}/revoke`).set(admin).expect(200);
      for (const header of [{ Authorization: `Bearer ${created.body.key as string}` }, { 'X-Api-Key': created.body.key as string }] as Record<string, string>[]) {
        await cell(runs, header, refused('revoked_api_key'));
      }
    });

    it('answers public routes without a key, and ignores a malformed or revoked one', async () => {
      for (const route of ROUTES.filter((r) => r.auth === 'public')) {
        for (const headers of [{}, { Authorization: 'Bearer itk_not-a-key' }, { Authorization: `Bearer ${revoked.admin}` }] as Record<string, string>[]) {
          // A signed webhook refuses what its provider did not sign (403 invalid_signature); an API key never matters.
          await cell(route, headers, (res) => {
            if (res.status === 403) expect(res.body.code, label(route)).toBe('invalid_signature');
            else expect(res.status, label(route)).not.toBe(401);
          });
        }
      }
    });

    it('mounts nothing outside the route table but the API docs and the console page', () => {
      const stack = (app as unknown as { router: { stack: { route?: { path: string }; handle?: { stack?: unknown[] } }[] } }).router.stack;
      const direct = stack.filter((l) => l.route).map((l) => l.route!.path);
      expect(direct.sort()).toEqual(['/', '/docs', '/docs/init.js', '/openapi.json']);
      const mounted = stack.flatMap((l) => ((l.handle?.stack ?? []) as { route?: { path: string; methods: Record<string, boolean> } }[]).filter((x) => x.route).map((x) => `${Object.keys(x.route!.methods)[0]} ${x.route!.path}`));
      expect(mounted.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    });
  });

  it('saw no server errors across the fuzz (summary)', () => {
    expect(serverErrors).toEqual([]);
    expect(stats.server_errors).toBe(0);
    expect(stats.authz_failures).toBe(0);
    expect(stats.fuzz_cases).toBeGreaterThan(ROUTES.length * RUNS_PER_ROUTE);
  });
});
