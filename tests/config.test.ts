import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config';

const pem = (type: 'rsa' | 'ed25519', bits = 2048) =>
  (type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: bits }) : generateKeyPairSync('ed25519')).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

describe('loadConfig', () => {
  it('has defaults that run the embedded stack', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.temporal.address).toBeUndefined();
    expect(c.temporal.taskQueue).toBe('itinera');
    expect(c.publicBaseUrl).toBe('http://localhost:3000');
    expect(c.dataDir).toBe('.data');
  });

  it('reads and converts values', () => {
    const c = loadConfig({ PORT: '8080', TEMPORAL_ADDRESS: 'temporal:7233', DATABASE_URL: 'postgres://u:p@db/x', SMTP_POOL_SIZE: '3' });
    expect(c.port).toBe(8080);
    expect(c.temporal.address).toBe('temporal:7233');
    expect(c.smtp.poolSize).toBe(3);
    expect(c.publicBaseUrl).toBe('http://localhost:8080');
  });

  it('gives Twilio the status callback URL under PUBLIC_BASE_URL and the HELP answer', () => {
    const twilio = { SMS_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: 'AC1', TWILIO_AUTH_TOKEN: 'tok', SMS_FROM: '+15005550006' };
    const c = loadConfig({ ...twilio, PUBLIC_BASE_URL: 'https://mkt.example.cn/' });
    expect(c.sms).toMatchObject({ provider: 'twilio', statusCallbackUrl: 'https://mkt.example.cn/v1/sms/twilio/status', helpText: expect.stringContaining('STOP') });
    expect(loadConfig({ ...twilio, SMS_HELP_TEXT: ' 回复 TD 退订 ' }).sms).toMatchObject({ helpText: '回复 TD 退订' });
    expect(() => loadConfig({ ...twilio, SMS_HELP_TEXT: 'x'.repeat(481) })).toThrow(/SMS_HELP_TEXT/);
  });

  it('reads the Aliyun SMS settings, with the template map checked', () => {
    const aliyun = { SMS_PROVIDER: 'aliyun', ALIYUN_ACCESS_KEY_ID: 'LTAI5t', ALIYUN_ACCESS_KEY_SECRET: 's', ALIYUN_SMS_SIGN_NAME: '某某科技' };
    const templates = JSON.stringify({ 'reactivation-reminder': { code: 'SMS_123456', params: { name: '{{contact.first_name}}' } } });
    expect(loadConfig({ ...aliyun, ALIYUN_SMS_TEMPLATES: templates }).sms).toEqual({
      provider: 'aliyun', endpoint: 'https://dysmsapi.aliyuncs.com', accessKeyId: 'LTAI5t', accessKeySecret: 's', signName: '某某科技',
      templates: { 'reactivation-reminder': { code: 'SMS_123456', params: { name: '{{contact.first_name}}' } } },
    });
    expect(() => loadConfig(aliyun)).toThrow(/ALIYUN_SMS_TEMPLATES maps no template/);
    expect(() => loadConfig({ ...aliyun, ALIYUN_SMS_TEMPLATES: '{nope' })).toThrow(/ALIYUN_SMS_TEMPLATES is not JSON/);
    expect(() => loadConfig({ ...aliyun, ALIYUN_SMS_TEMPLATES: JSON.stringify({ x: { code: '123' } }) })).toThrow(/ALIYUN_SMS_TEMPLATES.*TemplateCode/);
    expect(() => loadConfig({ SMS_PROVIDER: 'aliyun', ALIYUN_SMS_TEMPLATES: templates })).toThrow(/ALIYUN_ACCESS_KEY_ID/);
  });

  it('reads a Feishu/Lark robot from CHAT_WEBHOOKS; bad entries are named, secrets and URLs never shown', () => {
    const hook = 'https://open.feishu.cn/open-apis/bot/v2/hook/0f1e2d3c-token';
    const lark = 'https://open.larksuite.com/open-apis/bot/v2/hook/lark-token';
    expect(loadConfig({ CHAT_WEBHOOKS: JSON.stringify({ feishu: { default: hook, groups: { intl: lark }, secret: 'fs-secret-value' } }) }).chatWebhooks).toEqual({
      feishu: { default: hook, groups: { intl: lark }, secret: 'fs-secret-value' },
    });
    const error = (v: object | string) => {
      try {
        loadConfig({ CHAT_WEBHOOKS: typeof v === 'string' ? v : JSON.stringify(v) });
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    const bad = error({ feishu: { default: 'hook-token-123', groups: { ops: 'ftp://x/hook-token-456' }, secret: 'fs-secret-value' } });
    expect(bad).toContain('CHAT_WEBHOOKS feishu default must be an http(s) URL');
    expect(bad).toContain('CHAT_WEBHOOKS feishu groups ops must be an http(s) URL');
    for (const hidden of ['hook-token-123', 'hook-token-456', 'fs-secret-value']) expect(bad).not.toContain(hidden);
    // A misspelt field is an error, not ignored; an empty secret would silently send unsigned.
    expect(error({ feishu: { default: hook, grups: {} } })).toMatch(/CHAT_WEBHOOKS feishu Unrecognized key: "grups"/);
    expect(error({ feishu: { default: hook, secret: '' } })).toMatch(/CHAT_WEBHOOKS feishu secret must not be empty/);
    expect(error({ lark: { default: hook } })).toMatch(/CHAT_WEBHOOKS .*Unrecognized key: "lark"/);
    expect(error('{nope')).toMatch(/CHAT_WEBHOOKS is not valid JSON/);
    // WeCom and Slack robots cannot sign: a secret there would be ignored, so it is refused.
    expect(error({ wecom: { default: hook, secret: 'x' } })).toMatch(/CHAT_WEBHOOKS wecom Unrecognized key: "secret"/);
  });

  it('reads the proxy trust and the per-address limits', () => {
    const d = loadConfig({});
    expect(d.trustProxy).toBe(false);
    expect(d.addressLimits).toEqual({ unauthenticatedPerMinute: 60, publicPerMinute: 3000, maxAddresses: 100_000 });
    expect(loadConfig({ TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8,192.168.0.0/255.255.0.0, fd00::/8' }).trustProxy).toEqual(['loopback', '10.0.0.0/8', '192.168.0.0/255.255.0.0', 'fd00::/8']);
    expect(loadConfig({ RATE_LIMIT_PUBLIC_PER_MINUTE: '12000' }).addressLimits.publicPerMinute).toBe(12000);
    expect(() => loadConfig({ TRUST_PROXY: '10.0.0.0/33' })).toThrow(/TRUST_PROXY has "10.0.0.0\/33", which is not/);
    expect(() => loadConfig({ TRUST_PROXY: 'proxy.internal' })).toThrow(/TRUST_PROXY has "proxy.internal"/);
    expect(() => loadConfig({ RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: '0' })).toThrow(/RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE/);
  });

  it('reads the console session lifetime in minutes, bounded', () => {
    expect(loadConfig({}).consoleSessionMs).toBe(8 * 3600_000);
    expect(loadConfig({ CONSOLE_SESSION_MINUTES: '60' }).consoleSessionMs).toBe(3600_000);
    expect(() => loadConfig({ CONSOLE_SESSION_MINUTES: '2' })).toThrow(/CONSOLE_SESSION_MINUTES/);
    expect(() => loadConfig({ CONSOLE_SESSION_MINUTES: '20000' })).toThrow(/CONSOLE_SESSION_MINUTES/);
    expect(() => loadConfig({ CONSOLE_SESSION_MINUTES: 'eight hours' })).toThrow(/CONSOLE_SESSION_MINUTES/);
  });

  it('reads the bounce intake: relay, soft-bounce policy, report limit and each provider, checked', () => {
    const d = loadConfig({}).deliverability;
    expect(d).toMatchObject({ relay: 'smtp', softBounceLimit: 3, softBounceWindowMs: 7 * 86_400_000, reportMaxBytes: 1024 * 1024, sesTopicArns: [], mailgunSigningKey: undefined, sendgridPublicKey: undefined, postmark: undefined });
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    const c = loadConfig({
      MAIL_RELAY: 'sendgrid', BOUNCE_SOFT_LIMIT: '5', BOUNCE_SOFT_WINDOW_DAYS: '14', SES_SNS_TOPIC_ARNS: 'arn:aws:sns:cn-north-1:123456789012:ses, arn:aws:sns:us-east-1:123456789012:b',
      SENDGRID_WEBHOOK_PUBLIC_KEY: ec, POSTMARK_WEBHOOK_USER: 'pm', POSTMARK_WEBHOOK_PASSWORD: 'a-long-enough-password',
    }).deliverability;
    expect(c).toMatchObject({ relay: 'sendgrid', softBounceLimit: 5, softBounceWindowMs: 14 * 86_400_000, sesTopicArns: ['arn:aws:sns:cn-north-1:123456789012:ses', 'arn:aws:sns:us-east-1:123456789012:b'], postmark: { user: 'pm', password: 'a-long-enough-password' } });
    expect(c.sendgridPublicKey?.asymmetricKeyType).toBe('ec');
    expect(() => loadConfig({ SENDGRID_WEBHOOK_PUBLIC_KEY: 'bm90IGEga2V5' })).toThrow(/SENDGRID_WEBHOOK_PUBLIC_KEY is not an ECDSA public key/);
    expect(() => loadConfig({ SES_SNS_TOPIC_ARNS: 'my-topic' })).toThrow(/SES_SNS_TOPIC_ARNS/);
    expect(() => loadConfig({ POSTMARK_WEBHOOK_USER: 'pm' })).toThrow(/POSTMARK_WEBHOOK_PASSWORD and POSTMARK_WEBHOOK_USER are set together/);
    expect(() => loadConfig({ MAIL_RELAY: 'sparkpost' })).toThrow(/MAIL_RELAY/);
    // The SMTP bounce mailbox: off unless a port is given; it listens on HOST unless BOUNCE_SMTP_HOST says otherwise.
    expect(d.bounceSmtp).toBeUndefined();
    expect(loadConfig({ BOUNCE_SMTP_PORT: '2525' }).deliverability.bounceSmtp).toEqual({ host: '127.0.0.1', port: 2525 });
    expect(loadConfig({ BOUNCE_SMTP_PORT: '25', BOUNCE_SMTP_HOST: '0.0.0.0' }).deliverability.bounceSmtp).toEqual({ host: '0.0.0.0', port: 25 });
    expect(() => loadConfig({ BOUNCE_SMTP_PORT: '70000' })).toThrow(/BOUNCE_SMTP_PORT/);
    // VERP return paths: off by default; a domain name, lower-cased; anything else stops start-up with a sentence.
    expect(d.verpDomain).toBeUndefined();
    expect(loadConfig({ BOUNCE_VERP_DOMAIN: 'Bounces.Example.CN' }).deliverability.verpDomain).toBe('bounces.example.cn');
    for (const bad of ['bounces@example.com', 'localhost', 'https://bounces.example.com', 'bad_domain.example']) {
      expect(() => loadConfig({ BOUNCE_VERP_DOMAIN: bad })).toThrow(/BOUNCE_VERP_DOMAIN (is ".*": )?must be a domain name such as bounces\.example\.com/);
    }
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', TEMPORAL_ADDRESS: ' ' }).databaseUrl).toBeUndefined();
  });

  it('stops with a sentence naming each bad variable and never echoing secrets', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'abc', TEMPORAL_ADDRESS: 'no-port', DATABASE_URL: 'mysql://root:hunter2@x/db', SIGNING_SECRET: 'short' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/PORT is "abc"/);
    expect(message).toMatch(/TEMPORAL_ADDRESS is "no-port": must be host:port/);
    expect(message).toMatch(/DATABASE_URL is \(hidden\): must start with postgres:\/\//);
    expect(message).toMatch(/SIGNING_SECRET .*at least 32 characters/);
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('short"');
  });

  describe('DKIM keys', () => {
    const good = pem('rsa');
    const message = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('loadConfig accepted the configuration');
    };

    it('has none by default, and reads one from the environment or a file and several from DKIM_KEYS', () => {
      expect(loadConfig({}).dkim).toEqual([]);
      const one = loadConfig({ DKIM_DOMAIN: 'Mail.Example.cn', DKIM_SELECTOR: 's1', DKIM_PRIVATE_KEY: good.replace(/\n/g, '\\n') }).dkim;
      expect(one).toEqual([{ domainName: 'mail.example.cn', keySelector: 's1', privateKey: good }]);
      const dir = mkdtempSync(join(tmpdir(), 'itinera-dkim-config-'));
      writeFileSync(join(dir, 'a.pem'), good);
      const several = loadConfig({
        DKIM_DOMAIN: 'a.example', DKIM_SELECTOR: 'sa', DKIM_PRIVATE_KEY_FILE: join(dir, 'a.pem'),
        DKIM_KEYS: JSON.stringify([{ domain: 'b.example', selector: 'sb', privateKeyFile: join(dir, 'a.pem') }, { domain: 'c.example', selector: 'sc', privateKey: good }]),
      }).dkim;
      expect(several.map((k) => [k.domainName, k.keySelector])).toEqual([['a.example', 'sa'], ['b.example', 'sb'], ['c.example', 'sc']]);
    });

    it('stops start-up with a sentence naming the setting when a key cannot sign, never showing the key', () => {
      const base = { DKIM_DOMAIN: 'example.cn', DKIM_SELECTOR: 's1' };
      const notPem = message({ ...base, DKIM_PRIVATE_KEY: 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC' });
      expect(notPem).toMatch(/DKIM_PRIVATE_KEY is not a readable PEM private key/);
      expect(notPem).not.toContain('MIIEvQIBADANBgkqhkiG9w0BAQEFAASC');
      const truncated = message({ ...base, DKIM_PRIVATE_KEY: good.slice(0, 400) });
      expect(truncated).toMatch(/DKIM_PRIVATE_KEY is not a readable PEM private key/);
      expect(truncated).not.toContain(good.slice(40, 100));
      expect(message({ ...base, DKIM_PRIVATE_KEY: pem('ed25519') })).toMatch(/DKIM_PRIVATE_KEY is a ed25519 key: DKIM signing here needs an RSA key/);
      expect(message({ ...base, DKIM_PRIVATE_KEY: pem('rsa', 512) })).toMatch(/DKIM_PRIVATE_KEY is a 512-bit RSA key/);
      expect(message({ ...base, DKIM_PRIVATE_KEY_FILE: '/nonexistent/dkim.pem' })).toMatch(/DKIM_PRIVATE_KEY_FILE "\/nonexistent\/dkim.pem" cannot be read \(ENOENT\)/);
      const bad = message({ DKIM_KEYS: JSON.stringify([{ domain: 'ok.example', selector: 's', privateKey: good }, { domain: 'x.example', selector: 's', privateKey: 'nope' }]) });
      expect(bad).toMatch(/DKIM_KEYS entry 2 \(x\.example\) privateKey is not a readable PEM private key/);
      expect(bad).not.toContain(good.slice(40, 100));
    });

    it('names the variable of every incomplete or malformed setting', () => {
      expect(message({ DKIM_DOMAIN: 'example.cn', DKIM_PRIVATE_KEY: good })).toMatch(/DKIM_SELECTOR is required when any DKIM_\* key setting is set/);
      expect(message({ DKIM_SELECTOR: 's1', DKIM_PRIVATE_KEY: good })).toMatch(/DKIM_DOMAIN is required/);
      expect(message({ DKIM_DOMAIN: 'example.cn', DKIM_SELECTOR: 's1' })).toMatch(/DKIM_PRIVATE_KEY or DKIM_PRIVATE_KEY_FILE \(exactly one of them\) is required/);
      expect(message({ DKIM_DOMAIN: 'example.cn', DKIM_SELECTOR: 's_1', DKIM_PRIVATE_KEY: good })).toMatch(/DKIM_SELECTOR is "s_1": must be a DNS label/);
      expect(message({ DKIM_KEYS: '[{' })).toMatch(/DKIM_KEYS is not valid JSON/);
      expect(message({ DKIM_KEYS: JSON.stringify([{ domain: 'a.example', selector: 'bad selector', privateKey: good }]) })).toMatch(/DKIM_KEYS entry 1 selector must be a DNS label/);
      expect(message({ DKIM_KEYS: JSON.stringify([{ domain: 'a.example', selector: 's' }]) })).toMatch(/DKIM_KEYS entry 1 needs exactly one of privateKey and privateKeyFile/);
      expect(message({ DKIM_KEYS: JSON.stringify([{ domain: 'a.example', selector: 's', privateKey: good, extra: 1 }]) })).toMatch(/DKIM_KEYS entry 1 .*extra/);
      expect(message({ DKIM_DOMAIN: 'a.example', DKIM_SELECTOR: 's', DKIM_PRIVATE_KEY: good, DKIM_KEYS: JSON.stringify([{ domain: 'A.example', selector: 't', privateKey: good }]) }))
        .toMatch(/DKIM_KEYS entry 1 \(a\.example\) privateKey is a second DKIM key for a\.example/);
    });
  });
});
