import { describe, expect, it } from 'vitest';
import { ChatPermanentError, ChatTransientError } from '../../src/channels/chat';
import { SmtpPermanentError, SmtpTransientError, toSmtpError } from '../../src/channels/email/mailer';
import { ChannelError, requestFailureMessage } from '../../src/channels/errors';
import { SmsPermanentError, SmsTransientError } from '../../src/channels/sms';
import { WebhookPermanentError, WebhookTransientError } from '../../src/channels/webhooks';

describe('channel errors', () => {
  it('share one base; each channel keeps its class, name, kind and fields', () => {
    const errors = [
      [toSmtpError(Object.assign(new Error('550 no such user'), { responseCode: 550 })), SmtpPermanentError, 'permanent'],
      [toSmtpError(Object.assign(new Error('451 try later'), { responseCode: 451 })), SmtpTransientError, 'transient'],
      [new SmsPermanentError('twilio: HTTP 400', 400, 21211), SmsPermanentError, 'permanent'],
      [new SmsTransientError('twilio: HTTP 503', 503, undefined), SmsTransientError, 'transient'],
      [new WebhookPermanentError('webhook: HTTP 404', 404, 'gone'), WebhookPermanentError, 'permanent'],
      [new WebhookTransientError('webhook: HTTP 502', 502, ''), WebhookTransientError, 'transient'],
      [new ChatPermanentError('chat(wecom): errcode 93000', 200, '{}', 'wecom', 93000), ChatPermanentError, 'permanent'],
      [new ChatTransientError('chat(wecom): errcode 45009', 200, '{}', 'wecom', 45009), ChatTransientError, 'transient'],
    ] as const;
    for (const [err, cls, kind] of errors) {
      expect(err).toBeInstanceOf(ChannelError);
      expect(err).toBeInstanceOf(Error);
      expect(err).toBeInstanceOf(cls);
      expect(err.name).toBe(cls.name);
      expect(err.kind).toBe(kind);
    }
    const smtp = toSmtpError(Object.assign(new Error('550 no such user'), { responseCode: 550, response: '550 no such user', rejected: ['a@b.c'] }));
    expect([smtp.message, smtp.responseCode, smtp.response, smtp.rejected]).toEqual(['550 no such user', 550, '550 no such user', ['a@b.c']]);
    const sms = new SmsPermanentError('twilio: HTTP 400', 400, 21211);
    expect([sms.status, sms.providerCode]).toEqual([400, 21211]);
    const chat = new ChatPermanentError('m', 200, 'body', 'dingtalk', 300001);
    expect(chat).toBeInstanceOf(WebhookPermanentError); // activities handle a chat failure as a webhook one
    expect([chat.status, chat.responseBody, chat.provider, chat.errcode]).toEqual([200, 'body', 'dingtalk', 300001]);
  });

  it('keep the cause they were given', () => {
    const cause = new Error('socket hang up');
    expect(new WebhookTransientError('x', undefined, undefined, { cause }).cause).toBe(cause);
    expect(toSmtpError(cause).cause).toBe(cause);
  });

  it('describe a request without a response the same way for every HTTP channel', () => {
    const timeout = Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' });
    expect(requestFailureMessage(timeout, 'twilio', 500)).toBe('twilio: no response within 500ms');
    const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    expect(requestFailureMessage(refused, 'webhook', 1000)).toBe('webhook: network error: fetch failed (ECONNREFUSED)');
    expect(requestFailureMessage(new TypeError('fetch failed'), 'webhook', 1000)).toBe('webhook: network error: fetch failed');
    expect(requestFailureMessage('boom', 'chat(slack)', 1000)).toBe('chat(slack): network error: boom');
  });
});
