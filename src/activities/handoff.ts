import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { type Activities, batchTaskQueue, type ChatChannel, type HandoffSlaInput, type HandoffSlaResult, handoffSlaWorkflowId, type HandoffToSalesInput, type HandoffToSalesResult, WorkflowType } from '../contracts';
import { toJourneyContact } from '../db/contact-view';
import { findContactById } from '../db/queries';
import { salesHandoffs } from '../db/schema';
import { buildTemplateContext } from '../templates/context';
import { AssignmentError, assignHandoff, type HandoffAssignment } from '../sales/assign';
import { crmHandoffPayload, deliverCrmWebhook } from '../sales/crm';
import type { ActivityDeps } from './deps';
import { renderInline } from '../templates/inline';
import { notifyActivities } from './notify';
import { routeStoredEvents } from '../contacts/outbox';

/** The `handoff_to_sales` step and its SLA escalation. */
export function handoffActivities(deps: ActivityDeps): Pick<Activities, 'handoffToSales' | 'escalateHandoff'> {
  const { db } = deps;
  const { notify } = notifyActivities(deps);
  return {
    /**
     * Assigns the hand-off to a rep (journeys/sales/teams.yaml: existing owner, territory, round robin within capacity),
     * records it pending until the CRM answers, makes the rep the contact's owner, and sends the CRM webhook — the
     * assignment exactly once per idempotency key, the webhook until delivered (see src/sales/). A hand-off that can
     * never be assigned (every rep at capacity, unknown team) fails non-retryably, so the step takes on_failure.
     * Without a sales directory the hand-off is only recorded, with the owner the journey named.
     */
    async handoffToSales(input: HandoffToSalesInput): Promise<HandoffToSalesResult> {
      let taskTitle: string | undefined;
      if (input.taskTitle !== undefined) {
        const row = await findContactById(db, input.contactId);
        if (!row) throw ApplicationFailure.nonRetryable(`contact ${input.contactId} does not exist`, 'ContactNotFound');
        taskTitle = renderInline(input.taskTitle, buildTemplateContext({ contact: toJourneyContact(row), journey: { id: input.journeyId, name: input.journeyId } }));
      }
      if (deps.sales) {
        let assigned: HandoffAssignment;
        try {
          assigned = await assignHandoff(db, deps.sales.directory, { ...input, taskTitle, actor: `journey:${input.journeyId}` }, {
            url: deps.sales.crmWebhook?.url,
            payload: (ctx) => crmHandoffPayload(ctx, deps.tracking?.baseUrl ?? ''),
          });
        } catch (err) {
          if (err instanceof AssignmentError) throw ApplicationFailure.nonRetryable(err.message, err.type);
          throw err;
        }
        await routeStoredEvents(deps.ingest, assigned.contactEvents ?? []);
        const crm = await deliverCrmWebhook(db, deps.sales.crmWebhook, input.idempotencyKey, deps.outbound);
        if (input.sla) await startSlaWatch(deps, { handoffId: assigned.handoffId, sla: input.sla, journeyId: input.journeyId, workflowId: input.workflowId });
        return { ownerId: assigned.repId, duplicate: assigned.duplicate, handoffId: assigned.handoffId, crm: crm.status };
      }
      const rows = await db
        .insert(salesHandoffs)
        .values({
          idempotencyKey: input.idempotencyKey,
          contactId: input.contactId,
          journeyId: input.journeyId,
          workflowId: input.workflowId,
          team: input.team ?? null,
          repId: input.owner ?? null,
          taskTitle: taskTitle ?? null,
          dueAt: input.dueAt ? new Date(input.dueAt) : null,
        })
        .onConflictDoNothing({ target: salesHandoffs.idempotencyKey })
        .returning({ repId: salesHandoffs.repId });
      if (rows.length === 0) {
        const [prev] = await db.select({ repId: salesHandoffs.repId }).from(salesHandoffs).where(eq(salesHandoffs.idempotencyKey, input.idempotencyKey));
        return { ownerId: prev?.repId ?? null, duplicate: true };
      }
      return { ownerId: rows[0]!.repId, duplicate: false };
    },

    /**
     * The SLA of a hand-off came due (handoffSlaWorkflow): if the CRM has not answered, the hand-off becomes
     * `escalated` and the rep's manager is told through the same chat path as a `notify` step (robot or outbox), once.
     */
    async escalateHandoff(input: Parameters<Activities['escalateHandoff']>[0]): Promise<HandoffSlaResult> {
      const [h] = await db.select().from(salesHandoffs).where(eq(salesHandoffs.id, input.handoffId));
      if (!h) return { escalated: false, reason: 'the hand-off no longer exists' };
      if (h.status !== 'pending' && h.status !== 'escalated') return { escalated: false, reason: `the CRM answered in time (${h.status})` };
      await db
        .update(salesHandoffs)
        .set({ status: 'escalated', escalatedAt: sql`coalesce(${salesHandoffs.escalatedAt}, now())`, updatedAt: sql`now()` })
        .where(and(eq(salesHandoffs.id, h.id), inArray(salesHandoffs.status, ['pending', 'escalated'])));
      const r = await notify({
        idempotencyKey: `handoff-sla:${h.id}`,
        contactId: h.contactId,
        journeyId: input.journeyId,
        workflowId: input.workflowId,
        stepId: 'sla-escalation',
        channel: input.channel,
        to: 'manager',
        message: 'SLA passed: the MQL hand-off of {{contact.first_name}} {{contact.last_name}} ({{contact.company}}) to {{owner.name}} has no answer from sales yet.',
      });
      return { escalated: true, reason: `manager notified (${r.status})` };
    },

  };
}

/**
 * Starts the hand-off's SLA timer as its own workflow on the batch queue (one per hand-off, by id, so a retried
 * activity finds it running): the journey goes on, and the escalation fires even if the run has ended by then.
 */
async function startSlaWatch(
  deps: ActivityDeps,
  w: { handoffId: string; sla: { escalateAt: number; channel?: ChatChannel }; journeyId: string; workflowId: string },
): Promise<void> {
  if (!deps.temporal) throw ApplicationFailure.nonRetryable('a hand-off SLA needs a Temporal client in the activity deps', 'MisconfiguredWorker');
  const input: HandoffSlaInput = { v: 1, handoffId: w.handoffId, escalateAt: w.sla.escalateAt, journeyId: w.journeyId, workflowId: w.workflowId, ...(w.sla.channel ? { channel: w.sla.channel } : {}) };
  try {
    await deps.temporal.client.workflow.start(WorkflowType.HandoffSla, { workflowId: handoffSlaWorkflowId(w.handoffId), taskQueue: batchTaskQueue(deps.temporal.taskQueue), args: [input] });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
