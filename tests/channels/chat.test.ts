import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ChatPermanentError,
  ChatTransientError,
  dingTalkSignature,
  escapeSlackText,
  feishuSignature,
  formatDingTalkMessage,
  formatFeishuMessage,
  formatSlackMessage,
  formatWeComMessage,
  sendChatMessage,
  signDingTalkUrl,
  signFeishuPayload,
} from '../../src/channels/chat';
import { WebhookPermanentError, WebhookTransientError } from '../../src/channels/webhooks';
import { json, startHttp, type TestHttp } from './support/http';
import { localOutbound } from '../helpers/outbound';

describe('formatters', () => {
  it('WeCom: markdown with inline <@userid>; text type for mobile/@all mentions', () => {
    expect(formatWeComMessage({ text: '**3** contacts failed', title: 'Journey alert', mentions: { userIds: ['zhangsan'] } })).toEqual({
      msgtype: 'markdown',
      markdown: { content: '## Journey alert\n**3** contacts failed\n<@zhangsan>' },
    });
    expect(formatWeComMessage({ text: 'x', mentions: { userIds: ['lisi'], mobiles: ['13800138000'], all: true } })).toEqual({
      msgtype: 'text',
      text: { content: 'x', mentioned_list: ['lisi', '@all'], mentioned_mobile_list: ['13800138000'] },
    });
    expect(formatWeComMessage({ text: 'plain', format: 'text' })).toEqual({ msgtype: 'text', text: { content: 'plain' } });
  });

  it('WeCom: truncates to the 4096-byte markdown limit on a character boundary', () => {
    const p = formatWeComMessage({ text: '汉'.repeat(3000) }) as { markdown: { content: string } };
    expect(Buffer.byteLength(p.markdown.content)).toBeLessThanOrEqual(4096);
    expect(p.markdown.content.endsWith('…')).toBe(true);
    expect(p.markdown.content).not.toContain('\uFFFD');
  });

  it('DingTalk: markdown with title and at, mention tags appended to text', () => {
    expect(
      formatDingTalkMessage({ text: '#### 旅程告警\n3 位联系人失败', mentions: { mobiles: ['13800138000'], userIds: ['user123'] } }),
    ).toEqual({
      msgtype: 'markdown',
      markdown: { title: '旅程告警', text: '#### 旅程告警\n3 位联系人失败\n\n@13800138000 @user123' },
      at: { atMobiles: ['13800138000'], atUserIds: ['user123'], isAtAll: false },
    });
    // already-present tags are not duplicated; text type keeps at
    expect(formatDingTalkMessage({ text: 'hi @13800138000', format: 'text', mentions: { mobiles: ['13800138000'], all: true } })).toEqual({
      msgtype: 'text',
      text: { content: 'hi @13800138000' },
      at: { atMobiles: ['13800138000'], atUserIds: [], isAtAll: true },
    });
    expect(formatDingTalkMessage({ text: 'body', title: 'T' })).toMatchObject({ markdown: { title: 'T', text: '### T\nbody' } });
  });

  it('Slack: text + blocks with <@U…> and <!channel> mentions', () => {
    expect(formatSlackMessage({ text: '*3* contacts failed', title: 'Journey alert', mentions: { userIds: ['U123', 'U456'], all: true, mobiles: ['1'] } })).toEqual({
      text: 'Journey alert\n<!channel> <@U123> <@U456> *3* contacts failed',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'Journey alert', emoji: true } },
        { type: 'section', text: { type: 'mrkdwn', text: '<!channel> <@U123> <@U456> *3* contacts failed' } },
      ],
    });
    expect(formatSlackMessage({ text: 'plain', format: 'text' })).toEqual({ text: 'plain' });
    expect(escapeSlackText('<!channel> & co')).toBe('&lt;!channel&gt; &amp; co');
  });

  it('DingTalk signature matches the documented algorithm and is URL-encoded', () => {
    const secret = 'SEC0123456789abcdef';
    const ts = 1_700_000_000_000;
    const expected = createHmac('sha256', secret).update(`${ts}\n${secret}`).digest('base64');
    expect(dingTalkSignature(secret, ts)).toBe(expected);
    const url = signDingTalkUrl('https://oapi.dingtalk.com/robot/send?access_token=abc', secret, ts);
    expect(url).toBe(`https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=${ts}&sign=${encodeURIComponent(expected)}`);
  });
});

