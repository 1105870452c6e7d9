/**
 * Server-side request forgery through outbound HTTP (issue 14): every address form that leads inside is refused at
 * run time by the one guarded client, after DNS resolution and without a second resolution at connect time; what
 * OUTBOUND_ALLOW lists gets through; the compiler flags literal private webhook hosts; and a receiver's response text
 * reaches ops, not marketers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { validateCommand } from '../../src/cli/journey-commands';
import { sendChatMessage, ChatPermanentError } from '../../src/channels/chat';
import { withoutOpsDetail } from '../../src/channels/errors';
import { createTwilioSmsSender, SmsPermanentError } from '../../src/channels/sms';
import { deliverWebhook, WebhookPermanentError } from '../../src/channels/webhooks';
import { ConfigError, loadConfig } from '../../src/config';
import { compileJourney } from '../../src/journey/compiler';
import { blockedReason, parseIp, parseOutboundAllow } from '../../src/net/addresses';
import { createOutboundHttp, OutboundRefusedError, type OutboundLookup } from '../../src/net/outbound';
import { startHttp, type TestHttp } from '../channels/support/http';
import { startTestStack, type TestStack } from '../helpers/stack';
import { handoffActivities } from '../../src/activities/handoff';
import type { ActivityDeps } from '../../src/activities/deps';
import { buildApp } from '../../src/api/app';
import { createApiKey, type Role } from '../../src/api/auth';
import { upsertContactByExternalId } from '../../src/db/queries';
import { dbTriggerSource, publishJourney } from '../../src/publishing/journeys';
import { parseSalesConfig } from '../../src/sales';
import { createTestDatabase } from '../helpers/db';
import { localOutbound } from '../helpers/outbound';
import { connectTestTemporal, type TestTemporal } from '../helpers/temporal';
import { scaled } from '../helpers/timing';
import { until } from '../helpers/until';

const allow = (list: string) => {
  const { allow: a, errors } = parseOutboundAllow(list);
  expect(errors).toEqual([]);
  return a;
};

/** A receiver on every loopback address it can get: 127.0.0.1 and, where the machine has IPv6, ::1. */
async function loopbackReceiver(): Promise<{ port: number; hits: string[]; v6: boolean; close(): Promise<void> }> {
  const hits: string[] = [];
  const handler = (req: { url?: string; headers: { host?: string } }, res: { end(s: string): void }) => {
    hits.push(`${req.headers.host ?? ''}${req.url ?? ''}`);
    res.end('inside');
  };
  const v4 = createServer(handler);
  await new Promise<void>((r) => v4.listen(0, '127.0.0.1', r));
  const port = (v4.address() as AddressInfo).port;
  const v6: Server | undefined = await new Promise((resolve) => {
    const s = createServer(handler);
    s.once('error', () => resolve(undefined));
    s.listen(port, '::1', () => resolve(s));
  });
  const close = (s: Server) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())));
  return { port, hits, v6: v6 !== undefined, close: async () => void (await Promise.all([close(v4), ...(v6 ? [close(v6)] : [])])) };
}

