import { ApplicationFailure } from '@temporalio/activity';
import { and, eq, gte, inArray } from 'drizzle-orm';
import type { Activities, RunProjection, RunSteps } from '../contracts';
import { toJourneyContact } from '../db/contact-view';
import { findContactById, recordRunSteps, upsertRunProjection } from '../db/queries';
import { messages } from '../db/schema';
import type { JourneyPlan } from '../journey/plan';
import type { Contact } from '../journey/schema';
import { cachedPlanLoader } from '../publishing/journeys';
import type { ActivityDeps } from './deps';

/** What a run reads and records about itself: its plan, its contact, its projection, its recent sends. */
export function runActivities(deps: ActivityDeps): Pick<Activities, 'loadPlan' | 'loadContact' | 'loadRunStart' | 'recordRun' | 'recordRunSteps' | 'countMessages'> {
  const { db } = deps;
  const plan = cachedPlanLoader(db);
  const loadPlan = async ({ journeyId, version }: { journeyId: string; version: number }): Promise<JourneyPlan> => {
    try {
      return await plan(journeyId, version);
    } catch (err) {
      throw ApplicationFailure.nonRetryable((err as Error).message, 'JourneyVersionNotFound');
    }
  };
  const loadContact = async ({ contactId }: { contactId: string }): Promise<Contact> => {
    const row = await findContactById(deps.db, contactId);
    if (!row) throw ApplicationFailure.nonRetryable(`contact ${contactId} does not exist`, 'ContactNotFound');
    return toJourneyContact(row);
  };
  return {
    loadPlan,
    loadContact,

    async loadRunStart({ journeyId, version, contactId }: { journeyId: string; version: number; contactId: string }): Promise<{ plan: JourneyPlan; contact: Contact }> {
      const [p, contact] = await Promise.all([loadPlan({ journeyId, version }), loadContact({ contactId })]);
      return { plan: p, contact };
    },

    /** Send times of this contact's messages on a channel since `since`, across all journeys (frequency caps). */
    async countMessages({ contactId, channel, since }: { contactId: string; channel: string; since: number }): Promise<number[]> {
      const rows = await db
        .select({ sentAt: messages.sentAt })
        .from(messages)
        .where(and(eq(messages.contactId, contactId), eq(messages.channel, channel), inArray(messages.status, ['sent', 'delivered']), gte(messages.sentAt, new Date(since))));
      return rows.map((r) => r.sentAt!.getTime());
    },

    async recordRun(run: RunProjection): Promise<void> {
      await upsertRunProjection(deps.db, run);
    },

    async recordRunSteps(run: RunSteps): Promise<void> {
      await recordRunSteps(deps.db, run);
    },
  };
}
