import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { createMailer } from '../../src/wiring/channels';
import { upsertContactByExternalId } from '../../src/db/queries';
import type { Mailer } from '../../src/activities/deps';
import { createTestDatabase } from '../helpers/db';
import { emailTestActivities, welcomeSend } from '../helpers/email';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import { dkimTxtRecord, startTxtServer } from '../helpers/dns-txt';

const rsa = () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), pub: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
};

const headerBlock = (raw: string) => raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');

type Resolve = (name: string, rrtype: string) => Promise<string[][]>;
/** mailauth's verdict on the one signature a message carries: pass/fail/neutral, the domain, selector and signed headers. */
async function verify(raw: string, resolver: Resolve) {
  const { results } = await dkimVerify(raw, { resolver });
  expect(results).toHaveLength(1);
  const r = results[0]!;
  return {
    result: r.status.result,
    comment: r.status.comment,
    aligned: r.status.aligned,
    domain: r.signingDomain,
    selector: r.selector,
    signed: (r.signingHeaders?.keys ?? '').toLowerCase().split(':').map((k) => k.trim()),
  };
}

/**
 * DKIM from configuration to the wire: the environment (one key in DKIM_DOMAIN/DKIM_PRIVATE_KEY_FILE, another in
 * DKIM_KEYS with the PEM inline) goes through loadConfig and the production mailer wiring; marketing sends through the
 * real activity reach a real SMTP server; an independent verifier (mailauth, the DKIM library of the WildDuck and
 * Forward Email servers) checks what arrived against TXT records the test publishes on a local DNS server, read
 * through node's resolver.
 */
describe('DKIM keys from configuration sign what the SMTP server receives', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let smtp: SmtpSink;
  let mailer: Mailer;
  const news = rsa();
  const shop = rsa();
  let dns: Awaited<ReturnType<typeof startTxtServer>>;
  /** The same names answering with the other domain's key: a signature must not verify against a key not its own. */
  let swapped: Awaited<ReturnType<typeof startTxtServer>>;

  beforeAll(async () => {
    [db, smtp] = await Promise.all([createTestDatabase(), startSmtpSink()]);
    const dir = mkdtempSync(join(tmpdir(), 'itinera-dkim-'));
    writeFileSync(join(dir, 'news.pem'), news.pem);
    const config = loadConfig({
      SMTP_URL: smtp.url,
      DKIM_DOMAIN: 'news.example.cn',
      DKIM_SELECTOR: 's2026',
      DKIM_PRIVATE_KEY_FILE: join(dir, 'news.pem'),
      // As an env file holds it: one line, line breaks written \n.
      DKIM_KEYS: JSON.stringify([{ domain: 'Shop.Example.com', selector: 'shop1', privateKey: shop.pem.replace(/\n/g, '\\n') }]),
    });
    expect(config.dkim.map((k) => `${k.keySelector}._domainkey.${k.domainName}`)).toEqual(['s2026._domainkey.news.example.cn', 'shop1._domainkey.shop.example.com']);
    mailer = createMailer({ config }).mailer;
    dns = await startTxtServer(new Map([
      ['s2026._domainkey.news.example.cn', dkimTxtRecord(news.pub)],
      ['shop1._domainkey.shop.example.com', dkimTxtRecord(shop.pub)],
    ]));
    swapped = await startTxtServer(new Map([
      ['s2026._domainkey.news.example.cn', dkimTxtRecord(shop.pub)],
      ['shop1._domainkey.shop.example.com', dkimTxtRecord(news.pub)],
    ]));
  });
  afterAll(async () => {
    await mailer?.close();
    await smtp?.close();
    await db?.drop();
    await dns?.close();
    await swapped?.close();
  });

  it('signs each message with its From domain key, covering List-Unsubscribe and List-Unsubscribe-Post', async () => {
    const acts = emailTestActivities(db.db, mailer, { baseUrl: 'http://itinera.test', secrets: ['d'.repeat(40)], physicalAddress: 'ACME Ltd · 1 Nanjing Rd · Shanghai' });
    const contact = await upsertContactByExternalId(db.db, { externalId: 'dkim-1', email: 'chen.jie@example.org', firstName: 'Jie', locale: 'en' });
    const froms = ['News <news@news.example.cn>', 'Shop <hello@shop.example.com>', 'Other <a@other.example.net>'];
    for (const [i, from] of froms.entries()) {
      expect(await acts.sendEmail({ ...welcomeSend(contact.id, `dkim-${i}`), from })).toMatchObject({ status: 'sent' });
    }
    const mails = await smtp.waitFor(3);
    const byFrom = (domain: string) => mails.find((m) => m.envelopeFrom.endsWith(`@${domain}`))!;

    for (const [domain, selector] of [['news.example.cn', 's2026'], ['shop.example.com', 'shop1']] as const) {
      const raw = byFrom(domain).raw;
      expect(headerBlock(raw)).toMatch(/^List-Unsubscribe: <http:\/\/itinera\.test\/u\//m);
      expect(headerBlock(raw)).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/m);
      const result = await verify(raw, dns.resolve);
      expect(result).toMatchObject({ result: 'pass', domain, selector, aligned: domain });
      expect(result.signed).toEqual(expect.arrayContaining(['from', 'to', 'subject', 'message-id', 'list-unsubscribe', 'list-unsubscribe-post']));

      // The checks above can fail: a changed List-Unsubscribe target or -Post value, a changed body, or the other
      // domain's key.
      const forgedUnsub = raw.replace('http://itinera.test/u/', 'http://itinera.test/u/x'); // the first is the header's
      expect(forgedUnsub.indexOf('/u/x')).toBeLessThan(raw.indexOf('\r\n\r\n'));
      expect(await verify(forgedUnsub, dns.resolve)).toMatchObject({ result: 'fail', comment: 'bad signature' });
      const forgedPost = raw.replace('List-Unsubscribe-Post: List-Unsubscribe=One-Click', 'List-Unsubscribe-Post: List-Unsubscribe=Two-Clicks');
      expect(forgedPost).not.toBe(raw);
      expect(await verify(forgedPost, dns.resolve)).toMatchObject({ result: 'fail', comment: 'bad signature' });
      const sep = raw.indexOf('\r\n\r\n') + 4;
      // mailauth calls a body hash mismatch `neutral` (RFC 6376 §6.1.3 lets a verifier treat it as no valid signature).
      expect(await verify(`${raw.slice(0, sep)}X${raw.slice(sep)}`, dns.resolve)).toMatchObject({ result: 'neutral', comment: 'body hash did not verify' });
      expect(await verify(raw, swapped.resolve)).toMatchObject({ result: 'fail', comment: 'bad signature' });
    }
    // A From domain without a key goes out unsigned rather than signed for a domain it does not belong to.
    expect(byFrom('other.example.net').raw).not.toMatch(/^DKIM-Signature:/im);
  });
});