/** Every way of writing an address inside, as a URL host, with the receiver's port where one listens. */
const LITERAL_FORMS = (port: number): Array<[string, string]> => [
  ['IPv4 loopback', `http://127.0.0.1:${port}/x`],
  ['IPv4 loopback, short form', `http://127.1:${port}/x`],
  ['IPv4 loopback, hex integer', `http://0x7f000001:${port}/x`],
  ['IPv4 loopback, decimal integer', `http://2130706433:${port}/x`],
  ['IPv4 loopback, octal', `http://0177.0.0.1:${port}/x`],
  ['IPv4 loopback, other address of 127/8', `http://127.0.0.2:${port}/x`],
  ['IPv6 loopback', `http://[::1]:${port}/x`],
  ['IPv4-mapped IPv6, dotted', `http://[::ffff:127.0.0.1]:${port}/x`],
  ['IPv4-mapped IPv6, hex', `http://[::ffff:7f00:1]:${port}/x`],
  ['IPv4-compatible IPv6', `http://[::127.0.0.1]:${port}/x`],
  ['NAT64 of loopback', `http://[64:ff9b::7f00:1]:${port}/x`],
  ['NAT64 of metadata', 'http://[64:ff9b::169.254.169.254]/latest/meta-data/'],
  ['6to4 of a private address', 'http://[2002:c0a8:0101::1]/'],
  ['Teredo', 'http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/'],
  ['unspecified IPv4 (0.0.0.0/8)', `http://0.0.0.0:${port}/x`],
  ['unspecified IPv6', `http://[::]:${port}/x`],
  ['cloud metadata', 'http://169.254.169.254/latest/meta-data/iam/security-credentials/'],
  ['cloud metadata, decimal', 'http://2852039166/latest/meta-data/'],
  ['Alibaba metadata (CGNAT range)', 'http://100.100.100.200/latest/meta-data/'],
  ['Azure platform address', 'http://168.63.129.16/metadata/instance'],
  ['AWS IPv6 metadata (unique-local)', 'http://[fd00:ec2::254]/latest/meta-data/'],
  ['private 10/8', 'http://10.0.0.1/'],
  ['private 172.16/12', 'http://172.31.255.255/'],
  ['private 192.168/16', 'http://192.168.1.1/'],
  ['CGNAT 100.64/10', 'http://100.64.0.1/'],
  ['IPv4 link-local', 'http://169.254.1.1/'],
  ['IPv4 multicast', 'http://224.0.0.1/'],
  ['broadcast', 'http://255.255.255.255/'],
  ['reserved 240/4', 'http://240.0.0.1/'],
  ['IPv6 unique-local', 'http://[fc00::1]/'],
  ['IPv6 link-local', 'http://[fe80::1]/'],
  ['IPv6 multicast', 'http://[ff02::1]/'],
  ['localhost', `http://localhost:${port}/x`],
  ['localhost on the Postgres port', 'http://localhost:5432/'],
  ['a subdomain of localhost', `http://db.localhost:${port}/x`],
];

