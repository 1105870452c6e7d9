import { describe, expect, it } from 'vitest';
import { smsKeyword, twilioSignature, twiml, verifyTwilioSignature } from '../../src/channels/twilio-webhooks';

// Twilio's published request-validation example (its helper libraries' tests): token 12345, this URL and form.
const URL = 'https://mycompany.com/myapp.php?foo=1&bar=2';
const PARAMS = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' };

describe('X-Twilio-Signature', () => {
  it("reproduces Twilio's documented example, and repeated parameters as its libraries sign them", () => {
    expect(twilioSignature('12345', URL, PARAMS)).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
    expect(twilioSignature('12345', URL, { Sid: 'CA123', SidAccount: 'AC123', Digits: ['5678', '1234', '1234'] })).toBe('IK+Dwps556ElfBT0I3Rgjkr1wJU=');
  });

  it('refuses any change to the token, URL, a parameter or the signature', () => {
    expect(verifyTwilioSignature('12345', URL, PARAMS, 'RSOYDt4T1cUTdK1PDd93/VVr8B8=')).toBe(true);
    expect(verifyTwilioSignature('12346', URL, PARAMS, 'RSOYDt4T1cUTdK1PDd93/VVr8B8=')).toBe(false);
    expect(verifyTwilioSignature('12345', `${URL}&x=1`, PARAMS, 'RSOYDt4T1cUTdK1PDd93/VVr8B8=')).toBe(false);
    expect(verifyTwilioSignature('12345', URL, { ...PARAMS, Digits: '9999' }, 'RSOYDt4T1cUTdK1PDd93/VVr8B8=')).toBe(false);
    expect(verifyTwilioSignature('12345', URL, PARAMS, 'RSOYDt4T1cUTdK1PDd93/VVr8B9=')).toBe(false);
    expect(verifyTwilioSignature('12345', URL, PARAMS, undefined)).toBe(false);
    expect(verifyTwilioSignature('12345', URL, PARAMS, '签名')).toBe(false);
  });
});

describe('SMS keywords', () => {
  it('knows the opt-out, opt-in and help words alone, in any case, width or punctuation', () => {
    for (const w of ['STOP', 'stop', ' Stop. ', 'UNSUBSCRIBE', '退订', 'TD', 'td', 'Ｔ Ｄ'.replace(' ', ''), 'T', '退订！']) expect(smsKeyword(w), w).toBe('stop');
    for (const w of ['START', 'start!', '订阅', 'UNSTOP']) expect(smsKeyword(w), w).toBe('start');
    for (const w of ['HELP', 'help?', '帮助']) expect(smsKeyword(w), w).toBe('help');
    for (const w of ['please stop', 'stop it', '', 'TDX', '不要退订']) expect(smsKeyword(w), w).toBe('other');
  });

  it('answers TwiML with the reply escaped', () => {
    expect(twiml()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
    expect(twiml('A & <B>')).toContain('<Message>A &amp; &lt;B&gt;</Message>');
  });
});
