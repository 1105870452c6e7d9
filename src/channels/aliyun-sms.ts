/**
 * Aliyun (阿里云) SMS, behind the same `SmsSender` as Twilio. Aliyun sends only pre-approved templates: a message is
 * a TemplateCode plus the values of its `${name}` variables, never free text. So each of our SMS template names is
 * mapped (ALIYUN_SMS_TEMPLATES) to its TemplateCode and to the values of its variables, each an inline template
 * rendered with the message's context (`{"code": "SMS_123", "params": {"name": "{{contact.first_name}}"}}`). A step
 * without a template, or with one not mapped, fails permanently with a message naming it.
 *
 * The API is the RPC-style `SendSms` of dysmsapi (version 2017-05-25), signed with signature version 1.0:
 * base64(HMAC-SHA1(secret + "&", METHOD + "&%2F&" + percent(sorted, percent-encoded parameters))). Aliyun does not
 * deduplicate by our key (OutId only comes back in receipts), so a send retried after a timeout may arrive twice.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { OutboundRefusedError, STRICT_OUTBOUND, type OutboundHttp, type OutboundResponse } from '../net/outbound';
import { requestFailureMessage, RESPONSE_BODY_MARKER } from './errors';
import { SmsPermanentError, SmsTransientError, type SmsSender } from './sms';

export type AliyunTemplate = { code: string; params: Record<string, string> };

export interface AliyunSmsOptions {
  /** @default 'https://dysmsapi.aliyuncs.com' */
  endpoint?: string;
  accessKeyId: string;
  accessKeySecret: string;
  /** The approved signature (签名) printed in 【】 before every message. */
  signName: string;
  /** Our SMS template name → its Aliyun TemplateCode and variable values. */
  templates: Record<string, AliyunTemplate>;
  /** Renders a variable's inline template with the message context. */
  render: (source: string, context: Record<string, unknown>) => string;
  /** @default 'cn-hangzhou' */
  regionId?: string;
  /** @default 10000 */
  timeoutMs?: number;
  /** The guarded client (OUTBOUND_ALLOW for a gateway on the private network). @default strict */
  http?: OutboundHttp;
  /** For tests: the request's time and nonce. */
  now?: () => Date;
  nonce?: () => string;
}

/** RFC 3986 percent-encoding, as Aliyun's POP signature wants it (space %20, `*` %2A, `~` kept). */
export function aliyunPercent(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function aliyunSignature(method: 'GET' | 'POST', params: Record<string, string>, secret: string): string {
  const canonical = Object.keys(params)
    .filter((k) => k !== 'Signature')
    .sort()
    .map((k) => `${aliyunPercent(k)}=${aliyunPercent(params[k]!)}`)
    .join('&');
  return createHmac('sha1', `${secret}&`).update(`${method}&${aliyunPercent('/')}&${aliyunPercent(canonical)}`, 'utf8').digest('base64');
}

/** E.164 to what Aliyun wants: mainland numbers without +86, others as country code and number without the +. */
export function aliyunPhone(e164: string): string {
  return e164.startsWith('+86') ? e164.slice(3) : e164.replace(/^\+/, '');
}

/** Codes that say "later" (limits, Aliyun's own failures) or "our configuration" (keys, balance): retried. */
const TRANSIENT_CODES = /^(isv\.BUSINESS_LIMIT_CONTROL|isv\.DAY_LIMIT_CONTROL|Throttling.*|isp\..*|ServiceUnavailable|InternalError|SignatureNonceUsed|isv\.AMOUNT_NOT_ENOUGH|isv\.OUT_OF_SERVICE|InvalidAccessKeyId.*|SignatureDoesNotMatch|isv\.ACCOUNT_ABNORMAL)$/;

export function createAliyunSmsSender(options: AliyunSmsOptions): SmsSender {
  const endpoint = (options.endpoint ?? 'https://dysmsapi.aliyuncs.com').replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const http = options.http ?? STRICT_OUTBOUND;
  const now = options.now ?? (() => new Date());
  const nonce = options.nonce ?? randomUUID;
  return {
    async send(msg) {
      if (!msg.template) throw new SmsPermanentError('aliyun: sends templates only; give the step a template mapped in ALIYUN_SMS_TEMPLATES', undefined, undefined);
      const template = options.templates[msg.template];
      if (!template) throw new SmsPermanentError(`aliyun: template "${msg.template}" has no TemplateCode in ALIYUN_SMS_TEMPLATES`, undefined, undefined);
      const values = Object.fromEntries(Object.entries(template.params).map(([name, source]) => [name, options.render(source, msg.context ?? {})]));
      const params: Record<string, string> = {
        AccessKeyId: options.accessKeyId,
        Action: 'SendSms',
        Format: 'JSON',
        OutId: msg.idempotencyKey.slice(0, 256),
        PhoneNumbers: aliyunPhone(msg.to),
        RegionId: options.regionId ?? 'cn-hangzhou',
        SignName: options.signName,
        SignatureMethod: 'HMAC-SHA1',
        SignatureNonce: nonce(),
        SignatureVersion: '1.0',
        TemplateCode: template.code,
        TemplateParam: JSON.stringify(values),
        Timestamp: now().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        Version: '2017-05-25',
      };
      params.Signature = aliyunSignature('POST', params, options.accessKeySecret);
      let res: OutboundResponse;
      try {
        res = await http.request(`${endpoint}/`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: new URLSearchParams(params).toString(),
          timeoutMs,
        });
      } catch (err) {
        if (err instanceof OutboundRefusedError) throw new SmsPermanentError(`aliyun: ${err.message}`, undefined, undefined, { cause: err });
        throw new SmsTransientError(requestFailureMessage(err, 'aliyun', timeoutMs), undefined, undefined, { cause: err });
      }
      let body: { Code?: unknown; Message?: unknown; BizId?: unknown } = {};
      try {
        body = res.body ? (JSON.parse(res.body) as typeof body) : {};
      } catch {
        body = {};
      }
      const code = typeof body.Code === 'string' ? body.Code : undefined;
      if (res.status >= 200 && res.status < 300 && code === 'OK') {
        if (typeof body.BizId !== 'string') throw new SmsTransientError('aliyun: OK without a BizId', res.status, undefined);
        return { providerMessageId: body.BizId, status: 'accepted' };
      }
      const detail = `aliyun: HTTP ${res.status}${code ? ` code ${code}` : ''}${RESPONSE_BODY_MARKER}${typeof body.Message === 'string' ? body.Message : res.body.slice(0, 300)}`;
      if (res.status >= 500 || res.status === 408 || res.status === 429 || (code !== undefined && TRANSIENT_CODES.test(code))) {
        throw new SmsTransientError(detail, res.status, undefined);
      }
      throw new SmsPermanentError(detail, res.status, undefined);
    },
  };
}