describe('the guarded client refuses every address form that leads inside', () => {
  let rx: Awaited<ReturnType<typeof loopbackReceiver>>;
  const lookups: string[] = [];
  // Literal hosts never reach DNS; a name that does is answered from here, never from the network.
  const lookup: OutboundLookup = async (host) => {
    lookups.push(host);
    return [{ address: '127.0.0.1', family: 4 }];
  };
  const strict = createOutboundHttp({ lookup });

  beforeAll(async () => {
    rx = await loopbackReceiver();
  });
  afterAll(async () => {
    await rx?.close();
  });

  it.each(LITERAL_FORMS(0).map(([name]) => [name]))('%s', async (name) => {
    const url = LITERAL_FORMS(rx.port).find(([n]) => n === name)![1];
    const err = await strict.request(url, { method: 'POST', body: '{}', timeoutMs: scaled(2000) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboundRefusedError);
    const refused = err as OutboundRefusedError;
    // Names the host and why, never the URL (its path or query may carry a key).
    expect(refused.message).toContain(new URL(url).hostname);
    expect(refused.message).toMatch(/loopback|private|link-local|metadata|multicast|reserved|unspecified|this network|CGNAT|unique-local|Teredo|Azure/);
    expect(refused.message).not.toContain('/x');
    expect(lookups).toEqual([]);
    expect(rx.hits).toEqual([]);
  });

  it('refuses a name that resolves inside, and a name with one inside answer among public ones', async () => {
    const dns: Record<string, string[]> = {
      'internal.example.com': ['10.1.2.3'],
      'mixed.example.com': ['93.184.215.14', '127.0.0.1'],
      'mapped.example.com': ['::ffff:169.254.169.254'],
    };
    const client = createOutboundHttp({ lookup: async (h) => (dns[h] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 })) });
    for (const [host, answers] of Object.entries(dns)) {
      const err = await client.request(`http://${host}:${rx.port}/x`, { timeoutMs: scaled(2000) }).catch((e: unknown) => e);
      expect(err, host).toBeInstanceOf(OutboundRefusedError);
      const message = (err as Error).message;
      expect(message).toContain(`${host}: it resolves to a non-public address`);
      // What the name resolved to is ops-only detail, cut for everyone else.
      expect(message).toContain(` · resolved: ${answers.at(-1) === '::ffff:169.254.169.254' ? '::ffff:a9fe:a9fe' : answers.at(-1)}`);
      expect(withoutOpsDetail(message)).not.toMatch(/10\.1\.2\.3|127\.0\.0\.1|a9fe/);
    }
    expect(rx.hits).toEqual([]);
  });

  it('a rebinding DNS (public first, then loopback) cannot switch the connection to the loopback receiver', async () => {
    let calls = 0;
    const rebinding: OutboundLookup = async () => (++calls === 1 ? [{ address: '93.184.215.14', family: 4 }] : [{ address: '127.0.0.1', family: 4 }]);
    const client = createOutboundHttp({ lookup: rebinding });
    // The public address is unreachable from here (or answers slowly): whatever the outcome, it is not a refusal and
    // it is not the loopback receiver.
    const err = await client.request(`http://rebind.example.com:${rx.port}/x`, { timeoutMs: scaled(1500) }).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(OutboundRefusedError);
    expect(calls).toBe(1);
    expect(rx.hits).toEqual([]);
    // Asked again, the DNS now answers loopback: the check sees it and refuses.
    await expect(client.request(`http://rebind.example.com:${rx.port}/x`, { timeoutMs: scaled(1500) })).rejects.toBeInstanceOf(OutboundRefusedError);
    expect(rx.hits).toEqual([]);
  });

  it('the system resolver path: localhost is refused before any lookup, whatever /etc/hosts says', async () => {
    const client = createOutboundHttp();
    await expect(client.request(`http://LOCALHOST.:${rx.port}/x`, { timeoutMs: scaled(2000) })).rejects.toBeInstanceOf(OutboundRefusedError);
    expect(rx.hits).toEqual([]);
  });

  it('refuses non-http(s) schemes', async () => {
    await expect(strict.request('file:///etc/passwd', { timeoutMs: 1000 })).rejects.toBeInstanceOf(OutboundRefusedError);
  });

  it('classifies public addresses as reachable (the refusal is not blanket)', () => {
    for (const a of ['8.8.8.8', '93.184.215.14', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1']) {
      expect(blockedReason(parseIp(a)!), a).toBeUndefined();
    }
  });
});