describe('Feishu/Lark formatter and signature', () => {
  it('text: title, body and <at> mentions (all → 所有人); mobiles are ignored', () => {
    expect(formatFeishuMessage({ text: '3 位联系人失败', title: '旅程告警', format: 'text', mentions: { userIds: ['ou_abc'], mobiles: ['13800138000'], all: true } })).toEqual({
      msg_type: 'text',
      content: { text: '旅程告警\n3 位联系人失败\n<at user_id="ou_abc"></at> <at user_id="all">所有人</at>' },
    });
    expect(formatFeishuMessage({ text: 'plain', format: 'text' })).toEqual({ msg_type: 'text', content: { text: 'plain' } });
    // an id cannot break out of the tag
    expect(formatFeishuMessage({ text: 'x', format: 'text', mentions: { userIds: ['a"><at user_id="all'] } })).toEqual({
      msg_type: 'text',
      content: { text: 'x\n<at user_id="a&quot;&gt;&lt;at user_id=&quot;all"></at>' },
    });
  });

  it('markdown becomes a post: title, a paragraph per line, mentions as at elements', () => {
    expect(formatFeishuMessage({ text: 'line 1\nline 2', title: 'Journey alert', mentions: { userIds: ['ou_abc'] } })).toEqual({
      msg_type: 'post',
      content: {
        post: {
          zh_cn: {
            title: 'Journey alert',
            content: [[{ tag: 'text', text: 'line 1' }], [{ tag: 'text', text: 'line 2' }], [{ tag: 'at', user_id: 'ou_abc' }]],
          },
        },
      },
    });
  });

  it('truncates long text under the 20 KB request limit on a character boundary', () => {
    const p = formatFeishuMessage({ text: '汉'.repeat(10_000), format: 'text' }) as { content: { text: string } };
    expect(Buffer.byteLength(p.content.text)).toBeLessThanOrEqual(18 * 1024);
    expect(p.content.text.endsWith('…')).toBe(true);
  });

  it('signature: HMAC-SHA256 keyed by "timestamp\\nsecret" over an empty message, base64; timestamp in seconds', () => {
    // Computed independently: printf '' | openssl dgst -sha256 -hmac "$(printf '1599360473\nxmsecret')" -binary | base64
    expect(feishuSignature('xmsecret', 1599360473)).toBe('7cLUPipC328GCkToCeMz9hJ7KlJXxfOJRjg2iAK/Bm8=');
    const ts = 1_700_000_000;
    const expected = createHmac('sha256', `${ts}\nsecret-2`).update('').digest('base64');
    expect(feishuSignature('secret-2', ts)).toBe(expected);
    expect(signFeishuPayload({ msg_type: 'text', content: { text: 'x' } }, 'secret-2', ts)).toEqual({
      timestamp: String(ts),
      sign: expected,
      msg_type: 'text',
      content: { text: 'x' },
    });
  });
});

/** WeCom group robot: 200 + errcode for everything. */
let wecom: TestHttp;
/** DingTalk custom robot with 加签. */
let dingtalk: TestHttp;
/** Slack incoming webhook: plain-text bodies and real HTTP statuses. */
let slack: TestHttp;
/** Feishu custom bot with 签名校验: HTTP 200 + `{ code, msg }`, like open.feishu.cn. */
let feishu: TestHttp;
const FS_SECRET = 'fs-test-secret';
let feishuCalls = 0;
const DT_SECRET = 'SECtestsecret';
let dingTalkCalls = 0;

