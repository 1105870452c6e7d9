import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { eq, sql } from 'drizzle-orm';
import { apiKeys, audienceLaunches, journeys } from '../../src/db/schema';
import { publishJourney } from '../../src/publishing/journeys';
import { startTestStack, type TestStack } from '../helpers/stack';

const journey = (id: string) => `
id: ${id}
name: Idempotent ${id}
triggers: [{ type: event, event: idem.started }]
start: hold
steps:
  hold: { type: wait, duration: 1h, next: done }
  done: { type: exit }
`;

describe('Idempotency-Key on POSTs that create something', () => {
  let stack: TestStack;
  const as = (role: 'marketer' | 'admin' | 'ops') => ({ Authorization: `Bearer ${stack.keys[role]}` });
  const launchesOf = async (journeyId: string) => (await stack.db.db.select().from(audienceLaunches).where(eq(audienceLaunches.journeyId, journeyId))).length;
  const launch = (key: string | undefined, body: object, role: 'marketer' | 'admin' = 'marketer', journeyId = 'idem-j') => {
    const r = request(stack.app).post(`/v1/journeys/${journeyId}/launches`).set(as(role));
    if (key !== undefined) r.set('Idempotency-Key', key);
    return r.send(body);
  };

  beforeAll(async () => {
    stack = await startTestStack();
    await publishJourney(stack.db.db, journey('idem-j'), {});
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('a retried launch with the same key and body launches once and answers the first response again', async () => {
    const first = await launch('retry-1', { consent: 'email', ratePerSecond: 50 }).expect(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    // The same body with its members in another order is the same request (canonical JSON).
    const again = await launch('retry-1', { ratePerSecond: 50, consent: 'email' }).expect(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(again.text).toBe(first.text);
    expect(again.headers.location).toBe(first.headers.location);
    expect(await launchesOf('idem-j')).toBe(1);
  });

  it('the same key with another body is a 422 naming the header, and launches nothing', async () => {
    await launch('retry-2', { ratePerSecond: 10 }).expect(202);
    const other = await launch('retry-2', { ratePerSecond: 11 }).expect(422);
    expect(other.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(other.body.code).toBe('idempotency_key_reused');
    expect(other.body.detail).toMatch(/Idempotency-Key/);
    expect(other.body.errors).toEqual([{ path: 'Idempotency-Key', message: expect.stringMatching(/another request/) }]);
    // Another route is another request too.
    const elsewhere = await request(stack.app).post('/v1/runs/bulk').set(as('admin')).set('Idempotency-Key', 'retry-2').send({ action: 'cancel', filter: { journeyId: 'idem-j' }, dryRun: true });
    expect(elsewhere.status).toBe(202); // the admin key's own namespace: not the marketer's
    const wrongRoute = await request(stack.app).post('/v1/journeys/idem-j/publish').set(as('marketer')).set('Idempotency-Key', 'retry-2').expect(422);
    expect(wrongRoute.body.code).toBe('idempotency_key_reused');
  });

  it('without a key a repeated launch launches again, as before', async () => {
    const before = await launchesOf('idem-j');
    const a = await launch(undefined, { ratePerSecond: 20 }).expect(202);
    const b = await launch(undefined, { ratePerSecond: 20 }).expect(202);
    expect(a.body.launchId).not.toBe(b.body.launchId);
    expect(b.headers['idempotent-replayed']).toBeUndefined();
    expect(await launchesOf('idem-j')).toBe(before + 2);
  });

  it('keys are scoped per API key: another caller with the same key value gets its own launch', async () => {
    const mine = await launch('shared-value', { ratePerSecond: 30 }).expect(202);
    const theirs = await launch('shared-value', { ratePerSecond: 30 }, 'admin').expect(202);
    expect(theirs.headers['idempotent-replayed']).toBeUndefined();
    expect(theirs.body.launchId).not.toBe(mine.body.launchId);
    expect(theirs.body.createdBy).not.toBe(mine.body.createdBy);
    // And each caller's retry replays its own response.
    expect((await launch('shared-value', { ratePerSecond: 30 }, 'admin').expect(202)).body.launchId).toBe(theirs.body.launchId);
    expect((await launch('shared-value', { ratePerSecond: 30 }).expect(202)).body.launchId).toBe(mine.body.launchId);
  });

  it('concurrent identical requests launch exactly once; the others are replays or 409 in flight', async () => {
    await publishJourney(stack.db.db, journey('idem-race'), {});
    const all = await Promise.all(Array.from({ length: 6 }, () => launch('race', { ratePerSecond: 40 }, 'marketer', 'idem-race')));
    expect(await launchesOf('idem-race')).toBe(1);
    const ok = all.filter((r) => r.status === 202);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(new Set(ok.map((r) => r.body.launchId)).size).toBe(1);
    expect(ok.filter((r) => r.headers['idempotent-replayed'] === undefined)).toHaveLength(1);
    for (const r of all.filter((x) => x.status !== 202)) {
      expect(r.status).toBe(409);
      expect(r.body.code).toBe('idempotency_key_in_flight');
      expect(r.headers['retry-after']).toBe('1');
    }
  });

  it('a retry while the first request is in flight gets 409 with Retry-After at once', async () => {
    await launch('held', { ratePerSecond: 5 }).expect(202);
    // As if the first request were still being answered.
    await stack.db.db.execute(sql`update idempotency_keys set response_status = null where key = 'held'`);
    const before = await launchesOf('idem-j');
    const r = await launch('held', { ratePerSecond: 5 }).expect(409);
    expect(r.body.code).toBe('idempotency_key_in_flight');
    expect(r.body.detail).toMatch(/Idempotency-Key/);
    expect(r.headers['retry-after']).toBe('1');
    expect(await launchesOf('idem-j')).toBe(before);
  });

  it('a failed request is not remembered: the retry with the same key runs again', async () => {
    await launch('later', {}, 'marketer', 'idem-later').expect(404);
    await publishJourney(stack.db.db, journey('idem-later'), {});
    const r = await launch('later', {}, 'marketer', 'idem-later').expect(202);
    expect(r.headers['idempotent-replayed']).toBeUndefined();
    expect(await launchesOf('idem-later')).toBe(1);
  });

  it('an expired key is forgotten: the same key runs the request again', async () => {
    const first = await launch('expiring', { ratePerSecond: 7 }).expect(202);
    await stack.db.db.execute(sql`update idempotency_keys set expires_at = now() - interval '1 second' where key = 'expiring'`);
    const second = await launch('expiring', { ratePerSecond: 7 }).expect(202);
    expect(second.body.launchId).not.toBe(first.body.launchId);
    expect(second.headers['idempotent-replayed']).toBeUndefined();
  });

  it('validates the key at the edge: 1–255 printable ASCII characters, else a 400 naming the header', async () => {
    const before = await launchesOf('idem-j');
    for (const bad of ['x'.repeat(256), 'tab\there', 'clé']) {
      const r = await launch(bad, {}).expect(400);
      expect(r.body.errors).toEqual([{ path: 'Idempotency-Key', message: expect.stringMatching(/1 to 255 printable ASCII/) }]);
    }
    const empty = await request(stack.app).post('/v1/journeys/idem-j/launches').set(as('marketer')).set('Idempotency-Key', '').send({});
    expect(empty.status).toBe(400);
    expect(await launchesOf('idem-j')).toBe(before);
    await launch('x'.repeat(255), { ratePerSecond: 3 }).expect(202);
    await launch(' ~!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}', { ratePerSecond: 3 }).expect(202);
  });

  it('creating a journey (JSON or YAML body) with the same key twice answers the first 201 again', async () => {
    const source = journey('idem-created');
    const first = await request(stack.app).post('/v1/journeys').set(as('marketer')).set('Idempotency-Key', 'create-1').send({ source }).expect(201);
    const again = await request(stack.app).post('/v1/journeys').set(as('marketer')).set('Idempotency-Key', 'create-1').send({ source }).expect(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.text).toBe(first.text);
    expect(again.headers.location).toBe('/v1/journeys/idem-created');
    // Without the key the repeat is the 409 it always was.
    await request(stack.app).post('/v1/journeys').set(as('marketer')).send({ source }).expect(409);

    const yaml = journey('idem-yaml');
    const y1 = await request(stack.app).post('/v1/journeys').set(as('marketer')).set('Idempotency-Key', 'create-yaml').type('application/yaml').send(yaml).expect(201);
    const y2 = await request(stack.app).post('/v1/journeys').set(as('marketer')).set('Idempotency-Key', 'create-yaml').type('application/yaml').send(yaml).expect(201);
    expect(y2.headers['idempotent-replayed']).toBe('true');
    expect(y2.text).toBe(y1.text);
    const changed = await request(stack.app).post('/v1/journeys').set(as('marketer')).set('Idempotency-Key', 'create-yaml').type('application/yaml').send(yaml.replace('1h', '2h')).expect(422);
    expect(changed.body.code).toBe('idempotency_key_reused');
    expect((await stack.db.db.select().from(journeys).where(eq(journeys.id, 'idem-yaml')))[0]!.draftSource).toBe(yaml);
  });

  it('a bulk run action with the same key starts one background action', async () => {
    const body = { action: 'cancel', filter: { journeyId: 'idem-j' }, dryRun: true };
    const first = await request(stack.app).post('/v1/runs/bulk').set(as('ops')).set('Idempotency-Key', 'bulk-1').send(body).expect(202);
    const again = await request(stack.app).post('/v1/runs/bulk').set(as('ops')).set('Idempotency-Key', 'bulk-1').send(body).expect(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.bulkId).toBe(first.body.bulkId);
    expect(again.headers.location).toBe(first.headers.location);
    const without = await request(stack.app).post('/v1/runs/bulk').set(as('ops')).send(body).expect(202);
    expect(without.body.bulkId).not.toBe(first.body.bulkId);
  });

  it('API key creation is never replayed (the response holds the secret, which is not stored): the retry is a 409', async () => {
    const body = { name: 'idem-created-key', role: 'integration' };
    const first = await request(stack.app).post('/v1/keys').set(as('admin')).set('Idempotency-Key', 'key-1').send(body).expect(201);
    expect(first.body.key).toMatch(/^itk_/);
    const again = await request(stack.app).post('/v1/keys').set(as('admin')).set('Idempotency-Key', 'key-1').send(body).expect(409);
    expect(again.body.code).toBe('idempotent_replay_refused');
    expect(again.text).not.toContain(first.body.key);
    expect(again.body.detail).toContain(first.body.id);
    expect((await stack.db.db.select().from(apiKeys).where(eq(apiKeys.name, 'idem-created-key'))).length).toBe(1);
    const stored = await stack.db.db.execute(sql`select response_body from idempotency_keys where key = 'key-1'`);
    const rows = (Array.isArray(stored) ? stored : (stored as { rows: unknown[] }).rows) as { response_body: string | null }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]!.response_body ?? '').not.toContain(first.body.key);
  });

  it('the OpenAPI document lists the header on each route that honours it, and only there', async () => {
    const doc = (await request(stack.app).get('/openapi.json').expect(200)).body;
    const header = (op: { parameters: { name: string; in: string }[] }) => op.parameters.find((p) => p.in === 'header' && p.name === 'Idempotency-Key');
    for (const [path, method] of [
      ['/v1/journeys/{journeyId}/launches', 'post'],
      ['/v1/journeys', 'post'],
      ['/v1/journeys/{id}/publish', 'post'],
      ['/v1/runs/bulk', 'post'],
      ['/v1/runs/{workflowId}/skip-wait', 'post'],
      ['/v1/runs/{workflowId}/move', 'post'],
      ['/v1/keys', 'post'],
    ] as const) {
      const op = doc.paths[path][method];
      expect(header(op), `${method} ${path}`).toBeTruthy();
      expect(op.responses['422'], `${method} ${path}`).toBeTruthy();
      expect(op.responses['409'], `${method} ${path}`).toBeTruthy();
    }
    expect(doc.paths['/v1/journeys/{journeyId}/launches'].post.responses['202'].headers['Idempotent-Replayed']).toBeTruthy();
    // Key creation is refused, not replayed: no replayed response to describe.
    expect(doc.paths['/v1/keys'].post.responses['201'].headers).toBeUndefined();
    expect(doc.info.description).toMatch(/Idempotency-Key[\s\S]*POST \/v1\/events/);
    expect(header(doc.paths['/v1/events'].post)).toBeUndefined();
    expect(header(doc.paths['/v1/journeys/{journeyId}/launches'].get)).toBeUndefined();
  });
});
