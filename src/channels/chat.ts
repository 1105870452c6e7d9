/**
 * Chat notifications through incoming-webhook robots: WeCom (企业微信群机器人), DingTalk (钉钉自定义机器人),
 * Feishu/Lark custom bots (飞书自定义机器人) and Slack incoming webhooks. One provider-neutral
 * {@link ChatMessage} is formatted per provider.
 *
 * WeCom and DingTalk answer HTTP 200 even for failures and put the outcome in `{ errcode, errmsg }`;
 * Feishu does the same with `{ code, msg }`. A 200 is not success until the body says code 0.
 */
import { createHmac } from 'node:crypto';
import { STRICT_OUTBOUND, type OutboundHttp } from '../net/outbound';
import { RESPONSE_BODY_MARKER } from './errors';
import { httpDeliver, truncateBody, WebhookPermanentError, WebhookTransientError } from './webhooks';

export const ChatProvider = { WeCom: 'wecom', DingTalk: 'dingtalk', Feishu: 'feishu', Slack: 'slack' } as const;
export type ChatProvider = (typeof ChatProvider)[keyof typeof ChatProvider];

export interface ChatMentions {
  /** Provider user ids (WeCom userid, DingTalk userId, Feishu open_id/user_id like ou_…, Slack member id like U123). */
  userIds?: string[];
  /** Mobile numbers (WeCom, DingTalk; Feishu and Slack have no mention-by-phone and ignore them). */
  mobiles?: string[];
  /** @all / <!channel>. */
  all?: boolean;
}

export interface ChatMessage {
  /** Body; markdown unless `format` is 'text'. */
  text: string;
  /** Heading: DingTalk's required markdown title (notification preview), Feishu post title, Slack header block. */
  title?: string;
  /** @default 'markdown' */
  format?: 'markdown' | 'text';
  mentions?: ChatMentions;
}

export type WeComPayload =
  | { msgtype: 'markdown'; markdown: { content: string } }
  | { msgtype: 'text'; text: { content: string; mentioned_list?: string[]; mentioned_mobile_list?: string[] } };

export interface DingTalkAt {
  atMobiles: string[];
  atUserIds: string[];
  isAtAll: boolean;
}
export type DingTalkPayload =
  | { msgtype: 'markdown'; markdown: { title: string; text: string }; at: DingTalkAt }
  | { msgtype: 'text'; text: { content: string }; at: DingTalkAt };

/** One element of a Feishu "post" (rich text) paragraph. */
export type FeishuPostElement = { tag: 'text'; text: string } | { tag: 'at'; user_id: string };
export type FeishuPayload =
  | { msg_type: 'text'; content: { text: string } }
  | { msg_type: 'post'; content: { post: { zh_cn: { title: string; content: FeishuPostElement[][] } } } };
/** The signed body: Feishu's 签名校验 puts `timestamp` (seconds, as a string) and `sign` beside the message. */
export type SignedFeishuPayload = FeishuPayload & { timestamp?: string; sign?: string };

export interface SlackPayload {
  text: string;
  blocks?: Array<Record<string, unknown>>;
}

// Documented limits (bytes for WeCom, characters for Slack sections). Truncating keeps a long alert
// readable instead of the robot rejecting it outright.
const WECOM_MARKDOWN_MAX_BYTES = 4096;
const WECOM_TEXT_MAX_BYTES = 2048;
const DINGTALK_MAX_CHARS = 20_000;
// Feishu caps a custom bot request body at 20 KB; leave room for the JSON envelope, mentions and signature.
const FEISHU_TEXT_MAX_BYTES = 18 * 1024;
const SLACK_SECTION_MAX_CHARS = 3000;
const SLACK_HEADER_MAX_CHARS = 150;

function truncateBytes(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  const ellipsis = '…';
  let out = '';
  let bytes = Buffer.byteLength(ellipsis);
  for (const ch of s) {
    const b = Buffer.byteLength(ch);
    if (bytes + b > maxBytes) break;
    out += ch;
    bytes += b;
  }
  return out + ellipsis;
}

function truncateChars(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : `${chars.slice(0, max - 1).join('')}…`;
}

