import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { and, asc, isNull, sql, eq, gte, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import { isoInstant, queryInt32 } from '../../bounds';
import type { Db } from '../../db/client';
import { contacts } from '../../db/schema';
import { normalizeEmail, normalizePhone } from '../../channels/normalize';
import { LifecycleStage } from '../../journey/schema';
import { ValidationError } from '../../errors';
import { defineRoute } from '../route';

const SearchQuery = z
  .strictObject({
    /** Matched after the same normalization a write applies (trimmed, lower-cased). */
    email: z.string().min(1).max(320).optional(),
    /** Matched in E.164 after the same normalization a write applies; national numbers are read in `country`. */
    phone: z.string().min(1).max(40).optional(),
    /** ISO country used to read a national phone number. @default CN */
    country: z.string().length(2).optional(),
    /** The CRM id. */
    externalId: z.string().min(1).max(200).optional(),
    /**
     * Part of the name, case-insensitive: matched in "first last", "last first" and "lastfirst" (Chinese names are
     * written family name first, without a space).
     */
    name: z.string().trim().min(1).max(200).optional(),
    tag: z.string().min(1).max(100).optional(),
    lifecycleStage: LifecycleStage.optional(),
    /** Contacts changed at or after this instant. */
    updatedSince: isoInstant().optional(),
    limit: queryInt32({ min: 1, max: 500 }).default(50),
    cursor: z.string().max(500).optional(),
  })
  .superRefine((q, ctx) => {
    if (q.email !== undefined) {
      const r = normalizeEmail(q.email);
      if (!r.ok) ctx.addIssue({ code: 'custom', path: ['email'], message: r.error });
    }
    if (q.phone !== undefined) {
      const r = normalizePhone(q.phone, q.country ?? 'CN');
      if (!r.ok) ctx.addIssue({ code: 'custom', path: ['phone'], message: r.error });
    }
  });

type Position = { c: string; id: string };
const PositionSchema = z.strictObject({ c: z.string().regex(/^-?\d{1,18}$/), id: z.uuid() });

const badCursor = () => new ValidationError('The cursor is not one this API issued for this search.', [{ path: 'query.cursor', message: 'invalid cursor' }]);

const mac = (secret: string, payload: string, filters: string) => createHmac('sha256', secret).update(`contacts-search\n${filters}\n${payload}`).digest();

/**
 * Cursors are signed and bound to the search's filters: a cursor edited by hand, or replayed with other filters, is a 400
 * rather than a silently different page.
 */
export function encodeSearchCursor(secrets: readonly string[], pos: Position, filters: string): string {
  const payload = Buffer.from(JSON.stringify(pos)).toString('base64url');
  return `${payload}.${mac(secrets[0]!, payload, filters).subarray(0, 16).toString('base64url')}`;
}

export function decodeSearchCursor(secrets: readonly string[], cursor: string, filters: string): Position {
  const [payload, sig, extra] = cursor.split('.');
  if (!payload || !sig || extra !== undefined) throw badCursor();
  const given = Buffer.from(sig, 'base64url');
  // Canonical form only: base64url's last character carries padding bits a lenient decoder ignores, so without this a
  // cursor whose last character was changed could still verify.
  if (given.toString('base64url') !== sig) throw badCursor();
  if (given.length !== 16 || !secrets.some((s) => timingSafeEqual(mac(s, payload, filters).subarray(0, 16), given))) throw badCursor();
  try {
    return PositionSchema.parse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
  } catch {
    throw badCursor();
  }
}

/**
 * `GET /v1/contacts`: live contacts (merged-away duplicates and erased contacts left out), filtered and walked in
 * (created_at, id) order. Neither changes when a contact is updated, so a walk returns every contact that stays live
 * through it exactly once, whatever is updated between pages; contacts created during the walk come at its end.
 */
export function contactSearchRoutes(deps: { db: Db; signingSecrets: readonly string[] }) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/contacts',
      tag: 'contacts',
      summary:
        'List or search contacts by email, phone (normalized as a write normalizes them), CRM id (`externalId`), part of the name (`name`, case-insensitive), tag, lifecycle stage and `updatedSince`; merged-away duplicates and erased contacts are left out. Pages follow (created_at, id): a walk with `nextCursor` returns each contact once even while contacts change; `nextCursor` is null on the last page',
      auth: ['integration', 'marketer', 'ops'],
      query: SearchQuery,
      responses: { 200: { description: 'A page of contacts (the fields of GET /v1/contacts/{id}) and the cursor of the next page' } },
      handler: async ({ query: q }) => {
        const filters: SQL[] = [isNull(contacts.mergedInto), isNull(contacts.erasedAt)];
        const bound: Record<string, string> = {};
        if (q.email !== undefined) filters.push(eq(contacts.email, (bound.email = (normalizeEmail(q.email) as { value: string }).value)));
        if (q.phone !== undefined) filters.push(eq(contacts.phone, (bound.phone = (normalizePhone(q.phone, q.country ?? 'CN') as { value: string }).value)));
        if (q.externalId !== undefined) filters.push(eq(contacts.externalId, (bound.externalId = q.externalId)));
        if (q.name !== undefined) {
          // LIKE's own characters in the name are matched as themselves.
          const pattern = `%${(bound.name = q.name.toLowerCase()).replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
          const first = sql`coalesce(${contacts.firstName}, '')`;
          const last = sql`coalesce(${contacts.lastName}, '')`;
          filters.push(
            sql`(lower(${first} || ' ' || ${last}) like ${pattern} or lower(${last} || ' ' || ${first}) like ${pattern} or lower(${last} || ${first}) like ${pattern})`,
          );
        }
        if (q.tag !== undefined) filters.push(sql`${contacts.tags} @> array[${(bound.tag = q.tag)}]::text[]`);
        if (q.lifecycleStage !== undefined) filters.push(eq(contacts.lifecycleStage, (bound.lifecycleStage = q.lifecycleStage)));
        if (q.updatedSince !== undefined) filters.push(gte(contacts.updatedAt, new Date((bound.updatedSince = new Date(q.updatedSince).toISOString()))));
        const fingerprint = createHash('sha256').update(JSON.stringify(Object.entries(bound).sort())).digest('base64url');
        if (q.cursor !== undefined) {
          const pos = decodeSearchCursor(deps.signingSecrets, q.cursor, fingerprint);
          // Microseconds since the epoch, compared in the database: a JS Date would round them to milliseconds.
          filters.push(sql`(${contacts.createdAt}, ${contacts.id}) > (timestamptz 'epoch' + ${pos.c}::bigint * interval '1 microsecond', ${pos.id}::uuid)`);
        }
        const rows = await deps.db
          .select({ contact: contacts, micros: sql<string>`(extract(epoch from ${contacts.createdAt}) * 1000000)::bigint::text` })
          .from(contacts)
          .where(and(...filters))
          .orderBy(asc(contacts.createdAt), asc(contacts.id))
          .limit(q.limit + 1);
        const page = rows.slice(0, q.limit);
        const last = page.at(-1);
        const nextCursor = rows.length > q.limit && last ? encodeSearchCursor(deps.signingSecrets, { c: last.micros, id: last.contact.id }, fingerprint) : null;
        return { body: { items: page.map((r) => r.contact), nextCursor } };
      },
    }),
  ];
}
