/**
 * The one rule deciding whether a message may go to a contact's address, for every channel that sends (email, SMS).
 * Pure: the sends read consent and the address's suppression at send time and ask this; nothing else decides.
 *
 * - Marketing needs consent: email unless the contact opted out (CAN-SPAM / PIPL opt-out model for existing
 *   customers), SMS only after an explicit opt-in (TCPA, China's 通信短信息服务管理规定).
 * - A marketing message about a subscription topic (src/contacts/topics.ts) also needs the contact not to have opted
 *   out of that topic on that channel; a topic never chosen follows the channel's consent.
 * - Transactional mail (receipts, password resets, order confirmations) ignores marketing consent and topic choices:
 *   opting out of marketing is not opting out of the service.
 * - A suppressed address: an unsubscribe or a complaint stops marketing only; a hard bounce, an operator's manual
 *   entry, an erased contact's address, or any reason this rule does not know stops every message (an unknown reason
 *   fails closed).
 */
import type { ConsentStatus } from '../db/schema';

export const MessageCategory = { Marketing: 'marketing', Transactional: 'transactional' } as const;
export type MessageCategory = (typeof MessageCategory)[keyof typeof MessageCategory];

export type DeliveryChannel = 'email' | 'sms';

/** The reasons written to `suppressions.reason`. */
export const SuppressionReason = {
  Unsubscribed: 'unsubscribed',
  Complaint: 'complaint',
  Bounced: 'bounced',
  Manual: 'manual',
  /** An erased contact's address, kept only as a salted hash (src/contacts/erased-address.ts): nothing goes to it. */
  Erased: 'erased',
} as const;
export type SuppressionReason = (typeof SuppressionReason)[keyof typeof SuppressionReason];

/**
 * Suppressions that only withdraw marketing. An address has one suppression row, so a hard bounce recorded later
 * replaces one of these (an unsubscribed address that bounces stops transactional mail too) and never the reverse.
 */
export const MARKETING_ONLY_SUPPRESSIONS: readonly string[] = [SuppressionReason.Unsubscribed, SuppressionReason.Complaint];

export type DeliveryDecision = { deliver: true } | { deliver: false; skip: 'no_consent' | 'suppressed' };

export function mayDeliver(input: {
  channel: DeliveryChannel;
  category: MessageCategory;
  /** The contact's consent for this channel; undefined when none was ever recorded. */
  consent: ConsentStatus | undefined;
  /** The reason the address is on the suppression list, or null when it is not. */
  suppression: string | null;
  /** The message's topic and the contact's choice for it on this channel (undefined: never chosen). */
  topic?: { id: string; consent: 'opted_in' | 'opted_out' | undefined } | undefined;
}): DeliveryDecision {
  const { channel, category, consent, suppression, topic } = input;
  if (category === MessageCategory.Marketing) {
    const consented = channel === 'sms' ? consent === 'opted_in' : consent !== 'opted_out';
    if (!consented || topic?.consent === 'opted_out') return { deliver: false, skip: 'no_consent' };
    if (suppression !== null) return { deliver: false, skip: 'suppressed' };
    return { deliver: true };
  }
  if (suppression !== null && !MARKETING_ONLY_SUPPRESSIONS.includes(suppression)) return { deliver: false, skip: 'suppressed' };
  return { deliver: true };
}
