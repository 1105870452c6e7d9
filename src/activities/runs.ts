import { ApplicationFailure } from '@temporalio/activity';
import { toJourneyContact } from '../db/contact-view';
import { findContactById, upsertRunProjection, type RunProjection } from '../db/queries';
import type { Contact } from '../journey/schema';
import type { ActivityDeps } from './deps';

export function runActivities(deps: ActivityDeps) {
  return {
    async recordRun(run: RunProjection): Promise<void> {
      await upsertRunProjection(deps.db, run);
    },

    async loadContact({ contactId }: { contactId: string }): Promise<Contact> {
      const row = await findContactById(deps.db, contactId);
      if (!row) throw ApplicationFailure.nonRetryable(`contact ${contactId} does not exist`, 'ContactNotFound');
      return toJourneyContact(row);
    },
  };
}
