/**
 * How a provider's event finds our message. SES returns the original headers (Message-ID and our
 * X-Itinera-Idempotency-Key); Mailgun returns the Message-ID; SendGrid returns it for bounces (`smtp-id`) but not for
 * spam reports; Postmark returns neither. So when mail goes out through one of them (MAIL_RELAY), the mailer also
 * writes the message's idempotency key where that provider echoes it back in every event: SendGrid's unique_args
 * (X-SMTPAPI), Mailgun's user variables (X-Mailgun-Variables), Postmark's metadata (X-PM-Metadata-*).
 */

/** The name our idempotency key travels under in providers' custom arguments. */
export const CORRELATION_KEY = 'itinera_key';

export const MailRelay = { Smtp: 'smtp', Ses: 'ses', Mailgun: 'mailgun', SendGrid: 'sendgrid', Postmark: 'postmark' } as const;
export type MailRelay = (typeof MailRelay)[keyof typeof MailRelay];
export const MAIL_RELAYS = Object.values(MailRelay);

/** The extra header carrying `key` for the relay, if it needs one. */
export function correlationHeaders(relay: MailRelay | undefined, key: string): Record<string, string> {
  switch (relay) {
    case MailRelay.SendGrid:
      return { 'X-SMTPAPI': JSON.stringify({ unique_args: { [CORRELATION_KEY]: key } }) };
    case MailRelay.Mailgun:
      return { 'X-Mailgun-Variables': JSON.stringify({ [CORRELATION_KEY]: key }) };
    case MailRelay.Postmark:
      return { [`X-PM-Metadata-${CORRELATION_KEY}`]: key };
    case MailRelay.Ses:
    case MailRelay.Smtp:
    case undefined:
      return {};
  }
}
