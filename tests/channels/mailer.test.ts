import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  classifySmtpError,
  createFileMailer,
  createSmtpMailer,
  IDEMPOTENCY_HEADER,
  messageIdFor,
  SmtpPermanentError,
  SmtpTransientError,
  type OutgoingEmail,
} from '../../src/channels/email/mailer';
import { deadPort, header, startSmtp, type TestSmtp } from './support/smtp';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import { dkimTxtRecord } from '../helpers/dns-txt';

function smtpError(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

const msg = (over: Partial<OutgoingEmail> = {}): OutgoingEmail => ({
  from: 'Itinera <news@itinera.test>',
  to: 'ada@example.com',
  subject: 'Hello Ada',
  html: '<p>Hello <b>Ada</b></p>',
  text: 'Hello Ada',
  idempotencyKey: 'journey:j1:c1:step-1',
  ...over,
});

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startSmtp({
    onRcptTo(address, _session, cb) {
      if (address.address.startsWith('busy')) return cb(smtpError(451, '4.7.1 Greylisted, try again later'));
      if (address.address.startsWith('nobody')) return cb(smtpError(550, '5.1.1 User unknown'));
      cb();
    },
  });
});
afterAll(async () => {
  await smtp.close();
});

describe('classifySmtpError', () => {
  it('maps reply codes and error codes', () => {
    expect(classifySmtpError(smtpError(550, 'x'))).toBe('permanent');
    expect(classifySmtpError(smtpError(552, 'x'))).toBe('permanent');
    expect(classifySmtpError(smtpError(451, 'x'))).toBe('transient');
    expect(classifySmtpError(smtpError(421, 'x'))).toBe('transient');
    expect(classifySmtpError(smtpError(503, 'bad sequence'))).toBe('transient');
    expect(classifySmtpError(Object.assign(new Error(), { code: 'ECONNECTION', originalCode: 'ECONNREFUSED' }))).toBe('transient');
    expect(classifySmtpError(Object.assign(new Error(), { code: 'ECONNREFUSED' }))).toBe('transient');
    expect(classifySmtpError(Object.assign(new Error(), { code: 'ETIMEDOUT' }))).toBe('transient');
    expect(classifySmtpError(Object.assign(new Error(), { code: 'EAUTH', responseCode: 535 }))).toBe('transient');
    expect(classifySmtpError(Object.assign(new Error(), { code: 'EENVELOPE' }))).toBe('permanent');
    expect(classifySmtpError(new Error('???'))).toBe('transient');
    expect(classifySmtpError('weird')).toBe('transient');
  });
});

