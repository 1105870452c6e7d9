/**
 * Bounce classification: what a failed delivery says about the address. One table, documented in the README
 * ("Bounces and complaints"); providers' own bounce types map onto it in src/deliverability/providers/*.
 *
 * | status                                          | class  | effect                                        |
 * | ----------------------------------------------- | ------ | --------------------------------------------- |
 * | 5.1.x (bad address), 5.2.1 (mailbox disabled)   | hard   | suppressed at once                            |
 * | 4.x.x, 5.2.x other (5.2.2 full…), 5.3.x, 5.4.x, | soft   | suppressed after N soft bounces in the window |
 * |   5.5.x, 5.0.0                                  |        |                                               |
 * | 5.7.x (policy, reputation, auth), 5.6.x (content)| policy | reported, never suppresses the address        |
 *
 * Without an enhanced code the SMTP reply code decides (550/551/553 hard, 554 policy, other 5xx and 4xx soft), and a
 * diagnostic naming spam, a block list, DMARC/SPF/DKIM or policy makes any 5xx policy: a receiver refusing *us* says
 * nothing about the address.
 */

export const BounceClass = { Hard: 'hard', Soft: 'soft', Policy: 'policy' } as const;
export type BounceClass = (typeof BounceClass)[keyof typeof BounceClass];

/** The enhanced status code (RFC 3463) in a status field or an SMTP diagnostic, e.g. `5.1.1`. */
export function enhancedCode(text: string | null | undefined): string | undefined {
  return text ? /(?:^|[^\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])/.exec(text)?.[1] : undefined;
}

/** The three-digit SMTP reply code at the start of a diagnostic (`smtp; 550 …` or `550-…`). */
export function smtpCode(text: string | null | undefined): number | undefined {
  const m = text ? /(?:^|;\s*|\s)([245]\d\d)(?:[\s-]|$)/.exec(text) : null;
  return m ? Number(m[1]) : undefined;
}

const POLICY_TEXT = /\b(spam|blocked|block ?list|blacklist|denylist|reputation|policy|dmarc|spf|dkim|rbl|spamhaus|not authori[sz]ed|rejected for policy)\b/i;
const UNKNOWN_USER_TEXT = /\b(user unknown|unknown user|no such (user|mailbox|recipient)|does not exist|mailbox unavailable|invalid (recipient|mailbox|address)|recipient rejected|address rejected|mailbox not found)\b/i;
const FULL_TEXT = /\b(mailbox (is )?full|over ?quota|quota exceeded|insufficient storage)\b/i;

/**
 * Classifies a failed delivery from its status (`5.1.1`, or a bare `550`) and diagnostic text. Undefined when the
 * status says the message was delivered or is still being tried (2.x.x, or nothing usable).
 */
export function classifyBounce(status: string | null | undefined, diagnostic?: string | null): { class: BounceClass; code: string } | undefined {
  const code = enhancedCode(status) ?? enhancedCode(diagnostic);
  const text = diagnostic ?? '';
  if (code) {
    const [klass, subject, detail] = code.split('.').map(Number) as [number, number, number];
    if (klass === 2) return undefined;
    if (klass === 4) return { class: BounceClass.Soft, code };
    if (subject === 7 || subject === 6) return { class: BounceClass.Policy, code };
    if (subject === 1) return { class: BounceClass.Hard, code };
    if (subject === 2 && detail === 1) return { class: BounceClass.Hard, code };
    // 5.0.0 and other generic codes: the text decides, and when it does not, the soft count will.
    if (subject === 0) {
      if (POLICY_TEXT.test(text)) return { class: BounceClass.Policy, code };
      if (UNKNOWN_USER_TEXT.test(text) && !FULL_TEXT.test(text)) return { class: BounceClass.Hard, code };
    }
    return { class: BounceClass.Soft, code };
  }
  const reply = smtpCode(status) ?? smtpCode(diagnostic);
  if (reply === undefined || reply < 400) return undefined;
  const basic = String(reply);
  if (reply < 500) return { class: BounceClass.Soft, code: basic };
  if (POLICY_TEXT.test(text) || reply === 554) return { class: BounceClass.Policy, code: basic };
  if (reply === 550 || reply === 551 || reply === 553) return FULL_TEXT.test(text) ? { class: BounceClass.Soft, code: basic } : { class: BounceClass.Hard, code: basic };
  return { class: BounceClass.Soft, code: basic };
}
