/** Delivery reports as receiving mail servers write them, for tests of the bounce intake. */

/**
 * A DSN as Postfix writes it: a human part, the delivery-status, and the returned headers. Without `messageId` the
 * original's headers are not returned (as servers that send only the status do); `to` is the address the report is
 * sent to (the original's envelope sender), `extraHeaders` what the receiving mailbox adds (X-Original-To…).
 */
export function dsn(opts: { messageId?: string; status: string; diagnostic: string; action?: string; reportId?: string; key?: string; encoding?: 'base64'; to?: string; extraHeaders?: string[] }) {
  const deliveryStatus = [
    'Reporting-MTA: dns; mx.receiver.example',
    'X-Postfix-Queue-ID: 4QbX1k0Z3Hz9',
    'Arrival-Date: Mon,  7 Dec 2026 10:00:00 +0000 (UTC)',
    '',
    'Final-Recipient: rfc822; bob@receiver.example',
    'Original-Recipient: rfc822;bob@receiver.example',
    `Action: ${opts.action ?? 'failed'}`,
    `Status: ${opts.status}`,
    'Remote-MTA: dns; mail.receiver.example',
    `Diagnostic-Code: smtp; ${opts.diagnostic}`,
    '',
  ].join('\r\n');
  const headers = [
    'From: itinera tests <journeys@itinera.test>',
    'To: bob@receiver.example',
    'Subject: Welcome',
    ...(opts.messageId ? [`Message-ID: ${opts.messageId}`] : []),
    ...(opts.key ? [`X-Itinera-Idempotency-Key: ${opts.key}`] : []),
    '',
  ].join('\r\n');
  const body = opts.encoding === 'base64' ? Buffer.from(deliveryStatus).toString('base64').replace(/(.{76})/g, '$1\r\n') : deliveryStatus;
  return Buffer.from(
    [
      ...(opts.extraHeaders ?? []),
      'Return-Path: <>',
      `Message-ID: ${opts.reportId ?? '<20261207100000.4QbX1k0Z3Hz9@mx.receiver.example>'}`,
      'Date: Mon,  7 Dec 2026 10:00:01 +0000 (UTC)',
      'From: MAILER-DAEMON@mx.receiver.example (Mail Delivery System)',
      'Subject: Undelivered Mail Returned to Sender',
      `To: ${opts.to ?? 'bounces@itinera.test'}`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status;',
      '\tboundary="4QbX1k0Z3Hz9.1733565601/mx.receiver.example"',
      '',
      'This is a MIME-encapsulated message.',
      '',
      '--4QbX1k0Z3Hz9.1733565601/mx.receiver.example',
      'Content-Description: Notification',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      'I\'m sorry to have to inform you that your message could not be delivered.',
      '',
      '--4QbX1k0Z3Hz9.1733565601/mx.receiver.example',
      'Content-Description: Delivery report',
      'Content-Type: message/delivery-status',
      ...(opts.encoding ? [`Content-Transfer-Encoding: ${opts.encoding}`] : []),
      '',
      body,
      ...(opts.messageId || opts.key
        ? ['--4QbX1k0Z3Hz9.1733565601/mx.receiver.example', 'Content-Description: Undelivered Message Headers', 'Content-Type: text/rfc822-headers', '', headers]
        : []),
      '--4QbX1k0Z3Hz9.1733565601/mx.receiver.example--',
      '',
    ].join('\r\n'),
    'utf8',
  );
}

/** An ARF abuse report as a mailbox provider's feedback loop sends it (RFC 5965 §2), with the whole message returned. */
export function arf(opts: { messageId: string; reportId?: string }) {
  return Buffer.from(
    [
      'From: <abuse@mailbox.example>',
      'Date: Mon, 7 Dec 2026 11:00:00 +0000',
      `Message-ID: ${opts.reportId ?? '<fbl-0001@mailbox.example>'}`,
      'Subject: FW: Welcome',
      'To: <fbl@itinera.test>',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=feedback-report; boundary="part1_13d.2e68ed54_boundary"',
      '',
      '--part1_13d.2e68ed54_boundary',
      'Content-Type: text/plain; charset="US-ASCII"',
      'Content-Transfer-Encoding: 7bit',
      '',
      'This is an email abuse report for an email message received from IP 192.0.2.1 on Mon, 7 Dec 2026 10:00:00 +0000.',
      '',
      '--part1_13d.2e68ed54_boundary',
      'Content-Type: message/feedback-report',
      '',
      'Feedback-Type: abuse',
      'User-Agent: SomeGenerator/1.0',
      'Version: 1',
      'Original-Mail-From: <bounces@itinera.test>',
      'Original-Rcpt-To: <carol@mailbox.example>',
      'Arrival-Date: Mon, 7 Dec 2026 10:00:00 +0000',
      'Source-IP: 192.0.2.1',
      '',
      '--part1_13d.2e68ed54_boundary',
      'Content-Type: message/rfc822',
      'Content-Disposition: inline',
      '',
      'From: <journeys@itinera.test>',
      'To: <carol@mailbox.example>',
      'Subject: Welcome',
      ...(opts.messageId ? [`Message-ID: ${opts.messageId}`] : []),
      'Date: Mon, 7 Dec 2026 09:59:00 +0000',
      '',
      'Hello Carol',
      '--part1_13d.2e68ed54_boundary--',
      '',
    ].join('\r\n'),
  );
}
