/**
 * Signed links and stored data under attack: tampered, expired or misused tracking and unsubscribe tokens are refused
 * and never redirect (the click destination is only ever the signed one); SQL-like and unusual strings are stored and
 * read back exactly, and what Postgres cannot store (NUL) is refused naming the field — never a 500.
 */
import fc from 'fast-check';
import request from 'supertest';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { createApiKey } from '../../src/api/auth';
import { applyTracking } from '../../src/channels/email/tracking';
import { signToken } from '../../src/channels/tokens';
import { upsertContactByExternalId } from '../../src/db/queries';
import { contacts, events } from '../../src/db/schema';
import { dbTriggerSource } from '../../src/publishing/journeys';
import { createTestDatabase } from '../helpers/db';
import { TEST_SECRETS } from '../helpers/stack';
import { connectTestTemporal, type TestTemporal } from '../helpers/temporal';
import { hostileJson, objectOf, RUN_FACTOR, SQLISH, TEMPLATE_INJECTIONS } from './hostile';

const DAY = 86_400;
const SIGNED = 'https://shop.example.com/offer?utm_source=mail&x=1';

describe('hostile tokens and data', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let temporal: TestTemporal;
  let app: ReturnType<typeof buildApp>;
  let integration: string;
  let contactId: string;
  let tokens: { click: string; open: string; unsubscribe: string };

  beforeAll(async () => {
    [db, temporal] = await Promise.all([createTestDatabase(), connectTestTemporal()]);
    app = buildApp({ database: db, temporal: temporal.client, taskQueue: temporal.taskQueue, triggers: dbTriggerSource(db.db), signingSecrets: TEST_SECRETS, rateLimit: { perSecond: 1e6, burst: 1e6 } });
    integration = (await createApiKey(db.db, { name: 'integration', role: 'integration' })).key;
    contactId = (await upsertContactByExternalId(db.db, { externalId: 'tok-1', email: 'tok@example.com', consent: { email: 'opted_in', sms: 'unknown', chat: 'unknown' } })).id;
    // Real links, as a sent email carries them.
    const tracked = applyTracking(
      { html: `<p><a href="${SIGNED.replace(/&/g, '&amp;')}">Offer</a></p>`, text: '' },
      { baseUrl: 'http://itinera.test', secrets: TEST_SECRETS, messageKey: 'm-1', contactId, kind: 'marketing', physicalAddress: 'ACME' },
    );
    const html = tracked.html;
    tokens = {
      click: html.match(/\/t\/c\/([\w.-]+)/)![1]!,
      open: html.match(/\/t\/o\/([\w.-]+)/)![1]!,
      unsubscribe: tracked.unsubscribeUrl!.match(/\/u\/([\w.-]+)/)![1]!,
    };
  });
  afterAll(async () => {
    await temporal?.close();
    await db?.drop();
  });

  const emailConsent = async () => (await db.db.select({ consent: contacts.consent }).from(contacts).where(eq(contacts.id, contactId)))[0]!.consent.email;
  const recorded = async (type: string) => (await db.db.select().from(events).where(eq(events.type, type))).length;

  /** A refused link: 4xx problem+json (or the neutral pixel for opens), and never a redirect anywhere. */
  const expectRefused = (res: request.Response, what: string) => {
    expect(res.headers.location, what).toBeUndefined();
    expect(res.status, what).toBeGreaterThanOrEqual(400);
    expect(res.status, what).toBeLessThan(500);
    expect(res.headers['content-type'], what).toMatch(/^application\/problem\+json/);
  };

  it('a valid click redirects to exactly the signed URL, whatever is added to the request', async () => {
    for (const suffix of ['', '?url=https://evil.example', '?u=https://evil.example&redirect=//evil.example', '#https://evil.example']) {
      const res = await request(app).get(`/t/c/${tokens.click}${suffix}`).expect(302);
      expect(res.headers.location).toBe(SIGNED);
    }
    for (const path of [`/t/c/${tokens.click}/..%2F..%2F%2Fevil.example`, `/t/c/${tokens.click}%2F%2Fevil.example`, `/t/c//evil.example`, `/t/c/https:%2F%2Fevil.example`]) {
      const res = await request(app).get(path);
      expect(res.headers.location, path).toBeUndefined();
      expect(res.status, path).toBeGreaterThanOrEqual(400);
    }
  });

  it('refuses tampered, forged, expired and misused tokens without redirecting, recording or unsubscribing', async () => {
    const [body, sig] = tokens.click.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
    const reencoded = (c: Record<string, unknown>) => Buffer.from(JSON.stringify(c)).toString('base64url');
    const now = Date.now();
    const cases: [string, string][] = [
      ['destination swapped, old signature', `${reencoded({ ...claims, u: 'https://evil.example' })}.${sig}`],
      ['signed with another secret', signToken(['another-secret-0123456789abcdef0123456789'], { ...claims, u: 'https://evil.example' }, DAY)],
      ['expired', signToken(TEST_SECRETS, claims, DAY, now - 2 * DAY * 1000)],
      ['signed javascript: URL', signToken(TEST_SECRETS, { ...claims, u: 'javascript:alert(document.cookie)' }, DAY)],
      ['signed data: URL', signToken(TEST_SECRETS, { ...claims, u: 'data:text/html,<script>alert(1)</script>' }, DAY)],
      ['protocol-relative URL', signToken(TEST_SECRETS, { ...claims, u: '//evil.example' }, DAY)],
      ['open token at the click endpoint', tokens.open],
      ['unsubscribe token at the click endpoint', tokens.unsubscribe],
      ['no exp', `${reencoded({ k: 'c', u: SIGNED, m: 'm', c: contactId })}.${sig}`],
      ['signature truncated', `${body}.${sig.slice(0, -2)}`],
      ['three parts', `${tokens.click}.${sig}`],
      ['alg none style', `${body}.`],
      ['not base64url', `${body}!.${sig}`],
      ['huge', `${body}${'A'.repeat(5000)}.${sig}`],
    ];
    const clicksBefore = await recorded('email.clicked');
    for (const [what, token] of cases) expectRefused(await request(app).get(`/t/c/${token}`), `click: ${what}`);
    expect(await recorded('email.clicked')).toBe(clicksBefore);

    const u = tokens.unsubscribe.split('.') as [string, string];
    const uClaims = JSON.parse(Buffer.from(u[0], 'base64url').toString()) as Record<string, unknown>;
    const unsubscribeCases: [string, string][] = [
      ['someone else', `${reencoded({ ...uClaims, c: '00000000-0000-4000-8000-000000000000' })}.${u[1]}`],
      ['expired', signToken(TEST_SECRETS, uClaims, DAY, now - 2 * DAY * 1000)],
      ['click token', tokens.click],
      ['open token', tokens.open],
      ['forged', signToken(['another-secret-0123456789abcdef0123456789'], uClaims, DAY)],
    ];
    for (const [what, token] of unsubscribeCases) {
      expectRefused(await request(app).get(`/u/${token}`), `unsubscribe page: ${what}`);
      expectRefused(await request(app).post(`/u/${token}`).type('form').send({ 'List-Unsubscribe': 'One-Click' }), `one-click: ${what}`);
    }
    expect(await emailConsent()).toBe('opted_in');

    // The pixel always answers the same GIF and records nothing for a bad token.
    const opensBefore = await recorded('email.opened');
    for (const token of [tokens.click, `${tokens.open.slice(0, -3)}AAA`, signToken(TEST_SECRETS, { k: 'o', m: 'm', c: contactId }, DAY, now - 2 * DAY * 1000)]) {
      const res = await request(app).get(`/t/o/${token}`).expect(200);
      expect(res.headers['content-type']).toBe('image/gif');
      expect(res.headers.location).toBeUndefined();
    }
    expect(await recorded('email.opened')).toBe(opensBefore);
  });

  it('random damage to a valid click token never redirects anywhere but the signed URL', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat({ max: 5 }), fc.string({ maxLength: 4, unit: fc.constantFrom(...'ABCabc019-_.~%!'.split('')) }), async (at, del, ins) => {
        const t = tokens.click;
        const i = at % t.length;
        const damaged = t.slice(0, i) + ins + t.slice(i + del);
        const res = await request(app).get(`/t/c/${damaged}`);
        expect(res.status).toBeLessThan(500);
        if (damaged === t) expect(res.headers.location).toBe(SIGNED);
        else if (res.status === 302) expect(res.headers.location, damaged).toBe(SIGNED);
        else expectRefused(res, damaged);
      }),
      { numRuns: 150 * RUN_FACTOR },
    );
  });

  it('a validly signed link whose contact is gone still works and records nothing (it was a 500)', async () => {
    const gone = '00000000-0000-4000-8000-00000000dead';
    const click = signToken(TEST_SECRETS, { k: 'c', u: SIGNED, m: 'm-gone', c: gone }, DAY);
    const res = await request(app).get(`/t/c/${click}`).expect(302);
    expect(res.headers.location).toBe(SIGNED);
    const unsubscribe = signToken(TEST_SECRETS, { k: 'u', m: 'm-gone', c: gone }, DAY);
    await request(app).post(`/u/${unsubscribe}`).expect(200);
    expect((await db.db.select().from(events).where(eq(events.contactId, gone))).length).toBe(0);
    const open = signToken(TEST_SECRETS, { k: 'o', m: 'm-gone', c: gone }, DAY);
    expect((await request(app).get(`/t/o/${open}`)).status).toBe(200);
  });

  it('one-click unsubscribe with the real token works once the hostile ones failed', async () => {
    await request(app).post(`/u/${tokens.unsubscribe}`).type('form').send({ 'List-Unsubscribe': 'One-Click' }).expect(200);
    expect(await emailConsent()).toBe('opted_out');
  });

  describe('SQL-like and unusual strings', () => {
    const auth = () => ({ Authorization: `Bearer ${integration}` });
    const text = fc
      .oneof(fc.constantFrom(...SQLISH, ...TEMPLATE_INJECTIONS, "O'Brien", 'Zoë Ångström', '李娜', 'ثلاثة', '👩‍💻🏳️‍🌈', '\\', '\\\\x00', "\\'", '%', '_', '$1', ':name', '?', '--', '/* */', 'null'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 80 }))
      .filter((s) => s.trim() !== '' && !s.includes('\u0000'));
    const jsonValue = hostileJson.filter((v) => JSON.stringify(v ?? null).length < 50_000 && !JSON.stringify(v ?? null).includes('\\u0000') && !/\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}/i.test(JSON.stringify(v ?? null)));

    it('contact fields, attributes, external ids and event properties read back exactly as sent', async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          text.filter((s) => s.length <= 200),
          fc.record({ firstName: text, lastName: text, company: text, industry: text.filter((s) => s.length <= 100), jobTitle: text, ownerId: text }),
          fc.array(fc.tuple(text.filter((s) => s.length <= 100 && s !== '__proto__'), jsonValue), { maxLength: 4 }),
          async (externalId, fields, entries) => {
            const attributes = objectOf(entries.filter(([k]) => k !== '__proto__'));
            const ext = `${++n}-${externalId}`;
            const put = await request(app).put(`/v1/contacts/${encodeURIComponent(ext)}`).set(auth()).send({ ...fields, attributes, tags: [fields.firstName.slice(0, 100)] });
            expect(put.status, JSON.stringify(put.body).slice(0, 300)).toBe(201);
            const got = await request(app).get(`/v1/contacts/${put.body.id as string}`).set(auth()).expect(200);
            expect(got.body).toMatchObject({ externalId: ext, ...fields, tags: [fields.firstName.slice(0, 100)] });
            expect(got.body.attributes).toEqual(JSON.parse(JSON.stringify(attributes)));

            const event = { id: `ev-${ext}`, type: 'page.viewed', contact: { externalId: ext }, properties: objectOf([['q', fields.company], ...entries.filter(([k]) => k !== '__proto__')]) };
            const posted = await request(app).post('/v1/events').set(auth()).set('content-type', 'application/json').send(JSON.stringify(event));
            expect(posted.status, JSON.stringify(posted.body).slice(0, 300)).toBe(202);
            expect(posted.body.accepted).toEqual([expect.objectContaining({ id: event.id })]);
            const after = await request(app).get(`/v1/contacts/${put.body.id as string}`).set(auth()).expect(200);
            const stored = (after.body.timeline as { id: string; properties: unknown }[]).find((e) => e.id === event.id);
            expect(stored?.properties).toEqual(JSON.parse(JSON.stringify(event.properties)));
          },
        ),
        { numRuns: 25 * RUN_FACTOR },
      );
      // The tables the classic payload names are still there.
      expect((await db.db.select().from(contacts)).length).toBeGreaterThan(1);
    });

    it('a __proto__ key in properties is dropped at validation and pollutes nothing', async () => {
      const raw = '{"id":"proto-1","type":"page.viewed","contact":{"externalId":"proto-c"},"properties":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"ok":1}}';
      const res = await request(app).post('/v1/events').set(auth()).set('content-type', 'application/json').send(raw).expect(202);
      expect(res.body.accepted).toHaveLength(1);
      const [row] = await db.db.select().from(events).where(eq(events.id, 'proto-1'));
      expect(row!.properties).toEqual({ constructor: { prototype: { polluted: true } }, ok: 1 });
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('refuses NUL and lone surrogates with 400 naming the field, never a 500', async () => {
      const cases: [string, string, () => request.Test, string][] = [
        ['contact field', 'firstName', () => request(app).put('/v1/contacts/nul-1').set(auth()).send({ firstName: 'a\u0000b' }), 'NUL'],
        ['contact attribute key', 'attributes.k\u0000', () => request(app).put('/v1/contacts/nul-2').set(auth()).send({ attributes: { 'k\u0000': 1 } }), 'NUL'],
        ['external id in the path', 'params.externalId', () => request(app).put('/v1/contacts/nul%00x').set(auth()).send({}), 'NUL'],
        ['event property', 'properties.note', () => request(app).post('/v1/events').set(auth()).send({ id: 'nul-e', type: 'a.b', contact: { externalId: 'n' }, properties: { note: "'; DROP TABLE contacts; --\u0000" } }), 'NUL'],
        ['event in a batch', 'events.1.contact.firstName', () => request(app).post('/v1/events').set(auth()).send({ events: [{ id: 'ok-e', type: 'a.b', contact: { externalId: 'n' } }, { id: 'nul-b', type: 'a.b', contact: { externalId: 'n', firstName: '\u0000' } }] }), 'NUL'],
        ['lone surrogate', 'lastName', () => request(app).put('/v1/contacts/sur-1').set(auth()).set('content-type', 'application/json').send('{"lastName":"a\\ud800b"}'), 'surrogate'],
        ['query', 'query.status', () => request(app).get('/v1/handoffs?status=%00').set(auth()), 'NUL'],
      ];
      for (const [what, path, send, kind] of cases) {
        const res = await send();
        expect(res.status, what).toBe(400);
        expect(res.headers['content-type'], what).toMatch(/^application\/problem\+json/);
        expect(res.body.errors, what).toEqual([{ path, message: expect.stringMatching(kind === 'NUL' ? /NUL/ : /surrogate/) }]);
      }
      expect((await db.db.select().from(events).where(eq(events.id, 'ok-e'))).length).toBe(0);
    });
  });
});