/**
 * WeCom markdown can mention by userid inline (`<@userid>`) but cannot mention by mobile or @all;
 * those need the text type's mentioned_list / mentioned_mobile_list, so such a message is sent as
 * text (the markdown source is still readable).
 */
export function formatWeComMessage(msg: ChatMessage): WeComPayload {
  const m = msg.mentions ?? {};
  const body = msg.title ? `${msg.format === 'text' ? msg.title : `## ${msg.title}`}\n${msg.text}` : msg.text;
  const needsText = msg.format === 'text' || (m.mobiles?.length ?? 0) > 0 || m.all === true;
  if (!needsText) {
    const inline = (m.userIds ?? []).map((id) => `<@${id}>`).join(' ');
    return { msgtype: 'markdown', markdown: { content: truncateBytes(inline ? `${body}\n${inline}` : body, WECOM_MARKDOWN_MAX_BYTES) } };
  }
  const text: { content: string; mentioned_list?: string[]; mentioned_mobile_list?: string[] } = {
    content: truncateBytes(body, WECOM_TEXT_MAX_BYTES),
  };
  const list = [...(m.userIds ?? []), ...(m.all ? ['@all'] : [])];
  if (list.length) text.mentioned_list = list;
  if (m.mobiles?.length) text.mentioned_mobile_list = [...m.mobiles];
  return { msgtype: 'text', text };
}

/**
 * DingTalk only highlights and notifies a mention when `@<mobile>` / `@<userId>` also appears in the
 * text, so those are appended when missing.
 */
export function formatDingTalkMessage(msg: ChatMessage): DingTalkPayload {
  const m = msg.mentions ?? {};
  const at: DingTalkAt = { atMobiles: [...(m.mobiles ?? [])], atUserIds: [...(m.userIds ?? [])], isAtAll: m.all === true };
  const tags = [...at.atMobiles, ...at.atUserIds].map((x) => `@${x}`).filter((tag) => !msg.text.includes(tag));
  const withTags = tags.length ? `${msg.text}\n\n${tags.join(' ')}` : msg.text;
  if (msg.format === 'text') {
    const content = msg.title ? `${msg.title}\n${withTags}` : withTags;
    return { msgtype: 'text', text: { content: truncateChars(content, DINGTALK_MAX_CHARS) }, at };
  }
  const title = msg.title ?? (msg.text.split('\n').find((l) => l.trim())?.replace(/^[#>\s*-]+/, '').trim() || 'Notification');
  const text = msg.title ? `### ${msg.title}\n${withTags}` : withTags;
  return { msgtype: 'markdown', markdown: { title: truncateChars(title, 100), text: truncateChars(text, DINGTALK_MAX_CHARS) }, at };
}

/** Characters Feishu's text message would read as markup (`<at …>` tags); use on untrusted values. */
export function escapeFeishuText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Feishu text messages mention with `<at user_id="ou_…"></at>` (`user_id="all"` for everyone), which is what the
 * notify step sends. Markdown-format messages become a "post" (rich text): the title, one paragraph per line and the
 * mentions as `at` elements in the last paragraph. Feishu custom bots cannot mention by mobile number.
 */
export function formatFeishuMessage(msg: ChatMessage): FeishuPayload {
  const m = msg.mentions ?? {};
  const ids = [...(m.userIds ?? []), ...(m.all ? ['all'] : [])];
  if (msg.format === 'text') {
    const body = msg.title ? `${msg.title}\n${msg.text}` : msg.text;
    const tags = ids.map((id) => (id === 'all' ? '<at user_id="all">所有人</at>' : `<at user_id="${escapeFeishuText(id).replace(/"/g, '&quot;')}"></at>`)).join(' ');
    return { msg_type: 'text', content: { text: `${truncateBytes(body, FEISHU_TEXT_MAX_BYTES)}${tags ? `\n${tags}` : ''}` } };
  }
  const lines = truncateBytes(msg.text, FEISHU_TEXT_MAX_BYTES).split('\n');
  const content: FeishuPostElement[][] = lines.map((line) => [{ tag: 'text', text: line }]);
  if (ids.length) content.push(ids.map((id) => ({ tag: 'at', user_id: id })));
  return { msg_type: 'post', content: { post: { zh_cn: { title: truncateChars(msg.title ?? '', 100), content } } } };
}

/** Slack mrkdwn control characters; use on untrusted values before putting them into `text`. */
export function escapeSlackText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function formatSlackMessage(msg: ChatMessage): SlackPayload {
  const m = msg.mentions ?? {};
  const mentions = [...(m.all ? ['<!channel>'] : []), ...(m.userIds ?? []).map((id) => `<@${id}>`)].join(' ');
  const body = mentions ? `${mentions} ${msg.text}` : msg.text;
  // `text` is the notification/fallback text; keep the title in it so previews are meaningful.
  const text = msg.title ? `${msg.title}\n${body}` : body;
  if (msg.format === 'text') return { text };
  const blocks: Array<Record<string, unknown>> = [];
  if (msg.title) blocks.push({ type: 'header', text: { type: 'plain_text', text: truncateChars(msg.title, SLACK_HEADER_MAX_CHARS), emoji: true } });
  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncateChars(body, SLACK_SECTION_MAX_CHARS) } });
  return { text, blocks };
}

