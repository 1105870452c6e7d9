/**
 * The CRM webhook for new hand-offs: a Standard Webhooks call (src/channels/webhooks.ts) whose `webhook-id` is the
 * hand-off's idempotency key, so the CRM can apply it once however often our retries deliver it.
 *
 * The payload is written to an outbox row (messages, channel `crm`) in the transaction that creates the hand-off, so
 * every attempt sends the same bytes and a hand-off can never exist without its webhook being tracked. Delivery runs
 * right after, inside the activity: a transient failure (5xx, 408, 429, network) throws so Temporal retries the
 * activity with backoff — the retry finds the hand-off already assigned and only re-sends — until `maxAttempts`,
 * after which the row is marked failed and the journey moves on (the assignment stands; ops see the failure on
 * GET /v1/handoffs/:id). A 4xx is permanent at once.
 */
import { eq, sql } from 'drizzle-orm';
import { WebhookPermanentError, deliverWebhook } from '../channels/webhooks';
import type { OutboundHttp } from '../net/outbound';
import type { CrmDeliveryStatus } from '../contracts';
import type { DbOrTx } from '../db/client';
import { findMessageByKey } from '../db/queries';
import { messages } from '../db/schema';
import type { CrmHandoffContext } from './assign';
import { storableText } from '../bounds';

export type CrmWebhookOptions = {
  /** Undefined: no webhook; each hand-off's outbox row says none was sent. */
  url: string | undefined;
  /** `whsec_…`; the first signs, all are sent so the CRM can rotate. */
  secrets: readonly string[];
  /** @default 10 */
  maxAttempts?: number;
  /** Kept under the activity's 15 s start-to-close timeout. @default 8000 */
  timeoutMs?: number;
};

export type { CrmDeliveryStatus } from '../contracts';

/** What the CRM receives for a new hand-off (`type: handoff.created`). */
export function crmHandoffPayload(ctx: CrmHandoffContext, apiBaseUrl: string) {
  const { handoff: h, contact: c } = ctx;
  return {
    type: 'handoff.created',
    handoff: {
      id: h.id,
      status: h.status,
      team: h.team,
      assignment: ctx.method,
      taskTitle: h.taskTitle,
      dueAt: h.dueAt?.toISOString() ?? null,
      createdAt: h.createdAt.toISOString(),
      journeyId: h.journeyId,
    },
    rep: { id: h.repId, name: ctx.rep?.name ?? null, email: ctx.rep?.email ?? null },
    contact: {
      id: c.id,
      externalId: c.externalId,
      email: c.email,
      phone: c.phone,
      firstName: c.firstName,
      lastName: c.lastName,
      company: c.company,
      jobTitle: c.jobTitle,
      region: c.region,
      industry: c.industry,
      score: c.score,
      lifecycleStage: c.lifecycleStage,
    },
    /** Where the CRM answers: POST {"outcome":"accepted"} or {"outcome":"rejected","reason":"…"} with an integration key. */
    feedbackUrl: `${apiBaseUrl.replace(/\/$/, '')}/v1/handoffs/${h.id}/feedback`,
  };
}

/**
 * Sends the outbox row stored under `key` unless it already reached a final state.
 * @throws the transient delivery error while attempts remain (the caller's retry policy sends it again)
 */
export async function deliverCrmWebhook(
  db: DbOrTx,
  opts: CrmWebhookOptions | undefined,
  key: string,
  /** The guarded client (OUTBOUND_ALLOW for a CRM on the private network). @default strict */
  http?: OutboundHttp,
): Promise<{ status: CrmDeliveryStatus; error?: string }> {
  const row = await findMessageByKey(db, key);
  if (!row || row.channel !== 'crm') return { status: 'none' };
  if (row.status === 'delivered' || row.status === 'failed' || row.status === 'skipped') {
    return { status: row.status, ...(row.error ? { error: row.error } : {}) };
  }
  if (!opts?.url) {
    await db.update(messages).set({ status: 'skipped', error: 'CRM_WEBHOOK_URL is not set', updatedAt: sql`now()` }).where(eq(messages.idempotencyKey, key));
    return { status: 'skipped', error: 'CRM_WEBHOOK_URL is not set' };
  }
  const [{ attempts } = { attempts: 1 }] = await db
    .update(messages)
    .set({ attempts: sql`${messages.attempts} + 1`, recipient: opts.url, updatedAt: sql`now()` })
    .where(eq(messages.idempotencyKey, key))
    .returning({ attempts: messages.attempts });
  try {
    const r = await deliverWebhook({
      url: opts.url,
      body: row.body ?? '{}',
      ...(opts.secrets.length ? { secrets: opts.secrets } : {}),
      id: key,
      timeoutMs: opts.timeoutMs ?? 8000,
      ...(http ? { http } : {}),
    });
    await db
      .update(messages)
      .set({ status: 'delivered', providerMessageId: String(r.status), error: null, sentAt: sql`now()`, updatedAt: sql`now()` })
      .where(eq(messages.idempotencyKey, key));
    return { status: 'delivered' };
  } catch (err) {
    const message = storableText((err as Error).message);
    const final = err instanceof WebhookPermanentError || attempts >= (opts.maxAttempts ?? 10);
    const error = final && !(err instanceof WebhookPermanentError) ? `gave up after ${attempts} attempts: ${message}` : message;
    await db.update(messages).set({ error, ...(final ? { status: 'failed' } : {}), updatedAt: sql`now()` }).where(eq(messages.idempotencyKey, key));
    if (final) return { status: 'failed', error };
    throw err;
  }
}
