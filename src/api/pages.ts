/**
 * The pages a recipient opens from an email (unsubscribe, preference centre, hosted copy's "gone" answer), in the
 * language the message was written in (carried in the signed link) — zh-CN or en.
 */
import type { PageLanguage } from '../channels/email/tracking';

export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export const PAGE_TEXT = {
  en: {
    unsubscribeTitle: 'Unsubscribe',
    unsubscribeQuestion: 'Stop receiving marketing email from us?',
    unsubscribeButton: 'Unsubscribe',
    unsubscribeTopicQuestion: 'Stop receiving “{topic}” email from us?',
    unsubscribeTopicButton: 'Unsubscribe from “{topic}”',
    unsubscribedTopicBody: 'You will not receive “{topic}” email from us again. Other email you chose still reaches you.',
    unsubscribedTitle: 'You are unsubscribed',
    unsubscribedBody: 'You will not receive marketing email from us again. Receipts and account messages still reach you.',
    preferencesTitle: 'Email preferences',
    preferencesIntro: 'Choose what we may email you about.',
    save: 'Save preferences',
    saved: 'Your preferences are saved.',
    unsubscribeAll: 'Unsubscribe from all marketing email',
    allOff: 'You are unsubscribed from all marketing email. Receipts and account messages still reach you.',
    resubscribe: 'Subscribe to marketing email again',
    managePreferences: 'Manage your email preferences',
    goneTitle: 'Message not available',
    goneBody: 'This message is no longer available online.',
  },
  zh: {
    unsubscribeTitle: '退订',
    unsubscribeQuestion: '不再接收我们的营销邮件？',
    unsubscribeButton: '确认退订',
    unsubscribeTopicQuestion: '不再接收我们的“{topic}”邮件？',
    unsubscribeTopicButton: '退订“{topic}”',
    unsubscribedTopicBody: '您将不再收到我们的“{topic}”邮件。您选择的其他邮件仍会照常发送。',
    unsubscribedTitle: '您已退订',
    unsubscribedBody: '您将不再收到我们的营销邮件。交易回执和账户通知仍会照常发送。',
    preferencesTitle: '订阅偏好',
    preferencesIntro: '请选择您希望接收的邮件内容。',
    save: '保存偏好',
    saved: '您的偏好已保存。',
    unsubscribeAll: '退订全部营销邮件',
    allOff: '您已退订全部营销邮件。交易回执和账户通知仍会照常发送。',
    resubscribe: '重新订阅营销邮件',
    managePreferences: '管理订阅偏好',
    goneTitle: '邮件不可用',
    goneBody: '此邮件的在线版本已不再提供。',
  },
} as const satisfies Record<PageLanguage, Record<string, string>>;

export function page(language: PageLanguage, title: string, body: string): string {
  const lang = language === 'zh' ? 'zh-CN' : 'en';
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(
    title,
  )}</title><style>body{font-family:-apple-system,'Segoe UI','PingFang SC','Microsoft YaHei',system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1f2933;line-height:1.6}button{font:inherit;padding:.4rem 1rem}fieldset{border:1px solid #e4e7eb;margin:1rem 0}label{display:block;margin:.3rem 0}</style></head><body>${body}</body></html>`;
}