beforeAll(async () => {
  wecom = await startHttp((req, res) => {
    const u = new URL(req.url, 'http://x');
    const key = u.searchParams.get('key');
    if (u.pathname !== '/cgi-bin/webhook/send' || !key?.startsWith('good') && key !== 'busy' && key !== 'flood') {
      return json(res, 200, { errcode: 93000, errmsg: 'invalid webhook url, hint: [1700000000_1], from ip: 127.0.0.1' });
    }
    if (key === 'flood') return json(res, 200, { errcode: 45009, errmsg: 'api freq out of limit' });
    if (key === 'busy') return json(res, 200, { errcode: -1, errmsg: 'system busy' });
    const p = JSON.parse(req.body) as { msgtype?: string };
    if (p.msgtype !== 'markdown' && p.msgtype !== 'text') return json(res, 200, { errcode: 40008, errmsg: 'invalid message type' });
    json(res, 200, { errcode: 0, errmsg: 'ok' });
  });
  dingtalk = await startHttp((req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.searchParams.get('access_token') !== 'tok') return json(res, 200, { errcode: 300001, errmsg: 'token is not exist' });
    const ts = Number(u.searchParams.get('timestamp'));
    const sign = u.searchParams.get('sign');
    if (!sign || Math.abs(Date.now() - ts) > 3600_000 || sign !== dingTalkSignature(DT_SECRET, ts)) {
      return json(res, 200, { errcode: 310000, errmsg: 'sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]' });
    }
    if (++dingTalkCalls > 3) return json(res, 200, { errcode: 130101, errmsg: 'send too fast, exceed 20 times per minute' });
    const p = JSON.parse(req.body) as { msgtype?: string; markdown?: { title?: string } };
    if (p.msgtype === 'markdown' && !p.markdown?.title) return json(res, 200, { errcode: 40035, errmsg: '缺少参数 title' });
    json(res, 200, { errcode: 0, errmsg: 'ok' });
  });
  feishu = await startHttp((req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname === '/open-apis/bot/v2/hook/down') {
      res.writeHead(502, { 'content-type': 'text/html' });
      return res.end('<html>bad gateway</html>');
    }
    if (u.pathname !== '/open-apis/bot/v2/hook/tok') return json(res, 200, { code: 19001, data: {}, msg: 'param invalid: incoming webhook access token invalid' });
    let p: { timestamp?: string; sign?: string; msg_type?: string; content?: { text?: string; post?: unknown } };
    try {
      p = JSON.parse(req.body) as typeof p;
    } catch {
      return json(res, 400, { code: 9499, data: {}, msg: 'Bad Request' });
    }
    // The server's own check: recompute the documented algorithm, accept within one hour.
    const ts = Number(p.timestamp);
    const want = createHmac('sha256', `${p.timestamp}\n${FS_SECRET}`).update('').digest('base64');
    if (!p.sign || Math.abs(Date.now() / 1000 - ts) > 3600 || p.sign !== want) {
      return json(res, 200, { code: 19021, data: {}, msg: 'sign match fail or timestamp is not within one hour from current time' });
    }
    if (++feishuCalls > 3) return json(res, 200, { code: 11232, data: {}, msg: 'frequency limited psm[lark.oapi.app_platform_runtime]appID[1]' });
    if (!p.msg_type) return json(res, 200, { code: 19002, data: {}, msg: 'params error, msg_type need' });
    json(res, 200, { StatusCode: 0, StatusMessage: 'success', code: 0, data: {}, msg: 'success' });
  });
  slack = await startHttp((req, res) => {
    const send = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(body);
    };
    if (req.url === '/services/T0/B0/rate') return send(429, 'rate_limited');
    if (req.url === '/services/T0/B0/down') return send(500, 'rollup_error');
    if (req.url !== '/services/T0/B0/good') return send(404, 'no_service');
    const p = JSON.parse(req.body) as { text?: string };
    if (!p.text) return send(400, 'invalid_payload');
    send(200, 'ok');
  });
});
afterAll(async () => {
  await Promise.all([wecom.close(), dingtalk.close(), slack.close(), feishu.close()]);
});

async function failure(p: Promise<unknown>): Promise<ChatTransientError | ChatPermanentError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeDefined();
  return e as ChatTransientError | ChatPermanentError;
}