describe('what OUTBOUND_ALLOW lists gets through', () => {
  let rx: Awaited<ReturnType<typeof loopbackReceiver>>;
  beforeAll(async () => {
    rx = await loopbackReceiver();
  });
  afterAll(async () => {
    await rx?.close();
  });

  it.each([
    ['an address', '127.0.0.1', (p: number) => `http://127.0.0.1:${p}/a`],
    ['a range', '127.0.0.0/8', (p: number) => `http://0x7f000001:${p}/b`],
    ['a range, octal form', '127.0.0.0/8', (p: number) => `http://0177.0.0.1:${p}/c`],
    ['a range, decimal form', '127.0.0.1/32', (p: number) => `http://2130706433:${p}/d`],
  ])('%s (%s) lets the request reach the receiver', async (_n, list, url) => {
    const client = createOutboundHttp({ allow: allow(list) });
    const before = rx.hits.length;
    const res = await client.request(url(rx.port), { method: 'POST', body: 'hi', timeoutMs: scaled(5000) });
    expect(res).toMatchObject({ status: 200, body: 'inside', truncated: false });
    expect(rx.hits.length).toBe(before + 1);
  });

  it('IPv6 loopback when ::1 is listed', async () => {
    const client = createOutboundHttp({ allow: allow('::1') });
    const res = await client.request(`http://[::1]:${rx.port}/v6`, { timeoutMs: scaled(5000) }).catch((e: unknown) => e);
    // Machines without IPv6 loopback cannot connect; the check must still let the request through.
    if (rx.v6) expect(res).toMatchObject({ status: 200 });
    else expect(res).not.toBeInstanceOf(OutboundRefusedError);
    // A listed address does not open the rest of its kind.
    await expect(client.request(`http://127.0.0.1:${rx.port}/v6`, { timeoutMs: 1000 })).rejects.toBeInstanceOf(OutboundRefusedError);
  });

  it('a host name, resolved once and pinned (the Host header keeps the name)', async () => {
    let calls = 0;
    const client = createOutboundHttp({ allow: allow('crm.internal, localhost'), lookup: async () => (calls++, [{ address: '127.0.0.1', family: 4 }]) });
    const before = rx.hits.length;
    expect((await client.request(`http://crm.internal:${rx.port}/n`, { timeoutMs: scaled(5000) })).status).toBe(200);
    expect((await client.request(`http://localhost:${rx.port}/l`, { timeoutMs: scaled(5000) })).status).toBe(200);
    expect(rx.hits.slice(before)).toEqual([`crm.internal:${rx.port}/n`, `localhost:${rx.port}/l`]);
    expect(calls).toBe(2);
    // The name is listed, not what else resolves to the same address.
    await expect(client.request(`http://other.internal:${rx.port}/n`, { timeoutMs: 1000 })).rejects.toBeInstanceOf(OutboundRefusedError);
  });

  it('an allowed mapped address counts as its IPv4 address', async () => {
    // Refused without a list; with 127.0.0.1 listed, the check lets it pass (whether the socket connects depends on
    // the machine's dual-stack setting, so only the absence of a refusal is asserted).
    const client = createOutboundHttp({ allow: allow('127.0.0.1') });
    const err = await client.request(`http://[::ffff:127.0.0.1]:${rx.port}/m`, { timeoutMs: scaled(2000) }).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(OutboundRefusedError);
  });

  it('never follows a redirect, and caps the body it reads', async () => {
    const inner = await startHttp((_req, res) => res.end('should not be reached'));
    const outer = await startHttp((req, res) => {
      if (req.url === '/big') return res.end('x'.repeat(10_000));
      res.writeHead(302, { location: `${inner.url}/secret` });
      res.end();
    });
    try {
      const client = createOutboundHttp({ allow: allow('127.0.0.1'), maxResponseBytes: 1000 });
      expect((await client.request(`${outer.url}/go`, { timeoutMs: scaled(5000) })).status).toBe(302);
      expect(inner.requests).toEqual([]);
      const big = await client.request(`${outer.url}/big`, { timeoutMs: scaled(5000) });
      expect(big.body.length).toBe(1000);
      expect(big.truncated).toBe(true);
    } finally {
      await inner.close();
      await outer.close();
    }
  });
});

