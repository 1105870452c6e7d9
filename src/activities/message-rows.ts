import { ApplicationFailure } from '@temporalio/activity';
import { SKIPPED, type Skipped } from '../contracts';
import type { Db } from '../db/client';
import { findContactById, type ContactRow } from '../db/queries';
import { messages } from '../db/schema';

/** Sends that were decided against at send time (SKIPPED); recorded so a retry answers the same. */
export const isSkipped = (status: string): status is Skipped => (SKIPPED as readonly string[]).includes(status);

/** Where a message comes from: the same for every retry of one step of one run. */
export type MessageRef = { idempotencyKey: string; contactId: string; journeyId: string; workflowId: string; stepId: string };

export function messageRow(ref: MessageRef, channel: string, recipient: string, extra: Partial<typeof messages.$inferInsert> = {}) {
  return {
    idempotencyKey: ref.idempotencyKey,
    channel,
    contactId: ref.contactId,
    journeyId: ref.journeyId,
    workflowId: ref.workflowId,
    stepId: ref.stepId,
    recipient,
    ...extra,
  };
}

export async function recordSkip(db: Db, row: ReturnType<typeof messageRow>, status: Skipped): Promise<{ status: Skipped; duplicate: false }> {
  await db.insert(messages).values({ ...row, status }).onConflictDoUpdate({ target: messages.idempotencyKey, set: { status } });
  return { status, duplicate: false };
}

/** The recipient, or a permanent failure: retrying cannot make a deleted contact exist. */
export async function contactForSend(db: Db, contactId: string): Promise<ContactRow> {
  const row = await findContactById(db, contactId);
  if (!row) throw ApplicationFailure.nonRetryable(`contact ${contactId} does not exist`, 'ContactNotFound');
  return row;
}