describe('createSmtpMailer against a real SMTP server', () => {
  it('sends multipart mail with idempotency header and deterministic Message-ID', async () => {
    const mailer = createSmtpMailer({ url: smtp.url, pool: { maxConnections: 1 } });
    try {
      const before = smtp.received.length;
      const res = await mailer.send(msg({ headers: { 'List-Unsubscribe': '<https://t.example/u/x>', 'Message-ID': '<evil@x>' } }));
      const expectedId = `<${createHash('sha256').update('journey:j1:c1:step-1').digest('hex').slice(0, 40)}@itinera.test>`;
      expect(res.messageId).toBe(expectedId);
      expect(res.accepted).toEqual(['ada@example.com']);
      expect(res.rejected).toEqual([]);
      expect(res.response).toMatch(/^250/);
      const got = smtp.received[before]!;
      expect(got.to).toEqual(['ada@example.com']);
      expect(got.from).toBe('news@itinera.test');
      expect(header(got.raw, 'Message-ID')).toBe(expectedId); // caller's header cannot override it
      expect(header(got.raw, IDEMPOTENCY_HEADER)).toBe('journey:j1:c1:step-1');
      expect(header(got.raw, 'List-Unsubscribe')).toBe('<https://t.example/u/x>');
      expect(header(got.raw, 'Subject')).toBe('Hello Ada');
      expect(header(got.raw, 'Content-Type')).toMatch(/^multipart\/alternative/);
      expect(got.raw).toContain('Hello <b>Ada</b>');

      // same key → same Message-ID (receivers dedupe); key given via header works the same way
      const again = await mailer.send(msg({ idempotencyKey: undefined, headers: { [IDEMPOTENCY_HEADER]: 'journey:j1:c1:step-1' } }));
      expect(again.messageId).toBe(expectedId);
      // explicit Message-ID is honoured
      const explicit = await mailer.send(msg({ messageId: '<abc@elsewhere.test>' }));
      expect(explicit.messageId).toBe('<abc@elsewhere.test>');
      expect(header(smtp.received.at(-1)!.raw, 'Message-ID')).toBe('<abc@elsewhere.test>');
    } finally {
      await mailer.close();
    }
  });

  it('reports partial rejection without failing the send', async () => {
    const mailer = createSmtpMailer({ url: smtp.url });
    try {
      const res = await mailer.send(msg({ to: ['ada@example.com', 'nobody@example.com'] }));
      expect(res.accepted).toEqual(['ada@example.com']);
      expect(res.rejected).toEqual(['nobody@example.com']);
    } finally {
      await mailer.close();
    }
  });

  it('4xx on RCPT → SmtpTransientError with code and server text', async () => {
    const mailer = createSmtpMailer({ url: smtp.url });
    try {
      const err = await mailer.send(msg({ to: 'busy@example.com' })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SmtpTransientError);
      expect((err as SmtpTransientError).responseCode).toBe(451);
      expect((err as SmtpTransientError).response).toContain('Greylisted');
      expect(classifySmtpError(err)).toBe('transient');
    } finally {
      await mailer.close();
    }
  });

  it('550 → SmtpPermanentError', async () => {
    const mailer = createSmtpMailer({ url: smtp.url });
    try {
      const err = await mailer.send(msg({ to: 'nobody@example.com' })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SmtpPermanentError);
      expect((err as SmtpPermanentError).responseCode).toBe(550);
      expect((err as SmtpPermanentError).response).toContain('User unknown');
      expect((err as SmtpPermanentError).rejected).toEqual(['nobody@example.com']);
    } finally {
      await mailer.close();
    }
  });

  it('a 5xx at DATA is permanent too', async () => {
    const strict = await startSmtp({
      onData(stream, _s, cb) {
        stream.resume();
        stream.on('end', () => cb(smtpError(554, '5.7.1 Message rejected as spam')));
      },
    });
    const mailer = createSmtpMailer({ url: strict.url });
    try {
      const err = await mailer.send(msg()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SmtpPermanentError);
      expect((err as SmtpPermanentError).responseCode).toBe(554);
    } finally {
      await mailer.close();
      await strict.close();
    }
  });

  it('server down → SmtpTransientError', async () => {
    const port = await deadPort();
    const mailer = createSmtpMailer({ url: `smtp://127.0.0.1:${port}`, connectionTimeoutMs: 2000 });
    try {
      const err = await mailer.send(msg()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SmtpTransientError);
      expect((err as SmtpTransientError).responseCode).toBeUndefined();
      expect((err as SmtpTransientError).code).toMatch(/^E/);
    } finally {
      await mailer.close();
    }
  });

  it('missing idempotency key is a permanent programming error', async () => {
    const mailer = createSmtpMailer({ url: smtp.url });
    try {
      await expect(mailer.send(msg({ idempotencyKey: undefined }))).rejects.toBeInstanceOf(SmtpPermanentError);
      await expect(mailer.send(msg({ from: 'no-domain' }))).rejects.toThrow(/Message-ID domain/);
    } finally {
      await mailer.close();
    }
  });

  it('pool throughput: 500 messages (measured, not asserted on time)', async () => {
    const sink = await startSmtp();
    const mailer = createSmtpMailer({ url: sink.url, pool: { maxConnections: 5, maxMessages: 1000 } });
    try {
      const n = 500;
      const t0 = performance.now();
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) => mailer.send(msg({ to: `user${i}@example.com`, idempotencyKey: `k-${i}` }))),
      );
      const secs = (performance.now() - t0) / 1000;
      console.log(`[mailer] pooled SMTP throughput: ${n} emails in ${secs.toFixed(2)}s = ${(n / secs).toFixed(0)} emails/s (5 connections, loopback smtp-server)`);
      expect(sink.received).toHaveLength(n);
      expect(new Set(results.map((r) => r.messageId)).size).toBe(n);
      expect(new Set(sink.received.flatMap((r) => r.to))).toEqual(new Set(Array.from({ length: n }, (_, i) => `user${i}@example.com`)));
    } finally {
      await mailer.close();
      await sink.close();
    }
  });

  it('DKIM-signs when configured, covering List-Unsubscribe-Post, and the signature verifies', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const mailer = createSmtpMailer({
      url: smtp.url,
      dkim: { domainName: 'itinera.test', keySelector: 'sel1', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
    });
    try {
      await mailer.send(
        msg({
          idempotencyKey: 'dkim-1',
          headers: { 'List-Unsubscribe': '<https://t.example/u/x>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
        }),
      );
      const raw = smtp.received.at(-1)!.raw;
      const sig = header(raw, 'DKIM-Signature');
      expect(sig).toBeDefined();
      const tags = Object.fromEntries(sig!.split(';').map((t) => t.trim()).filter(Boolean).map((t) => [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1).replace(/\s+/g, '')]));
      expect(tags['d']).toBe('itinera.test');
      expect(tags['s']).toBe('sel1');
      const signed = tags['h']!.toLowerCase().split(':');
      expect(signed).toEqual(expect.arrayContaining(['from', 'subject', 'message-id', 'list-unsubscribe', 'list-unsubscribe-post']));
      // mailauth verifies it, asking a resolver that knows only this selector's record.
      const record = dkimTxtRecord(publicKey.export({ type: 'spki', format: 'pem' }).toString());
      const resolver = async (name: string, rrtype: string) => {
        if (rrtype === 'TXT' && name === 'sel1._domainkey.itinera.test') return [[record]];
        throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
      };
      const verdict = async (m: string) => (await dkimVerify(m, { resolver })).results.map((r) => ({ result: r.status.result, comment: r.status.comment, domain: r.signingDomain, selector: r.selector }));
      expect(await verdict(raw)).toEqual([{ result: 'pass', comment: undefined, domain: 'itinera.test', selector: 'sel1' }]);
      // and a tampered subject breaks it (so the check above is meaningful)
      expect(await verdict(raw.replace('Subject: Hello Ada', 'Subject: Hello Eve'))).toEqual([{ result: 'fail', comment: 'bad signature', domain: 'itinera.test', selector: 'sel1' }]);
    } finally {
      await mailer.close();
    }
  });
});