describe('every channel goes through the guard, and a refusal is permanent', () => {
  let rx: Awaited<ReturnType<typeof loopbackReceiver>>;
  beforeAll(async () => {
    rx = await loopbackReceiver();
  });
  afterAll(async () => {
    await rx?.close();
  });

  it('webhook, chat robot and Twilio without a client of their own refuse loopback as permanent failures', async () => {
    const url = `http://127.0.0.1:${rx.port}`;
    const hook = await deliverWebhook({ url: `${url}/hook`, body: {}, id: 'ssrf-1', timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(hook).toBeInstanceOf(WebhookPermanentError);
    expect((hook as Error).message).toMatch(/^webhook: refused to connect to 127\.0\.0\.1: it is loopback/);
    const chat = await sendChatMessage({ provider: 'wecom', url: `${url}/cgi-bin/webhook/send?key=robot-key`, message: { text: 'x' } }).catch((e: unknown) => e);
    expect(chat).toBeInstanceOf(ChatPermanentError);
    expect((chat as Error).message).not.toContain('robot-key');
    const sms = await createTwilioSmsSender({ baseUrl: url, accountSid: 'AC1', authToken: 't', from: '+1' })
      .send({ to: '+15005550006', body: 'x', idempotencyKey: 'k' })
      .catch((e: unknown) => e);
    expect(sms).toBeInstanceOf(SmsPermanentError);
    expect(rx.hits).toEqual([]);
  });
});

describe('settings', () => {
  it('OUTBOUND_ALLOW names each entry it cannot read', () => {
    expect(() => loadConfig({ OUTBOUND_ALLOW: '10.0.0.0/8, 10.0.0.0/33, not a host' })).toThrow(ConfigError);
    try {
      loadConfig({ OUTBOUND_ALLOW: '10.0.0.0/8, 10.0.0.0/33, not a host' });
    } catch (err) {
      expect((err as Error).message).toContain('OUTBOUND_ALLOW entry "10.0.0.0/33" has a prefix length that is not 0-32');
      expect((err as Error).message).toContain('OUTBOUND_ALLOW entry "not a host" is neither');
    }
    expect(loadConfig({ OUTBOUND_ALLOW: '10.0.0.0/8,crm.internal' }).outboundAllow.hosts).toEqual(['crm.internal']);
  });

  it('a CRM, robot or SMS URL on a private literal host stops start-up unless OUTBOUND_ALLOW lists it', () => {
    const crm = { CRM_WEBHOOK_URL: 'http://10.0.0.5/hooks', CRM_WEBHOOK_SECRETS: 'whsec_' + Buffer.from('k'.repeat(32)).toString('base64') };
    expect(() => loadConfig(crm)).toThrow(/CRM_WEBHOOK_URL points at 10\.0\.0\.5 is private/);
    expect(loadConfig({ ...crm, OUTBOUND_ALLOW: '10.0.0.0/8' }).crmWebhook.url).toBe('http://10.0.0.5/hooks');
    const robot = JSON.stringify({ wecom: { default: 'http://169.254.169.254/send?key=secret-key' } });
    let message = '';
    try {
      loadConfig({ CHAT_WEBHOOKS: robot });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/CHAT_WEBHOOKS points at 169\.254\.169\.254/);
    expect(message).not.toContain('secret-key');
    expect(() => loadConfig({ SMS_PROVIDER: 'twilio', TWILIO_BASE_URL: 'http://localhost:8080', TWILIO_ACCOUNT_SID: 'AC', TWILIO_AUTH_TOKEN: 't', SMS_FROM: '+1' })).toThrow(/TWILIO_BASE_URL points at localhost/);
  });
});

describe('the compiler flags literal private webhook hosts', () => {
  const journey = (url: string) => ({
    id: 'hooky',
    name: 'Hooky',
    triggers: [{ type: 'event', event: 'x.y' }],
    steps: { call: { type: 'webhook', url, next: 'done' }, done: { type: 'exit' } },
  });
  const errorsOf = (url: string, list = '') => {
    const r = compileJourney(journey(url), { outboundAllow: allow(list) });
    return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
  };

  it.each([
    'http://127.0.0.1:5555/hook',
    'http://localhost:5432/',
    'http://[::1]/x',
    'http://0x7f000001/x',
    'http://[::ffff:127.0.0.1]/x',
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.1/{{contact.id}}',
    'https://192.168.0.10/crm?id={{contact.id}}',
  ])('%s is an error at steps.call.url', (url) => {
    const errors = errorsOf(url);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^steps\.call\.url: points at .+ is (loopback|a loopback name|link-local|private|IPv4-mapped)/);
    expect(errors[0]).toContain('OUTBOUND_ALLOW');
  });

  it('itinera validate judges webhook hosts with the OUTBOUND_ALLOW of its environment', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'itinera-ssrf-')), 'hook.yaml');
    writeFileSync(file, JSON.stringify(journey('http://10.0.0.5/hook')));
    const run = async (list: string) => {
      vi.stubEnv('OUTBOUND_ALLOW', list);
      const err: string[] = [];
      const code = await validateCommand([file], {}, { out: () => undefined, err: (l) => err.push(l) });
      return { code, err: err.join('\n') };
    };
    try {
      expect(await run('')).toMatchObject({ code: 1, err: expect.stringContaining('steps.call.url: points at 10.0.0.5 is private') });
      expect(await run('10.0.0.0/8')).toEqual({ code: 0, err: '' });
      expect(await run('10.0.0.0/99')).toMatchObject({ code: 1, err: expect.stringContaining('OUTBOUND_ALLOW: "10.0.0.0/99" has a prefix length') });
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('a public host, a templated host, and a listed host pass', () => {
    expect(errorsOf('https://crm.example.com/hook')).toEqual([]);
    expect(errorsOf('https://{{event.host}}/hook')).toEqual([]);
    expect(errorsOf('http://10.0.0.5/hook', '10.0.0.0/8')).toEqual([]);
    expect(errorsOf('http://localhost:8080/hook', 'localhost')).toEqual([]);
  });
});