describe('sendChatMessage: WeCom', () => {
  it('delivers and the robot receives the formatted payload', async () => {
    const r = await sendChatMessage({ http: localOutbound, provider: 'wecom', url: `${wecom.url}/cgi-bin/webhook/send?key=good-1`, message: { text: '**hi**' } });
    expect(r).toEqual({ status: 200, response: 'ok' });
    expect(JSON.parse(wecom.requests.at(-1)!.body)).toEqual({ msgtype: 'markdown', markdown: { content: '**hi**' } });
    expect(wecom.requests.at(-1)!.headers['content-type']).toBe('application/json; charset=utf-8');
  });

  it('HTTP 200 with errcode 93000 is a permanent failure', async () => {
    const e = await failure(sendChatMessage({ http: localOutbound, provider: 'wecom', url: `${wecom.url}/cgi-bin/webhook/send?key=revoked`, message: { text: 'x' } }));
    expect(e).toBeInstanceOf(ChatPermanentError);
    expect(e).toBeInstanceOf(WebhookPermanentError); // activities can handle every channel's permanent errors alike
    expect(e.errcode).toBe(93000);
    expect(e.status).toBe(200);
    expect(e.message).toMatch(/errcode 93000 · response: invalid webhook url/);
    expect(e.message).not.toContain('revoked'); // the robot key stays out of error messages
  });

  it('rate limit (45009) and system busy (-1) are transient', async () => {
    for (const [key, code] of [['flood', 45009], ['busy', -1]] as const) {
      const e = await failure(sendChatMessage({ http: localOutbound, provider: 'wecom', url: `${wecom.url}/cgi-bin/webhook/send?key=${key}`, message: { text: 'x' } }));
      expect(e).toBeInstanceOf(ChatTransientError);
      expect(e).toBeInstanceOf(WebhookTransientError);
      expect(e.errcode).toBe(code);
    }
  });

  it('signing is refused for providers that do not support it', async () => {
    await expect(sendChatMessage({ http: localOutbound, provider: 'wecom', url: wecom.url, secret: 's', message: { text: 'x' } })).rejects.toThrow(/only supported for dingtalk/);
  });
});

describe('sendChatMessage: DingTalk', () => {
  const url = () => `${dingtalk.url}/robot/send?access_token=tok`;

  it('signs the URL; the robot verifies timestamp+sign and accepts', async () => {
    dingTalkCalls = 0;
    const r = await sendChatMessage({ http: localOutbound, provider: 'dingtalk', url: url(), secret: DT_SECRET, message: { text: '告警', title: '旅程', mentions: { mobiles: ['13800138000'] } } });
    expect(r).toEqual({ status: 200, response: 'ok' });
    const req = dingtalk.requests.at(-1)!;
    expect(req.url).toMatch(/[?&]timestamp=\d{13}&sign=[^&]+$/);
    expect(JSON.parse(req.body)).toMatchObject({ msgtype: 'markdown', at: { atMobiles: ['13800138000'], isAtAll: false } });
  });

  it('wrong secret or stale timestamp → errcode 310000 → permanent', async () => {
    dingTalkCalls = 0;
    const wrong = await failure(sendChatMessage({ http: localOutbound, provider: 'dingtalk', url: url(), secret: 'SECwrong', message: { text: 'x' } }));
    expect(wrong).toBeInstanceOf(ChatPermanentError);
    expect(wrong.errcode).toBe(310000);
    const stale = await failure(sendChatMessage({ http: localOutbound, provider: 'dingtalk', url: url(), secret: DT_SECRET, now: Date.now() - 2 * 3600_000, message: { text: 'x' } }));
    expect(stale.errcode).toBe(310000);
    const unsigned = await failure(sendChatMessage({ http: localOutbound, provider: 'dingtalk', url: url(), message: { text: 'x' } }));
    expect(unsigned).toBeInstanceOf(ChatPermanentError);
  });

  it('send too fast (130101) is transient', async () => {
    dingTalkCalls = 3;
    const e = await failure(sendChatMessage({ http: localOutbound, provider: 'dingtalk', url: url(), secret: DT_SECRET, message: { text: 'x' } }));
    expect(e).toBeInstanceOf(ChatTransientError);
    expect(e.errcode).toBe(130101);
    expect(e.provider).toBe('dingtalk');
  });
});