describe('createFileMailer', () => {
  it('writes one RFC 5322 .eml per message named by Message-ID; retries overwrite, not duplicate', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'itinera-mail-')), 'out');
    const mailer = createFileMailer(dir);
    const a = await mailer.send(msg({ idempotencyKey: 'file-1', headers: { 'X-Extra': 'yes' } }));
    await mailer.send(msg({ idempotencyKey: 'file-1' })); // retry of the same send
    const b = await mailer.send(msg({ idempotencyKey: 'file-2', to: ['x@example.com', 'y@example.com'] }));
    await mailer.close();
    expect(a.messageId).toBe(messageIdFor('file-1', 'itinera.test'));
    expect(b.accepted).toEqual(['x@example.com', 'y@example.com']);
    const files = readdirSync(dir).sort();
    expect(files).toHaveLength(2);
    expect(files).toContain(`${a.messageId.slice(1, -1)}.eml`);
    expect(files.every((f) => f.endsWith('.eml'))).toBe(true);
    const raw = readFileSync(join(dir, `${b.messageId.slice(1, -1)}.eml`), 'utf8');
    expect(raw).toMatch(/\r\n\r\n/); // CRLF line endings, header/body separator
    expect(raw.split('\r\n\r\n')[0]!.split('\r\n').every((l) => !l.includes('\n'))).toBe(true);
    expect(header(raw, 'Message-ID')).toBe(b.messageId);
    expect(header(raw, 'To')).toBe('x@example.com, y@example.com');
    expect(header(raw, IDEMPOTENCY_HEADER)).toBe('file-2');
    expect(header(raw, 'MIME-Version')).toBe('1.0');
    expect(a.response).toContain(dir);
  });
});