/**
 * End to end through a real worker running a published journey. The worker's OUTBOUND_ALLOW lists 127.0.0.2 only
 * (Linux answers on all of 127/8): the receiver on 127.0.0.1 must never be reached, the one on 127.0.0.2 is.
 */
describe('a published journey against the real worker', () => {
  let stack: TestStack;
  let inside: TestHttp;
  let listed: Server;
  let listedPort = 0;
  let listedHits = 0;
  let n = 0;

  beforeAll(async () => {
    inside = await startHttp((_req, res) => res.end('inside'));
    listed = createServer((_req, res) => {
      listedHits++;
      res.writeHead(422, { 'content-type': 'text/plain' });
      res.end('receiver says: token=SECRET-abc123 is not valid here');
    });
    await new Promise<void>((r) => listed.listen(0, '127.0.0.2', r));
    listedPort = (listed.address() as AddressInfo).port;
    stack = await startTestStack({ outboundAllow: allow('127.0.0.2') });
  }, scaled(120_000));
  afterAll(async () => {
    await stack?.stop();
    await inside?.close();
    await new Promise<void>((r) => (listed.closeAllConnections(), listed.close(() => r())));
  });

  const as = (role: 'marketer' | 'integration' | 'ops' | 'admin') => (r: request.Test) => r.set('Authorization', `Bearer ${stack.keys[role]}`);
  const hookYaml = (id: string, event: string, url: string) => `
id: ${id}
name: ${id}
triggers: [{ type: event, event: ${event} }]
start: call
steps:
  call:
    type: webhook
    url: "${url}"
    headers: { authorization: "Bearer internal-admin" }
    body: { id: "{{contact.id}}" }
    timeout: 5s
    retries: 3
    next: done
  done: { type: exit }
`;
  const post = async (type: string, properties: Record<string, unknown> = {}): Promise<string> => {
    const res = await as('integration')(request(stack.app).post('/v1/events'))
      .send({ id: `ssrf-${++n}`, type, contact: { externalId: `ssrf-c${n}` }, properties })
      .expect(202);
    expect(res.body.accepted[0].runs).toHaveLength(1);
    return res.body.accepted[0].runs[0] as string;
  };
  const messageOf = (workflowId: string, key: 'marketer' | 'ops') =>
    until(`the webhook message of ${workflowId}`, async () => {
      const res = await as(key)(request(stack.app).get(`/v1/messages?workflowId=${encodeURIComponent(workflowId)}`)).expect(200);
      const m = res.body.items.find((x: { channel: string; status: string }) => x.channel === 'webhook' && x.status === 'failed');
      return m as { error: string; status: string } | undefined;
    }, 60_000);

  it('a marketer cannot validate or publish a webhook to a literal loopback host', async () => {
    const yaml = hookYaml('ssrf-literal', 'ssrf.literal', `http://127.0.0.1:${new URL(inside.url).port}/hook`);
    const created = await as('marketer')(request(stack.app).post('/v1/journeys')).set('content-type', 'application/yaml').send(yaml).expect(201);
    const expected = expect.arrayContaining([expect.objectContaining({ path: 'steps.call.url', message: expect.stringContaining('127.0.0.1 is loopback') })]);
    expect(created.body.validation.valid).toBe(false);
    expect(created.body.validation.errors).toEqual(expected);
    const published = await as('marketer')(request(stack.app).post('/v1/journeys/ssrf-literal/publish')).expect(422);
    expect(published.body.errors).toEqual(expected);
  });

  it('a host only known at run time (templated) is refused by the worker: the run records it and nothing reaches 127.0.0.1', async () => {
    const port = new URL(inside.url).port;
    await publishJourney(stack.db.db, hookYaml('ssrf-runtime', 'ssrf.runtime', `http://{{event.host}}:${port}/hook`), {});
    for (const host of ['127.0.0.1', '0x7f000001', 'localhost']) {
      const run = await post('ssrf.runtime', { host });
      const m = await messageOf(run, 'ops');
      expect(m.error).toMatch(/^webhook: refused to connect to (127\.0\.0\.1|localhost)/);
    }
    expect(inside.requests).toEqual([]);
  });

  it('a listed address is reached; its response text is shown to ops and cut for marketers', async () => {
    await publishJourney(stack.db.db, hookYaml('ssrf-listed', 'ssrf.listed', `http://127.0.0.2:${listedPort}/hook`), { outboundAllow: allow('127.0.0.2') });
    const run = await post('ssrf.listed');
    const forOps = await messageOf(run, 'ops');
    expect(forOps.error).toBe('webhook: HTTP 422 · response: receiver says: token=SECRET-abc123 is not valid here');
    const forMarketer = await messageOf(run, 'marketer');
    expect(forMarketer.error).toBe('webhook: HTTP 422');
    expect(listedHits).toBe(1);
    // The run view with its step errors is for ops only.
    await as('marketer')(request(stack.app).get(`/v1/runs/${encodeURIComponent(run)}`)).expect(403);
    await as('integration')(request(stack.app).get(`/v1/runs/${encodeURIComponent(run)}`)).expect(403);
  });
});

