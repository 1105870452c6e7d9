import { ApplicationFailure } from '@temporalio/activity';
import { eq, sql } from 'drizzle-orm';
import { WebhookPermanentError, deliverWebhook } from '../channels/webhooks';
import type { Activities, CallWebhookInput, CallWebhookResult } from '../contracts';
import { toJourneyContact } from '../db/contact-view';
import { findContactById, findMessageByKey } from '../db/queries';
import { messages } from '../db/schema';
import { buildTemplateContext } from '../templates/context';
import type { ActivityDeps } from './deps';
import { WEBHOOK_METHODS, webhookSendsBody, type WebhookMethod } from '../journey/schema';
import { InvalidWebhookUrlError, renderInlineJson, renderInlineUrl } from '../templates/inline';
import { storableText } from '../bounds';

/** The journey's `webhook` step. */
export function webhookActivities(deps: ActivityDeps): Pick<Activities, 'callWebhook'> {
  const { db } = deps;
  return {
    /**
     * A signed (Standard Webhooks) call whose `webhook-id` is the idempotency key, so the receiver can apply it once
     * however often our retries deliver it. 4xx is permanent; 5xx, 408, 429 and network errors are retried by the
     * activity's retry policy.
     */
    async callWebhook(input: CallWebhookInput): Promise<CallWebhookResult> {
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
      const url = renderWebhookUrl(input.url, context);
      const method = input.method.toUpperCase();
      if (!isWebhookMethod(method)) {
        throw ApplicationFailure.nonRetryable(`webhook method ${JSON.stringify(input.method)} is not one of ${WEBHOOK_METHODS.join(', ')}`, 'InvalidWebhookMethod');
      }
      const body = input.body === undefined || !webhookSendsBody(method) ? '' : JSON.stringify(renderInlineJson(input.body, context));
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
          method,
          body,
          // deliverWebhook sets content-type: application/json on the requests that carry a body.
          headers: input.headers,
          ...(deps.webhookSecrets?.length ? { secrets: deps.webhookSecrets } : {}),
          id: input.idempotencyKey,
          timeoutMs: input.timeoutMs,
          ...(deps.outbound ? { http: deps.outbound } : {}),
        });
        await db
          .update(messages)
          .set({ status: 'delivered', providerMessageId: String(r.status), sentAt: sql`now()`, updatedAt: sql`now()` })
          .where(eq(messages.idempotencyKey, input.idempotencyKey));
        return { status: 'delivered', httpStatus: r.status };
      } catch (err) {
        await db
          .update(messages)
          .set({ error: storableText((err as Error).message), ...(err instanceof WebhookPermanentError ? { status: 'failed' } : {}), updatedAt: sql`now()` })
          .where(eq(messages.idempotencyKey, input.idempotencyKey));
        if (err instanceof WebhookPermanentError) return { status: 'failed', httpStatus: err.status, error: err.message };
        throw err;
      }
    },

  };
}

function isWebhookMethod(m: string): m is WebhookMethod {
  return (WEBHOOK_METHODS as readonly string[]).includes(m);
}

/** renderInlineUrl, with a URL it refuses failing the activity for good (retrying would render the same URL). */
function renderWebhookUrl(source: string, context: Record<string, unknown>): string {
  try {
    return renderInlineUrl(source, context);
  } catch (err) {
    if (err instanceof InvalidWebhookUrlError) throw ApplicationFailure.nonRetryable(err.message, 'InvalidWebhookUrl');
    throw err;
  }
}
