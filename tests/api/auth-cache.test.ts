import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import express from 'express';
import request from 'supertest';
import { eq, sql } from 'drizzle-orm';
import { authenticate, createApiKey, KEY_CACHE_TTL_MS, revokeApiKey } from '../../src/api/auth';
import { apiKeys } from '../../src/db/schema';
import { createTestDatabase } from '../helpers/db';

/** The key cache of `authenticate`: how long a revocation takes to be honoured. */
describe('API key cache', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let clock = 1_000_000;
  const appWith = (opts: Parameters<typeof authenticate>[1]) => {
    const app = express();
    app.use(authenticate(db.db, opts));
    app.get('/who', (req, res) => res.json(req.principal));
    app.use((err: { status?: number; code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(err.status ?? 500).json({ code: err.code });
    });
    return app;
  };
  /** What another process does: the row changes, this process's revokeApiKey never runs. */
  const revokeElsewhere = (id: string) => db.db.update(apiKeys).set({ revokedAt: sql`now()` }).where(eq(apiKeys.id, id));

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('honours a revocation made in this process at once', async () => {
    const app = appWith({ now: () => clock });
    const k = await createApiKey(db.db, { name: 'local', role: 'integration' });
    await request(app).get('/who').set('Authorization', `Bearer ${k.key}`).expect(200);
    await revokeApiKey(db.db, k.id);
    const res = await request(app).get('/who').set('Authorization', `Bearer ${k.key}`).expect(401);
    expect(res.body.code).toBe('revoked_api_key');
  });

  it('honours a revocation made by another process once the cached row expires, and not before', async () => {
    const app = appWith({ now: () => clock });
    const k = await createApiKey(db.db, { name: 'remote', role: 'integration' });
    await request(app).get('/who').set('Authorization', `Bearer ${k.key}`).expect(200);
    await revokeElsewhere(k.id);
    // Inside the window the cached row still answers (the documented delay)…
    clock += KEY_CACHE_TTL_MS - 1;
    await request(app).get('/who').set('Authorization', `Bearer ${k.key}`).expect(200);
    // …and past it the row is read again.
    clock += 2;
    const res = await request(app).get('/who').set('Authorization', `Bearer ${k.key}`).expect(401);
    expect(res.body.code).toBe('revoked_api_key');
  });

  it('reads the row on every request when the cache is off', async () => {
    const app = appWith({ cacheMs: 0 });
    const k = await createApiKey(db.db, { name: 'uncached', role: 'integration' });
    await request(app).get('/who').set('Authorization', `Bearer ${k.key}`).expect(200);
    await revokeElsewhere(k.id);
    await request(app).get('/who').set('Authorization', `Bearer ${k.key}`).expect(401);
  });

  it('never lets a cached prefix stand for a different secret', async () => {
    const app = appWith({ now: () => clock });
    const k = await createApiKey(db.db, { name: 'forged', role: 'admin' });
    await request(app).get('/who').set('Authorization', `Bearer ${k.key}`).expect(200);
    const forged = k.key.slice(0, -4) + (k.key.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const res = await request(app).get('/who').set('Authorization', `Bearer ${forged}`).expect(401);
    expect(res.body.code).toBe('invalid_api_key');
  });
});