describe("the CRM's response text on a hand-off", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let temporal: TestTemporal;
  let crm: TestHttp;
  let app: ReturnType<typeof buildApp>;
  const keys = {} as Record<Role, string>;

  beforeAll(async () => {
    [db, temporal, crm] = await Promise.all([
      createTestDatabase(),
      connectTestTemporal(),
      startHttp((_req, res) => {
        res.writeHead(422, { 'content-type': 'text/plain' });
        res.end('lead rejected: internal id 7731 owned by vp-sales@corp');
      }),
    ]);
    app = buildApp({ database: db, temporal: temporal.client, taskQueue: temporal.taskQueue, triggers: dbTriggerSource(db.db), signingSecrets: ['s'.repeat(32)] });
    for (const role of ['marketer', 'integration', 'ops', 'admin'] as const) keys[role] = (await createApiKey(db.db, { name: `ssrf-${role}`, role })).key;
  });
  afterAll(async () => {
    await crm?.close();
    await temporal?.close();
    await db?.drop();
  });

  it('is shown to ops and admin, and cut for the integration key', async () => {
    const sales = {
      directory: parseSalesConfig('teams:\n  east:\n    name: East\n    reps:\n      - { id: rep.a, name: A, capacity: 100 }\n', 'sales.yaml'),
      crmWebhook: { url: `${crm.url}/hooks`, secrets: ['whsec_' + Buffer.from('k'.repeat(32)).toString('base64')] },
    };
    const acts = handoffActivities({ db: db.db, sales, outbound: localOutbound, tracking: { baseUrl: 'http://x' } } as unknown as ActivityDeps);
    const c = await upsertContactByExternalId(db.db, { externalId: 'crm-body', email: 'crm-body@example.com', lifecycleStage: 'mql' });
    const r = await acts.handoffToSales({ idempotencyKey: `journey:h:${c.id}:assign:1`, contactId: c.id, journeyId: 'h', workflowId: `journey:h:${c.id}`, team: 'east' });
    expect(r.crm).toBe('failed');
    const get = (path: string, role: Role) => request(app).get(path).set('Authorization', `Bearer ${keys[role]}`).expect(200);
    for (const role of ['ops', 'admin'] as const) {
      expect((await get(`/v1/handoffs/${r.handoffId}`, role)).body.crm.error).toBe('webhook: HTTP 422 · response: lead rejected: internal id 7731 owned by vp-sales@corp');
    }
    expect((await get(`/v1/handoffs/${r.handoffId}`, 'integration')).body.crm).toMatchObject({ status: 'failed', error: 'webhook: HTTP 422' });
    const listed = (await get(`/v1/handoffs?contactId=${c.id}`, 'integration')).body.items;
    expect(listed.map((h: { crm: { error: string } }) => h.crm.error)).toEqual(['webhook: HTTP 422']);
  });
});
