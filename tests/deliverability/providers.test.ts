import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { correlationHeaders } from '../../src/deliverability/correlation';
import { defaultSnsUrlAllowed, sesFeedback, SnsRefused, type SnsEnvelope } from '../../src/deliverability/providers/ses';
import { MailgunBody, mailgunFeedback } from '../../src/deliverability/providers/mailgun';
import { SendgridBody, sendgridFeedback } from '../../src/deliverability/providers/sendgrid';
import { PostmarkBody, postmarkFeedback, postmarkAuthorized } from '../../src/deliverability/providers/postmark';

const envelope = (message: string): SnsEnvelope => ({
  Type: 'Notification', MessageId: 'm', TopicArn: 'arn:aws:sns:us-east-1:123456789012:t', Message: message, Timestamp: '2026-12-07T00:00:00Z',
  SignatureVersion: '2', Signature: 'x', SigningCertURL: 'https://sns.us-east-1.amazonaws.com/c.pem',
});

describe('provider payloads', () => {
  it('fetches SNS certificates only from https://sns.<region>.amazonaws.com[.cn]', () => {
    for (const ok of ['https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem', 'https://sns.cn-north-1.amazonaws.com.cn/x.pem']) expect(defaultSnsUrlAllowed(new URL(ok)), ok).toBe(true);
    for (const bad of [
      'http://sns.us-east-1.amazonaws.com/x.pem', 'https://sns.us-east-1.amazonaws.com.evil.example/x.pem', 'https://evil.example/sns.us-east-1.amazonaws.com/x.pem',
      'https://sns.us-east-1.amazonaws.com:8443/x.pem', 'https://s3.amazonaws.com/x.pem', 'https://sns.amazonaws.com/x.pem', 'https://user@sns.us-east-1.amazonaws.com.evil/x.pem',
    ]) expect(defaultSnsUrlAllowed(new URL(bad)), bad).toBe(false);
  });

  it('writes the key where each relay echoes it back', () => {
    expect(correlationHeaders('sendgrid', 'k1')).toEqual({ 'X-SMTPAPI': '{"unique_args":{"itinera_key":"k1"}}' });
    expect(correlationHeaders('mailgun', 'k1')).toEqual({ 'X-Mailgun-Variables': '{"itinera_key":"k1"}' });
    expect(correlationHeaders('postmark', 'k1')).toEqual({ 'X-PM-Metadata-itinera_key': 'k1' });
    expect(correlationHeaders('ses', 'k1')).toEqual({});
    expect(correlationHeaders(undefined, 'k1')).toEqual({});
  });

  it('SES: a Transient bounce is soft even with a 5.1.x status; delivery notifications are not feedback', () => {
    const mail = { messageId: 'ses-1', commonHeaders: { messageId: '<a@b>' }, headers: [{ name: 'X-Itinera-Idempotency-Key', value: 'k' }] };
    const bounce = (bounceType: string, status: string) => sesFeedback(envelope(JSON.stringify({ notificationType: 'Bounce', mail, bounce: { feedbackId: 'f', bounceType, bouncedRecipients: [{ emailAddress: 'A@B.example', status }] } })));
    expect(bounce('Permanent', '5.1.1')).toMatchObject({ class: 'hard', code: '5.1.1', recipient: 'a@b.example', refs: { messageIds: ['<a@b>'], idempotencyKeys: ['k'] } });
    expect(bounce('Transient', '5.1.1')).toMatchObject({ class: 'soft' });
    expect(bounce('Permanent', '5.7.1')).toMatchObject({ class: 'policy' });
    expect(sesFeedback(envelope(JSON.stringify({ eventType: 'Delivery', mail, delivery: {} })))).toBeUndefined();
    expect(() => sesFeedback(envelope('not json'))).toThrow(SnsRefused);
  });

  it('Postmark: types map to classes, unknown record types are ignored, credentials compared whole', () => {
    const base = { RecordType: 'Bounce', ID: 1, Email: 'x@y.example', Metadata: { itinera_key: 'k' } };
    expect(postmarkFeedback({ ...base, Type: 'HardBounce' })).toMatchObject({ class: 'hard', eventId: 'Bounce:1', refs: { idempotencyKeys: ['k'] } });
    expect(postmarkFeedback({ ...base, Type: 'Transient' })).toMatchObject({ class: 'soft' });
    expect(postmarkFeedback({ ...base, Type: 'Blocked' })).toMatchObject({ class: 'policy' });
    expect(postmarkFeedback({ ...base, Type: 'AutoResponder' })).toBeUndefined();
    expect(postmarkFeedback({ ...base, RecordType: 'SpamComplaint', Type: 'SpamComplaint' })).toMatchObject({ kind: 'complaint' });
    expect(postmarkFeedback({ ...base, RecordType: 'Delivery' })).toBeUndefined();
    const auth = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
    expect(postmarkAuthorized(auth('u:p'), 'u', 'p')).toBe(true);
    expect(postmarkAuthorized(auth('u:p2'), 'u', 'p')).toBe(false);
    expect(postmarkAuthorized(auth('u:'), 'u', 'p')).toBe(false);
    expect(postmarkAuthorized(undefined, 'u', 'p')).toBe(false);
  });

  it('fuzzed: any JSON that passes a provider schema gives feedback or nothing, never an exception', () => {
    const json = fc.jsonValue({ maxDepth: 4 });
    const shaped = fc.record({
      event: fc.constantFrom('bounce', 'spamreport', 'failed', 'complained', 'delivered', 'x'),
      RecordType: fc.constantFrom('Bounce', 'SpamComplaint', 'Open'),
      Type: fc.string({ maxLength: 20 }),
      status: fc.string({ maxLength: 12 }),
      reason: fc.string({ maxLength: 60 }),
      severity: fc.constantFrom('permanent', 'temporary', 'x'),
      id: fc.string({ minLength: 1, maxLength: 20 }),
      sg_event_id: fc.string({ minLength: 1, maxLength: 20 }),
      ID: fc.integer({ min: 0 }),
      timestamp: fc.double(),
      Content: fc.string({ maxLength: 200 }),
    });
    fc.assert(
      fc.property(fc.oneof(json, shaped), fc.string({ maxLength: 200 }), (value, message) => {
        const v = value as Record<string, unknown>;
        const mg = MailgunBody.safeParse({ signature: { timestamp: '1', token: 't', signature: '0'.repeat(64) }, 'event-data': { ...(typeof v === 'object' && v ? v : {}), id: 'e', event: v?.event ?? 'failed' } });
        if (mg.success) mailgunFeedback(mg.data);
        const sg = SendgridBody.safeParse([v]);
        if (sg.success) sendgridFeedback(sg.data[0]!);
        const pm = PostmarkBody.safeParse(v);
        if (pm.success) postmarkFeedback(pm.data);
        try {
          sesFeedback(envelope(message));
          sesFeedback(envelope(JSON.stringify({ notificationType: 'Bounce', mail: {}, bounce: v })));
        } catch (err) {
          expect(err).toBeInstanceOf(SnsRefused);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
