import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { classifyBounce } from '../../src/deliverability/classify';
import { parseReport, ReportError } from '../../src/deliverability/reports';
import { parseMime, MAX_MIME_PARTS } from '../../src/deliverability/mime';
import { arf, dsn } from '../helpers/reports';

describe('bounce classification', () => {
  it.each([
    ['5.1.1', '550 5.1.1 <bob@x>: Recipient address rejected: User unknown', 'hard'],
    ['5.1.10', '550 5.1.10 RESOLVER.ADR.RecipientNotFound', 'hard'],
    ['5.2.1', '550 5.2.1 mailbox disabled', 'hard'],
    ['5.2.2', '552 5.2.2 mailbox full', 'soft'],
    ['4.2.2', '452 4.2.2 over quota', 'soft'],
    ['4.4.1', 'connection timed out', 'soft'],
    ['5.4.4', 'unrouteable', 'soft'],
    ['5.7.1', '550 5.7.1 Message rejected due to local policy', 'policy'],
    ['5.7.26', '550 5.7.26 unauthenticated mail is prohibited (DMARC)', 'policy'],
    ['5.6.0', 'content rejected', 'policy'],
    ['5.0.0', '550 5.0.0 <bob@x>... User unknown', 'hard'],
    ['5.0.0', '550 5.0.0 Blocked by Spamhaus', 'policy'],
    ['5.0.0', '550 5.0.0 something went wrong', 'soft'],
    ['', '550 No such user here', 'hard'],
    ['', '554 Transaction failed', 'policy'],
    ['', '550 rejected: listed on a block list', 'policy'],
    ['', '421 try again later', 'soft'],
  ])('%s %s → %s', (status, diagnostic, expected) => {
    expect(classifyBounce(status, diagnostic)?.class).toBe(expected);
  });

  it('2.x.x and texts without a code are not bounces', () => {
    expect(classifyBounce('2.0.0', '250 OK')).toBeUndefined();
    expect(classifyBounce(undefined, 'it went somewhere')).toBeUndefined();
  });
});

describe('DSN and ARF reports', () => {
  it('a Postfix DSN: hard bounce, the returned Message-ID and idempotency key, the report id', () => {
    const fb = parseReport(dsn({ messageId: '<abc123@itinera.test>', status: '5.1.1', diagnostic: '550 5.1.1 <bob@receiver.example>: Recipient address rejected: User unknown', key: 'journey:j:c:send' }));
    expect(fb).toMatchObject({
      source: 'dsn', kind: 'bounce', class: 'hard', code: '5.1.1', recipient: 'bob@receiver.example',
      eventId: '<20261207100000.4QbX1k0Z3Hz9@mx.receiver.example>',
      refs: { messageIds: ['<abc123@itinera.test>'], idempotencyKeys: ['journey:j:c:send'] },
    });
    expect(fb.kind === 'bounce' && fb.diagnostic).toContain('User unknown');
  });

  it('base64-encoded delivery status, soft and policy classes', () => {
    expect(parseReport(dsn({ messageId: '<a@b>', status: '4.2.2', diagnostic: '452 4.2.2 Mailbox full', encoding: 'base64' }))).toMatchObject({ class: 'soft', code: '4.2.2' });
    expect(parseReport(dsn({ messageId: '<a@b>', status: '5.7.1', diagnostic: '550 5.7.1 Service unavailable; client host blocked using Spamhaus' }))).toMatchObject({ class: 'policy' });
  });

  it('a DSN with only delayed or delivered recipients, and mail that is no report, are refused with the reason', () => {
    expect(() => parseReport(dsn({ messageId: '<a@b>', status: '4.4.7', diagnostic: 'delayed', action: 'delayed' }))).toThrow(/no failed recipient/);
    expect(() => parseReport(Buffer.from('From: a@b\r\nSubject: hi\r\n\r\nHello'))).toThrow(ReportError);
    expect(() => parseReport(Buffer.from('Content-Type: multipart/report; report-type=delivery-status\r\n\r\n--x\r\n'))).toThrow(/boundary/);
  });

  it('an ARF abuse report is a complaint about the returned message', () => {
    expect(parseReport(arf({ messageId: '<m1@itinera.test>' }))).toMatchObject({
      source: 'arf', kind: 'complaint', feedbackType: 'abuse', recipient: 'carol@mailbox.example', eventId: '<fbl-0001@mailbox.example>', refs: { messageIds: ['<m1@itinera.test>'] },
    });
  });

  it('a report without its own Message-ID is identified by its bytes: the same report twice has the same id', () => {
    const raw = dsn({ messageId: '<a@b>', status: '5.1.1', diagnostic: 'x' }).toString('latin1').replace(/^Message-ID: .*\r\n/m, '');
    const a = parseReport(Buffer.from(raw, 'latin1'));
    expect(a.eventId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(parseReport(Buffer.from(raw, 'latin1')).eventId).toBe(a.eventId);
  });

  it('bounded: more parts than allowed is an error, not a walk', () => {
    const parts = Array.from({ length: MAX_MIME_PARTS + 5 }, () => '--b\r\nContent-Type: text/plain\r\n\r\nx').join('\r\n');
    expect(() => parseMime(Buffer.from(`Content-Type: multipart/mixed; boundary=b\r\n\r\n${parts}\r\n--b--`))).toThrow(/parts/);
    const deep = (n: number): string => (n === 0 ? 'Content-Type: text/plain\r\n\r\nx' : `Content-Type: multipart/mixed; boundary=b${n}\r\n\r\n--b${n}\r\n${deep(n - 1)}\r\n--b${n}--`);
    expect(() => parseMime(Buffer.from(deep(10)))).toThrow(/nested/);
  });

  it('fuzzed: any bytes, and any mutation of a real report, give a Feedback or a ReportError, nothing else', () => {
    const real = dsn({ messageId: '<abc@itinera.test>', status: '5.1.1', diagnostic: '550 5.1.1 unknown' });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)),
          fc.tuple(fc.nat(real.length - 1), fc.nat(real.length), fc.uint8Array({ maxLength: 40 })).map(([at, cut, ins]) =>
            Buffer.concat([real.subarray(0, at), Buffer.from(ins), real.subarray(Math.min(real.length, at + (cut % 60)))]),
          ),
        ),
        (raw) => {
          try {
            const fb = parseReport(raw);
            expect(['bounce', 'complaint']).toContain(fb.kind);
          } catch (err) {
            expect(err).toBeInstanceOf(ReportError);
          }
        },
      ),
      { numRuns: 1500 },
    );
  });
});