describe('sendChatMessage: Feishu/Lark', () => {
  const url = (token = 'tok') => `${feishu.url}/open-apis/bot/v2/hook/${token}`;

  it('signs the body; the bot verifies timestamp+sign and answers code 0', async () => {
    feishuCalls = 0;
    const r = await sendChatMessage({ http: localOutbound, provider: 'feishu', url: url(), secret: FS_SECRET, message: { text: '告警', format: 'text', mentions: { userIds: ['ou_1'] } } });
    expect(r).toEqual({ status: 200, response: 'success' });
    const body = JSON.parse(feishu.requests.at(-1)!.body) as Record<string, unknown>;
    expect(body).toMatchObject({ msg_type: 'text', content: { text: '告警\n<at user_id="ou_1"></at>' } });
    expect(body.timestamp).toMatch(/^\d{10}$/);
  });

  it('wrong secret, stale timestamp or no signature → code 19021 → permanent; a bad token → 19001 permanent', async () => {
    feishuCalls = 0;
    const wrong = await failure(sendChatMessage({ http: localOutbound, provider: 'feishu', url: url(), secret: 'wrong', message: { text: 'x' } }));
    expect(wrong).toBeInstanceOf(ChatPermanentError);
    expect([wrong.provider, wrong.errcode]).toEqual(['feishu', 19021]);
    expect(wrong.message).toContain('sign match fail');
    expect(wrong.message).not.toContain(FS_SECRET);
    const stale = await failure(sendChatMessage({ http: localOutbound, provider: 'feishu', url: url(), secret: FS_SECRET, now: Date.now() - 2 * 3600_000, message: { text: 'x' } }));
    expect(stale.errcode).toBe(19021);
    const unsigned = await failure(sendChatMessage({ http: localOutbound, provider: 'feishu', url: url(), message: { text: 'x' } }));
    expect(unsigned.errcode).toBe(19021);
    const token = await failure(sendChatMessage({ http: localOutbound, provider: 'feishu', url: url('nope'), secret: FS_SECRET, message: { text: 'x' } }));
    expect(token).toBeInstanceOf(ChatPermanentError);
    expect(token.errcode).toBe(19001);
  });

  it('frequency limited (11232) and HTTP 5xx are transient', async () => {
    feishuCalls = 3;
    const limited = await failure(sendChatMessage({ http: localOutbound, provider: 'feishu', url: url(), secret: FS_SECRET, message: { text: 'x' } }));
    expect(limited).toBeInstanceOf(ChatTransientError);
    expect(limited.errcode).toBe(11232);
    const down = await failure(sendChatMessage({ http: localOutbound, provider: 'feishu', url: url('down'), secret: FS_SECRET, message: { text: 'x' } }));
    expect(down).toBeInstanceOf(ChatTransientError);
    expect(down.status).toBe(502);
  });

  it('goes through the guarded client: the default client refuses the loopback bot', async () => {
    const e = await failure(sendChatMessage({ provider: 'feishu', url: url(), secret: FS_SECRET, message: { text: 'x' } }));
    expect(e).toBeInstanceOf(ChatPermanentError);
  });
});

describe('sendChatMessage: Slack', () => {
  it('delivers blocks and returns the body', async () => {
    const r = await sendChatMessage({ http: localOutbound, provider: 'slack', url: `${slack.url}/services/T0/B0/good`, message: { text: 'hi', mentions: { userIds: ['U1'] } } });
    expect(r).toEqual({ status: 200, response: 'ok' });
    expect(JSON.parse(slack.requests.at(-1)!.body)).toEqual({ text: '<@U1> hi', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '<@U1> hi' } }] });
  });

  it('classifies HTTP errors: 404/400 permanent, 429/500 transient', async () => {
    const e404 = await failure(sendChatMessage({ http: localOutbound, provider: 'slack', url: `${slack.url}/services/T0/B0/gone`, message: { text: 'x' } }));
    expect(e404).toBeInstanceOf(ChatPermanentError);
    expect(e404.status).toBe(404);
    expect(e404.responseBody).toBe('no_service');
    const e400 = await failure(sendChatMessage({ http: localOutbound, provider: 'slack', url: `${slack.url}/services/T0/B0/good`, message: { text: '' } }));
    expect(e400).toBeInstanceOf(ChatPermanentError);
    expect(e400.responseBody).toBe('invalid_payload');
    for (const [path, status] of [['rate', 429], ['down', 500]] as const) {
      const e = await failure(sendChatMessage({ http: localOutbound, provider: 'slack', url: `${slack.url}/services/T0/B0/${path}`, message: { text: 'x' } }));
      expect(e).toBeInstanceOf(ChatTransientError);
      expect(e.status).toBe(status);
    }
  });
});
