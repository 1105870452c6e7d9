import type { Client } from '@temporalio/client';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { findContactByRef, type ContactRow } from '../../db/queries';
import { eraseContact } from '../../contacts/erase';
import { CONTACT_TABLES, exportContact } from '../../contacts/export';
import { DomainError, NotFoundError } from '../../errors';
import { defineRoute } from '../route';

/** Our id or the CRM's; see findContactByRef for which wins. */
export const ContactRef = z.object({ id: z.string().min(1).max(200) });

/** The contact a reference names, refused with 410 once it has been erased. */
export async function liveContact(db: Db, ref: string): Promise<ContactRow> {
  const contact = await findContactByRef(db, ref);
  if (!contact) throw new NotFoundError('Contact', ref);
  if (contact.erasedAt) throw new DomainError('contact_erased', 410, `Contact "${ref}" was erased on ${contact.erasedAt.toISOString()}.`);
  return contact;
}

const ErasureResult = z.object({
  contactId: z.string(),
  contacts: z.number().int(),
  runsCancelled: z.array(z.string()),
  rows: z.record(z.string(), z.number().int()),
  auditId: z.number().int(),
});

export function contactRightsRoutes(deps: { db: Db; temporal: Client; signingSecrets: readonly string[] }) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/contacts/:id/export',
      tag: 'contacts',
      summary: `Everything stored about a contact (by our id or the CRM id), merged duplicates included, as JSON: one section per table (${CONTACT_TABLES.join(', ')})`,
      auth: ['ops'],
      params: ContactRef,
      responses: { 200: { description: 'The export' }, 404: { description: 'No such contact' }, 410: { description: 'The contact was erased' } },
      handler: async ({ params }) => {
        const contact = await liveContact(deps.db, params.id);
        return { body: await exportContact(deps.db, contact.id), headers: { 'Content-Disposition': `attachment; filename="contact-${contact.id}.json"` } };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/contacts/:id',
      tag: 'contacts',
      summary:
        'Erase a contact (by our id or the CRM id) on request: cancels their running runs, removes personal data from every table (anonymous rows statistics count stay), keeps their email and phone only as salted hashes on the suppression list so they are never messaged again, and records who asked in an audit row',
      auth: [],
      params: ContactRef,
      responses: {
        200: { description: 'Erased: what changed, per table', schema: ErasureResult },
        404: { description: 'No such contact' },
        410: { description: 'Already erased' },
      },
      handler: async ({ params, req }) => {
        const contact = await liveContact(deps.db, params.id);
        const actor = `api:${req.principal?.role ?? 'admin'}:${req.principal?.keyId ?? 'unknown'}`;
        return { body: await eraseContact(deps, contact.id, actor) };
      },
    }),
  ];
}
