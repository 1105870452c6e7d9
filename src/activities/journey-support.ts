import { ApplicationFailure } from '@temporalio/activity';
import { and, eq, gte, inArray, sql } from 'drizzle-orm';
import { ChatPermanentError, sendChatMessage, type ChatProvider } from '../channels/chat';
import { WebhookPermanentError, deliverWebhook } from '../channels/webhooks';
import { toJourneyContact } from '../db/contact-view';
import { buildTemplateContext } from '../journey/template-context';
import type { NotifyTarget } from '../journey/schema';
import { findContactById, findMessageByKey } from '../db/queries';
import { messages, salesHandoffs } from '../db/schema';
import { cachedPlanLoader } from '../engine/journeys';
import type { JourneyPlan } from '../journey/plan';
import { AssignmentError, assignHandoff, type HandoffAssignment } from '../sales/assign';
import { chatAudience } from '../sales/chat';
import { crmHandoffPayload, deliverCrmWebhook, type CrmDeliveryStatus } from '../sales/crm';
import type { ActivityDeps } from './deps';
import { renderInline, renderInlineJson, renderInlineUrl } from './inline-templates';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { batchTaskQueue } from '../temporal/task-queues';
import type { HandoffSlaInput } from '../workflows/handoff-sla';

export function journeySupportActivities(deps: ActivityDeps) {
  const { db } = deps;
  const plan = cachedPlanLoader(db);
  const activities = {
    async loadPlan({ journeyId, version }: { journeyId: string; version: number }): Promise<JourneyPlan> {
      try {
        return await plan(journeyId, version);
      } catch (err) {
        throw ApplicationFailure.nonRetryable((err as Error).message, 'JourneyVersionNotFound');
      }
    },

    /** Send times of this contact's messages on a channel since `since`, across all journeys (frequency caps). */
    async countMessages({ contactId, channel, since }: { contactId: string; channel: string; since: number }): Promise<number[]> {
      const rows = await db
        .select({ sentAt: messages.sentAt })
        .from(messages)
        .where(and(eq(messages.contactId, contactId), eq(messages.channel, channel), inArray(messages.status, ['sent', 'delivered']), gte(messages.sentAt, new Date(since))));
      return rows.map((r) => r.sentAt!.getTime());
    },

    /**
     * A signed (Standard Webhooks) call whose `webhook-id` is the idempotency key, so the receiver can apply it once
     * however often our retries deliver it. 4xx is permanent; 5xx, 408, 429 and network errors are retried by the
     * activity's retry policy.
     */
    async callWebhook(input: {
      idempotencyKey: string;
      contactId: string;
      journeyId: string;
      workflowId: string;
      stepId: string;
      url: string;
      method: string;
      headers: Record<string, string>;
      body?: unknown;
      timeoutMs: number;
      /** Properties of the event that started the run, for `{{event.…}}`. */
      trigger?: Record<string, unknown>;
    }): Promise<{ status: 'delivered' | 'failed'; httpStatus?: number; error?: string }> {
      const existing = await findMessageByKey(db, input.idempotencyKey);
      if (existing?.status === 'delivered') return { status: 'delivered' };
      // The URL and the body's string values are inline templates (the compiler checks their variables).
      const row = await findContactById(db, input.contactId);
      if (!row) throw ApplicationFailure.nonRetryable(`contact ${input.contactId} does not exist`, 'ContactNotFound');
      const context = buildTemplateContext({
        contact: toJourneyContact(row),
        trigger: input.trigger ? { properties: input.trigger } : undefined,
        journey: { id: input.journeyId, name: input.journeyId },
      });
      const url = renderInlineUrl(input.url, context);
      const body = input.body === undefined ? '' : JSON.stringify(renderInlineJson(input.body, context));
      await db
        .insert(messages)
        .values({
          idempotencyKey: input.idempotencyKey,
          channel: 'webhook',
          contactId: input.contactId,
          journeyId: input.journeyId,
          workflowId: input.workflowId,
          stepId: input.stepId,
          recipient: url,
          status: 'sending',
          attempts: 1,
        })
        .onConflictDoUpdate({ target: messages.idempotencyKey, set: { attempts: sql`${messages.attempts} + 1`, updatedAt: sql`now()` } });
      try {
        const r = await deliverWebhook({
          url,
          method: (['POST', 'PUT', 'PATCH'].includes(input.method.toUpperCase()) ? input.method.toUpperCase() : 'POST') as 'POST',
          body,
          headers: { 'content-type': 'application/json', ...input.headers },
          ...(deps.webhookSecrets?.length ? { secrets: deps.webhookSecrets } : {}),
          id: input.idempotencyKey,
          timeoutMs: input.timeoutMs,
        });
        await db
          .update(messages)
          .set({ status: 'delivered', providerMessageId: String(r.status), sentAt: sql`now()`, updatedAt: sql`now()` })
          .where(eq(messages.idempotencyKey, input.idempotencyKey));
        return { status: 'delivered', httpStatus: r.status };
      } catch (err) {
        await db
          .update(messages)
          .set({ error: (err as Error).message.slice(0, 500), ...(err instanceof WebhookPermanentError ? { status: 'failed' } : {}), updatedAt: sql`now()` })
          .where(eq(messages.idempotencyKey, input.idempotencyKey));
        if (err instanceof WebhookPermanentError) return { status: 'failed', httpStatus: err.status, error: err.message };
        throw err;
      }
    },

    /**
     * Assigns the hand-off to a rep (journeys/sales/teams.yaml: existing owner, territory, round robin within capacity),
     * records it pending until the CRM answers, makes the rep the contact's owner, and sends the CRM webhook — the
     * assignment exactly once per idempotency key, the webhook until delivered (see src/sales/). A hand-off that can
     * never be assigned (every rep at capacity, unknown team) fails non-retryably, so the step takes on_failure.
     * Without a sales directory the hand-off is only recorded, with the owner the journey named.
     */
    async handoffToSales(input: {
      idempotencyKey: string;
      contactId: string;
      journeyId: string;
      workflowId: string;
      stepId?: string;
      team?: string;
      owner?: string;
      dueAt?: number;
      /** The sales task's title as written in the journey (an inline template, rendered here for the contact). */
      taskTitle?: string;
      /** Escalate to the rep's manager when the hand-off is still pending then (see handoffSlaWorkflow). */
      sla?: { escalateAt: number; escalateTo: 'manager'; channel?: ChatProvider };
    }): Promise<{ ownerId: string | null; duplicate: boolean; handoffId?: string; crm?: CrmDeliveryStatus }> {
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
        const crm = await deliverCrmWebhook(db, deps.sales.crmWebhook, input.idempotencyKey);
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
    async escalateHandoff(input: { handoffId: string; journeyId: string; workflowId: string; channel: ChatProvider }): Promise<{ escalated: boolean; reason: string }> {
      const [h] = await db.select().from(salesHandoffs).where(eq(salesHandoffs.id, input.handoffId));
      if (!h) return { escalated: false, reason: 'the hand-off no longer exists' };
      if (h.status !== 'pending' && h.status !== 'escalated') return { escalated: false, reason: `the CRM answered in time (${h.status})` };
      await db
        .update(salesHandoffs)
        .set({ status: 'escalated', escalatedAt: sql`coalesce(${salesHandoffs.escalatedAt}, now())`, updatedAt: sql`now()` })
        .where(and(eq(salesHandoffs.id, h.id), inArray(salesHandoffs.status, ['pending', 'escalated'])));
      const r = await activities.notify({
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

    /**
     * A chat message through the channel's incoming-webhook robot (WeCom, DingTalk, Slack): to a group's robot, or to
     * the default robot mentioning the person. Without a configured robot the message is kept in the outbox (a
     * `chat` row in messages) so nothing is lost. Stored once per idempotency key; transient errors are retried.
     */
    async notify(input: {
      idempotencyKey: string;
      contactId: string;
      journeyId: string;
      workflowId: string;
      stepId: string;
      channel: ChatProvider;
      to: NotifyTarget;
      template?: string;
      message?: string;
      locale?: string;
      /** Properties of the event that started the run, for `{{event.…}}`. */
      trigger?: Record<string, unknown>;
    }): Promise<{ status: 'sent' | 'stored' | 'failed'; error?: string; duplicate: boolean }> {
      const existing = await findMessageByKey(db, input.idempotencyKey);
      if (existing && existing.status !== 'sending') {
        return { status: existing.status as 'sent' | 'stored' | 'failed', ...(existing.error ? { error: existing.error } : {}), duplicate: true };
      }
      const row = await findContactById(db, input.contactId);
      if (!row) throw ApplicationFailure.nonRetryable(`contact ${input.contactId} does not exist`, 'ContactNotFound');
      const contact = toJourneyContact(row);
      // The sales directory turns the owner id into the rep's chat handle for this channel, and knows their manager.
      const audience = chatAudience(deps.sales?.directory, row.ownerId, input.to, input.channel);
      const ownerId = audience.mention;
      const context = buildTemplateContext({
        contact,
        journey: { id: input.journeyId, name: input.journeyId },
        trigger: input.trigger ? { properties: input.trigger } : undefined,
        owner: audience.owner,
        manager: audience.manager,
      });
      const text = input.template ? deps.text.render('chat', input.template, input.locale ?? contact.locale ?? undefined, context) : renderInline(input.message ?? '', context);
      const robot = deps.chatWebhooks?.[input.channel];
      const url = typeof input.to === 'object' && 'group' in input.to ? (robot?.groups[input.to.group] ?? robot?.default) : robot?.default;
      const recipient = typeof input.to === 'string' ? `${input.to}:${audience.recipientId ?? ''}` : JSON.stringify(input.to);
      const base = {
        idempotencyKey: input.idempotencyKey,
        channel: 'chat',
        contactId: input.contactId,
        journeyId: input.journeyId,
        workflowId: input.workflowId,
        stepId: input.stepId,
        template: input.template ?? null,
        recipient: `${input.channel}:${recipient}`,
        body: text,
        provider: url ? input.channel : 'outbox',
      };
      if (!url) {
        await db.insert(messages).values({ ...base, status: 'stored' }).onConflictDoNothing({ target: messages.idempotencyKey });
        return { status: 'stored', duplicate: false };
      }
      await db
        .insert(messages)
        .values({ ...base, status: 'sending', attempts: 1 })
        .onConflictDoUpdate({ target: messages.idempotencyKey, set: { attempts: sql`${messages.attempts} + 1`, updatedAt: sql`now()` } });
      try {
        await sendChatMessage({
          provider: input.channel,
          url,
          ...(robot?.secret ? { secret: robot.secret } : {}),
          // Chat templates are plain text; the text form also carries real @-mentions on WeCom.
          message: { text, format: 'text', ...(ownerId ? { mentions: { userIds: [ownerId] } } : {}) },
        });
      } catch (err) {
        if (err instanceof ChatPermanentError) {
          await db.update(messages).set({ status: 'failed', error: err.message.slice(0, 500), updatedAt: sql`now()` }).where(eq(messages.idempotencyKey, input.idempotencyKey));
          return { status: 'failed', error: err.message, duplicate: false };
        }
        throw err;
      }
      await db.update(messages).set({ status: 'sent', sentAt: sql`now()`, updatedAt: sql`now()` }).where(eq(messages.idempotencyKey, input.idempotencyKey));
      return { status: 'sent', duplicate: false };
    },
  };
  return activities;
}

/**
 * Starts the hand-off's SLA timer as its own workflow on the batch queue (one per hand-off, by id, so a retried
 * activity finds it running): the journey goes on, and the escalation fires even if the run has ended by then.
 */
async function startSlaWatch(
  deps: ActivityDeps,
  w: { handoffId: string; sla: { escalateAt: number; channel?: ChatProvider }; journeyId: string; workflowId: string },
): Promise<void> {
  if (!deps.temporal) throw ApplicationFailure.nonRetryable('a hand-off SLA needs a Temporal client in the activity deps', 'MisconfiguredWorker');
  const input: HandoffSlaInput = { v: 1, handoffId: w.handoffId, escalateAt: w.sla.escalateAt, journeyId: w.journeyId, workflowId: w.workflowId, ...(w.sla.channel ? { channel: w.sla.channel } : {}) };
  try {
    await deps.temporal.client.workflow.start('handoffSlaWorkflow', { workflowId: `handoff-sla:${w.handoffId}`, taskQueue: batchTaskQueue(deps.temporal.taskQueue), args: [input] });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
