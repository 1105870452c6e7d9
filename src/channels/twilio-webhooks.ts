/**
 * What Twilio (and Twilio-compatible gateways) post to us: delivery receipts and inbound messages, form-encoded and
 * signed with `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, the full URL + each parameter's name and value in
 * name order)) — as https://www.twilio.com/docs/usage/security#validating-requests describes.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type FormParams = Record<string, string | string[]>;

export function twilioSignature(authToken: string, url: string, params: FormParams): string {
  let data = url;
  for (const name of Object.keys(params).sort()) {
    const value = params[name]!;
    // A repeated name: its values sorted, each once — as Twilio's helper libraries sign it.
    for (const v of Array.isArray(value) ? [...new Set(value)].sort() : [value]) data += name + v;
  }
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

export function verifyTwilioSignature(authToken: string, url: string, params: FormParams, signature: string | undefined): boolean {
  if (!signature) return false;
  const expected = Buffer.from(twilioSignature(authToken, url, params));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** Delivery statuses that end a message, as stored in `messages.status`; earlier ones (queued, sent…) change nothing. */
export const FINAL_SMS_STATUSES = ['delivered', 'undelivered', 'failed'] as const;
export type FinalSmsStatus = (typeof FINAL_SMS_STATUSES)[number];

export const SmsKeyword = { Stop: 'stop', Start: 'start', Help: 'help', Other: 'other' } as const;
export type SmsKeyword = (typeof SmsKeyword)[keyof typeof SmsKeyword];

/**
 * Opt-out and opt-in words, English (the CTIA / Twilio set) and Chinese (退订, and TD / T as carriers' "回T退订"
 * prompts ask). A message is a keyword only when it is the word alone (case, width, surrounding spaces and
 * punctuation aside): "please stop the noise" is not an opt-out.
 */
const KEYWORDS: Record<Exclude<SmsKeyword, 'other'>, readonly string[]> = {
  stop: ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPTOUT', '退订', 'TD', 'T'],
  start: ['START', 'UNSTOP', 'SUBSCRIBE', '订阅'],
  help: ['HELP', 'INFO', '帮助'],
};

export function smsKeyword(body: string): SmsKeyword {
  const word = body.normalize('NFKC').trim().replace(/^[\s\p{P}]+|[\s\p{P}]+$/gu, '').toUpperCase();
  for (const [keyword, words] of Object.entries(KEYWORDS) as [Exclude<SmsKeyword, 'other'>, readonly string[]][]) {
    if (words.includes(word)) return keyword;
  }
  return SmsKeyword.Other;
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** A TwiML answer: one reply message, or none. */
export function twiml(reply?: string): string {
  const message = reply === undefined ? '' : `<Message>${reply.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!)}</Message>`;
  return `<?xml version="1.0" encoding="UTF-8"?><Response>${message}</Response>`;
}
