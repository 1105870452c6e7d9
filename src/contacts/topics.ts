/**
 * Subscription topics: what a marketing message is about (newsletter, product updates, events…), declared in
 * configuration (MAIL_TOPICS, see README) and chosen per step (`topic:` on send_email / send_sms). A contact opts in
 * or out per channel × topic on the preference page or through `PUT /v1/contacts/:id/preferences`; mayDeliver skips a
 * marketing message whose topic the contact opted out of. Pure (no I/O): the compiler, the API and the sends share it.
 */
import { z } from 'zod';

export const TopicId = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,39}$/, 'must be 1–40 characters: lower-case letters, digits and _, starting with a letter');

export const Topic = z.strictObject({
  id: TopicId,
  /** What the preference page shows, per language. */
  label: z.strictObject({ en: z.string().trim().min(1).max(80), 'zh-CN': z.string().trim().min(1).max(80) }),
});
export type Topic = z.infer<typeof Topic>;

export const Topics = z
  .array(Topic)
  .min(1, 'must declare at least one topic')
  .max(50, 'must declare at most 50 topics')
  .superRefine((topics, ctx) => {
    const seen = new Set<string>();
    topics.forEach((t, i) => {
      if (seen.has(t.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `topic "${t.id}" is declared twice` });
      seen.add(t.id);
    });
  });
export type Topics = z.infer<typeof Topics>;

/** The topics when MAIL_TOPICS is not set. */
export const DEFAULT_TOPICS: Topics = [
  { id: 'newsletter', label: { en: 'Newsletter', 'zh-CN': '新闻通讯' } },
  { id: 'product_updates', label: { en: 'Product updates', 'zh-CN': '产品动态' } },
  { id: 'events', label: { en: 'Events and webinars', 'zh-CN': '活动与直播' } },
];

/** Channels whose messages carry topics. */
export const TOPIC_CHANNELS = ['email', 'sms'] as const;
export type TopicChannel = (typeof TOPIC_CHANNELS)[number];

export type { TopicConsent } from '../db/schema';
