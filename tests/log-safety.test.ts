import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger';
import { maskPersonalData, safeError, statementName } from '../src/log-safety';
import { suppressions } from '../src/db/schema';
import { createTestDatabase } from './helpers/db';

/** A logger of the product's own making, writing into a string. */
function capture(level = 'debug') {
  let out = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  });
  return { log: createLogger(level, 'test', sink), text: () => out };
}

describe('no personal data in logs', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('logs a failed query by statement and SQLSTATE, without its parameters or the detail quoting the row', async () => {
    const address = 'duplicate.person@pii-example.com';
    await db.db.insert(suppressions).values({ channel: 'email', address, reason: 'bounced' });
    const err = await db.db.insert(suppressions).values({ channel: 'email', address, reason: 'bounced' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    // The raw error does carry the address three times over: message (params), params, and the cause's detail.
    expect(String((err as Error).message)).toContain(address);
    expect(JSON.stringify((err as { cause: unknown }).cause, Object.getOwnPropertyNames((err as { cause: object }).cause))).toContain(address);

    const { log, text } = capture();
    log.error({ err }, 'unhandled error');
    log.error(err as Error);
    log.warn({ nested: { error: err } }, 'while doing something');
    const out = text();
    expect(out).not.toContain(address);
    expect(out).not.toContain('duplicate.person');
    const line = JSON.parse(out.split('\n')[0]!) as { err: ReturnType<typeof safeError> };
    expect(line.err).toMatchObject({ statement: 'insert into suppressions', message: 'query failed: insert into suppressions' });
    expect(line.err.cause).toMatchObject({ code: '23505', constraint: 'suppressions_channel_address_uq' });
    expect(line.err.stack).toMatch(/^DrizzleQueryError: query failed: insert into suppressions\n\s+at /);
  });

  it('masks emails and phone numbers in any logged string, message or field', () => {
    const { log, text } = capture();
    const smtp = Object.assign(new Error("Can't send mail - all recipients were rejected: 550 5.1.1 <Refused.Reader@pii-example.com>: Recipient address rejected"), {
      code: 'EENVELOPE',
      responseCode: 550,
      rejected: ['Refused.Reader@pii-example.com'],
      response: '550 5.1.1 <Refused.Reader@pii-example.com>',
    });
    log.warn({ error: smtp, to: 'someone.else@pii-example.com', phones: ['+86 138 0013 8000', '+14155550173', '(415) 555-0173', '13800138000'] }, 'sms to +44 20 7946 0958 failed');
    const out = text();
    for (const pii of ['Refused.Reader', 'someone.else', '138 0013 8000', '4155550173', '555-0173', '13800138000', '7946 0958']) expect(out).not.toContain(pii);
    const line = JSON.parse(out) as Record<string, unknown>;
    expect(line.error).toMatchObject({ code: 'EENVELOPE', responseCode: 550, message: expect.stringContaining('550 5.1.1 <[email]>') });
    expect(line.msg).toBe('sms to [phone] failed');
  });

  it('keeps what operators need: ids, dates, counts, statement names', () => {
    const id = 'journey:welcome:3f1c2b9e-1234-4c5d-8e9f-123456789012';
    expect(maskPersonalData(`${id} at 2026-12-07T02:41:33.123Z after 3 attempts, 1500 ms`)).toBe(`${id} at 2026-12-07T02:41:33.123Z after 3 attempts, 1500 ms`);
    expect(statementName('select "id", "email" from "contacts" where "contacts"."email" = $1')).toBe('select from contacts');
    expect(statementName('update "messages" set "status" = $1 where x')).toBe('update messages');
    expect(statementName('delete from "api_keys" where 1=1')).toBe('delete from api_keys');
    expect(safeError('plain string a@b.co')).toEqual({ type: 'string', message: 'plain string [email]' });
  });
});
