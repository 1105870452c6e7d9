import { ApplicationFailure } from '@temporalio/activity';
import { eq, sql } from 'drizzle-orm';
import { ChatPermanentError, sendChatMessage } from '../channels/chat';
import type { Activities, NotifyInput, NotifyResult } from '../contracts';
import { toJourneyContact } from '../db/contact-view';
import { findContactById, findMessageByKey } from '../db/queries';
import { messages } from '../db/schema';
import { buildTemplateContext } from '../templates/context';
import { chatAudience } from '../sales/chat';
import type { ActivityDeps } from './deps';
import { renderInline } from '../templates/inline';
import { storableText } from '../bounds';

/** The journey's `notify` step: chat messages to sales and to groups (WeCom, DingTalk, Feishu/Lark, Slack). */
export function notifyActivities(deps: ActivityDeps): Pick<Activities, 'notify'> {
  const { db } = deps;
  return {
    /**
     * A chat message through the channel's incoming-webhook robot (WeCom, DingTalk, Feishu/Lark, Slack): to a group's robot, or to
     * the default robot mentioning the person. Without a configured robot the message is kept in the outbox (a
     * `chat` row in messages) so nothing is lost. Stored once per idempotency key; transient errors are retried.
     */
    async notify(input: NotifyInput): Promise<NotifyResult> {
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
      const robot: { default?: string; groups: Record<string, string>; secret?: string } | undefined = deps.chatWebhooks?.[input.channel];
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
          ...(deps.outbound ? { http: deps.outbound } : {}),
          // Chat templates are plain text; the text form also carries real @-mentions on WeCom.
          message: { text, format: 'text', ...(ownerId ? { mentions: { userIds: [ownerId] } } : {}) },
        });
      } catch (err) {
        if (err instanceof ChatPermanentError) {
          await db.update(messages).set({ status: 'failed', error: storableText(err.message), updatedAt: sql`now()` }).where(eq(messages.idempotencyKey, input.idempotencyKey));
          return { status: 'failed', error: err.message, duplicate: false };
        }
        throw err;
      }
      await db.update(messages).set({ status: 'sent', sentAt: sql`now()`, updatedAt: sql`now()` }).where(eq(messages.idempotencyKey, input.idempotencyKey));
      return { status: 'sent', duplicate: false };
    },
  };
}