export function formatChatPayload(provider: ChatProvider, msg: ChatMessage): WeComPayload | DingTalkPayload | FeishuPayload | SlackPayload {
  switch (provider) {
    case 'wecom':
      return formatWeComMessage(msg);
    case 'dingtalk':
      return formatDingTalkMessage(msg);
    case 'feishu':
      return formatFeishuMessage(msg);
    case 'slack':
      return formatSlackMessage(msg);
    default:
      return assertNever(provider);
  }
}

function assertNever(x: never): never {
  throw new Error(`chat: unknown provider ${String(x)}`);
}

/** DingTalk "加签": sign = base64(HMAC-SHA256(secret, `${timestamp}\n${secret}`)), timestamp in ms. */
export function dingTalkSignature(secret: string, timestampMs: number): string {
  return createHmac('sha256', secret).update(`${timestampMs}\n${secret}`).digest('base64');
}

export function signDingTalkUrl(url: string, secret: string, timestampMs: number): string {
  const u = new URL(url);
  u.searchParams.set('timestamp', String(timestampMs));
  u.searchParams.set('sign', dingTalkSignature(secret, timestampMs)); // URLSearchParams percent-encodes +/=
  return u.toString();
}

/**
 * Feishu/Lark 签名校验: the HMAC-SHA256 key is `${timestamp}\n${secret}` and the message is EMPTY (the reverse of
 * DingTalk, which keys with the secret); sign = base64 of the digest, timestamp in SECONDS. Feishu rejects a
 * timestamp more than an hour from its clock (code 19021).
 */
export function feishuSignature(secret: string, timestampSec: number): string {
  return createHmac('sha256', `${timestampSec}\n${secret}`).update('').digest('base64');
}

export function signFeishuPayload(payload: FeishuPayload, secret: string, timestampSec: number): SignedFeishuPayload {
  return { timestamp: String(timestampSec), sign: feishuSignature(secret, timestampSec), ...payload };
}

// errcodes meaning "slow down / try again", everything else non-zero is a request/config error.
const TRANSIENT_ERRCODES: Record<'wecom' | 'dingtalk' | 'feishu', ReadonlySet<number>> = {
  // -1 system busy; 45009 api freq out of limit; 45033 api concurrent out of limit
  wecom: new Set([-1, 45009, 45033]),
  // -1 system busy; 130101 send too fast (20/min per robot); 410100 flow-controlled
  dingtalk: new Set([-1, 130101, 410100]),
  // 11232 frequency limited (100/min, 5/s per bot). Permanent, among others: 19001 invalid webhook token, 19002
  // missing msg_type, 19021 sign match fail or timestamp more than an hour off, 19022 IP not allowed, 19024 keyword
  // not found, 9499 bad request: retrying the same request cannot change those answers.
  feishu: new Set([11232]),
};

