import { desc, eq } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { apiKeys } from '../../db/schema';
import { ConflictError, NotFoundError } from '../../errors';
import { createApiKey, revokeApiKey, ROLES } from '../auth';
import { defineRoute } from '../route';

const KeyView = z.object({
  id: z.uuid(),
  name: z.string(),
  role: z.enum(ROLES as [string, ...string[]]),
  prefix: z.string(),
  createdAt: z.date(),
  lastUsedAt: z.date().nullable(),
  revokedAt: z.date().nullable(),
  dev: z.boolean(),
});

const columns = {
  id: apiKeys.id,
  name: apiKeys.name,
  role: apiKeys.role,
  prefix: apiKeys.prefix,
  createdAt: apiKeys.createdAt,
  lastUsedAt: apiKeys.lastUsedAt,
  revokedAt: apiKeys.revokedAt,
  dev: apiKeys.dev,
};

/** API keys, for admins only. The secret is shown once, at creation; only its hash is stored. */
export function keyRoutes(deps: { db: Db }) {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/keys',
      tag: 'keys',
      summary: 'Create an API key for a role; the key is in this response only (store it now: only a hash is kept)',
      auth: [],
      // The response holds the new secret, which is never stored (only its hash): a retry is told what the first
      // request created instead of getting the secret again. Storing it for replay, even encrypted, would put a
      // usable credential at rest for a day.
      idempotency: {
        mode: 'refuse',
        refusal: (body) => {
          const k = body as { id: string; prefix: string; createdAt: Date };
          return (
            `The first request with this Idempotency-Key created API key ${k.id} (prefix ${k.prefix}) at ${k.createdAt.toISOString()}; ` +
            `its secret was in that response only and is not stored, so it cannot be sent again. If that response was lost, ` +
            `revoke the key (POST /v1/keys/${k.id}/revoke) and create another with a new Idempotency-Key.`
          );
        },
      },
      body: z.strictObject({ name: z.string().trim().min(1).max(100), role: z.enum(ROLES as [string, ...string[]]) }),
      responses: { 201: { description: 'The new key', schema: KeyView.extend({ key: z.string() }) } },
      handler: async ({ body, res }) => {
        const created = await createApiKey(deps.db, { name: body.name, role: body.role as (typeof ROLES)[number] });
        const [row] = await deps.db.select(columns).from(apiKeys).where(eq(apiKeys.id, created.id));
        res.set('Cache-Control', 'no-store');
        return { status: 201, body: { ...row!, key: created.key } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/keys',
      tag: 'keys',
      summary: 'All API keys (never their secrets), newest first',
      auth: [],
      responses: { 200: { description: 'The keys', schema: z.object({ items: z.array(KeyView) }) } },
      handler: async () => ({ body: { items: await deps.db.select(columns).from(apiKeys).orderBy(desc(apiKeys.createdAt)) } }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/keys/:id/revoke',
      tag: 'keys',
      summary: 'Revoke a key at once; requests with it are refused from now on',
      auth: [],
      params: z.object({ id: z.uuid() }),
      responses: { 200: { description: 'Revoked', schema: KeyView }, 404: { description: 'No such key' }, 409: { description: 'Already revoked' } },
      handler: async ({ params }) => {
        const [row] = await deps.db.select(columns).from(apiKeys).where(eq(apiKeys.id, params.id));
        if (!row) throw new NotFoundError('API key', params.id);
        if (!(await revokeApiKey(deps.db, params.id))) throw new ConflictError(`API key "${params.id}" is already revoked.`);
        const [after] = await deps.db.select(columns).from(apiKeys).where(eq(apiKeys.id, params.id));
        return { body: after! };
      },
    }),
  ];
}