export class ChatTransientError extends WebhookTransientError {
  override name = 'ChatTransientError';
  constructor(
    message: string,
    status: number | undefined,
    responseBody: string | undefined,
    readonly provider: ChatProvider,
    readonly errcode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, status, responseBody, options);
  }
}
export class ChatPermanentError extends WebhookPermanentError {
  override name = 'ChatPermanentError';
  constructor(
    message: string,
    status: number | undefined,
    responseBody: string | undefined,
    readonly provider: ChatProvider,
    readonly errcode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, status, responseBody, options);
  }
}

export interface SendChatOptions {
  provider: ChatProvider;
  /** The robot's webhook URL (contains its key/access token: treat as a secret). */
  url: string;
  message: ChatMessage;
  /** Signing secret: DingTalk's 加签 (`SEC…`) or Feishu's 签名校验, when the robot has it enabled. */
  secret?: string;
  /** @default 10000 */
  timeoutMs?: number;
  now?: Date | number;
  /** The guarded client. @default one that refuses every private address (no allow-list) */
  http?: OutboundHttp;
}

export interface ChatSendResult {
  status: number;
  /** Provider's errmsg / body, for logs. */
  response: string;
}

export async function sendChatMessage(opts: SendChatOptions): Promise<ChatSendResult> {
  const { provider } = opts;
  let url = opts.url;
  let payload: WeComPayload | DingTalkPayload | SignedFeishuPayload | SlackPayload = formatChatPayload(provider, opts.message);
  if (opts.secret) {
    const ms = opts.now === undefined ? Date.now() : typeof opts.now === 'number' ? opts.now : opts.now.getTime();
    if (provider === 'dingtalk') url = signDingTalkUrl(url, opts.secret, ms);
    else if (provider === 'feishu') payload = signFeishuPayload(payload as FeishuPayload, opts.secret, Math.floor(ms / 1000));
    else throw new Error(`chat: request signing is only supported for dingtalk and feishu, not ${provider}`);
  }
  const body = JSON.stringify(payload);
  const label = `chat(${provider})`;
  let delivered: Awaited<ReturnType<typeof httpDeliver>>;
  try {
    delivered = await httpDeliver(
      opts.http ?? STRICT_OUTBOUND,
      url,
      { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body, timeoutMs: opts.timeoutMs ?? 10_000 },
      label,
    );
  } catch (err) {
    // Re-type with the provider; the URL is deliberately not in the message (it carries the robot key).
    if (err instanceof WebhookTransientError) throw new ChatTransientError(err.message, err.status, err.responseBody, provider, undefined, { cause: err });
    if (err instanceof WebhookPermanentError) throw new ChatPermanentError(err.message, err.status, err.responseBody, provider, undefined, { cause: err });
    throw err;
  }

  if (provider === 'slack') return { status: delivered.status, response: delivered.body };

  let parsed: Record<string, unknown> | undefined;
  try {
    const value = JSON.parse(delivered.rawBody) as unknown;
    parsed = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    parsed = undefined;
  }
  // Feishu answers `{ code, msg }` (older deployments add `StatusCode`/`StatusMessage`); WeCom/DingTalk `{ errcode, errmsg }`.
  const [codeKey, msgKey] = provider === 'feishu' ? ['code', 'msg'] : ['errcode', 'errmsg'];
  const code = parsed?.[codeKey];
  if (typeof code !== 'number') {
    // A 200 we cannot read: a proxy page or an outage; the robot did not confirm delivery.
    throw new ChatTransientError(`${label}: unreadable response`, delivered.status, delivered.body, provider);
  }
  const errmsg = typeof parsed?.[msgKey] === 'string' ? (parsed[msgKey] as string) : '';
  if (code === 0) return { status: delivered.status, response: errmsg };
  const message = `${label}: errcode ${code}${errmsg ? `${RESPONSE_BODY_MARKER}${truncateBody(errmsg, 300)}` : ''}`;
  if (TRANSIENT_ERRCODES[provider].has(code)) {
    throw new ChatTransientError(message, delivered.status, delivered.body, provider, code);
  }
  throw new ChatPermanentError(message, delivered.status, delivered.body, provider, code);
}
