import { createContext, useContext } from 'react';

export const LOCALES = ['en', 'zh-CN'] as const;
export type Locale = (typeof LOCALES)[number];

const en = {
  appName: 'itinera console',
  language: 'Language',
  signIn: 'Sign in',
  signInTitle: 'Sign in to the itinera console',
  signInHelp: 'Paste an API key. It is exchanged for a session cookie and is not kept in this browser.',
  apiKey: 'API key',
  signingIn: 'Signing in…',
  signOut: 'Sign out',
  signedInAs: 'Signed in as {name} ({role})',
  sessionEnds: 'session ends {time}',
  journeys: 'Journeys',
  noPages: 'The {role} role has no pages in this console yet; the API and the CLI serve it.',
  loading: 'Loading…',
  error: 'Something went wrong: {message}',
  none: 'No journeys yet.',
  id: 'Id',
  name: 'Name',
  status: 'Status',
  latestVersion: 'Latest version',
  runningNow: 'Running now',
  waitingNow: 'Waiting now',
  entries7d: 'Entries, last 7 days',
  conversion: 'Goal conversion',
  back: 'All journeys',
  version: 'Version',
  draft: 'draft',
  notPublished: 'This journey has not been published yet: there is no plan to draw.',
  graphLabel: 'Journey plan of {id}, version {version}',
  entered: 'entered',
  waiting: 'waiting',
  exitedHere: 'exited here',
  failed: 'failing',
  refreshed: 'Counts refresh every few seconds; last at {time}.',
  runsAt: 'Runs waiting at {step}',
  runsNeedOps: 'Listing runs needs the ops or admin role.',
  noRuns: 'No run is waiting here.',
  contact: 'Contact',
  started: 'Started',
  workflow: 'Workflow id',
  pickNode: 'Select a step to list the runs waiting there.',
  next: 'next',
  onFailure: 'on failure',
  onMissing: 'date missing',
  onEvent: 'on {event}',
  timeout: 'timeout {d}',
  after: 'after {d}',
  otherwise: 'otherwise',
  when: 'if #{n}',
  arm: '{name} {percent}%',
  holdout: 'holdout',
  statusNames: { draft: 'draft', active: 'active', paused: 'paused', archived: 'archived' } as Record<string, string>,
};
export type Messages = typeof en;

const zh: Messages = {
  appName: 'itinera 控制台',
  language: '语言',
  signIn: '登录',
  signInTitle: '登录 itinera 控制台',
  signInHelp: '粘贴 API 密钥。它会换成会话 Cookie，不会保存在此浏览器中。',
  apiKey: 'API 密钥',
  signingIn: '正在登录…',
  signOut: '退出登录',
  signedInAs: '已登录：{name}（{role}）',
  sessionEnds: '会话于 {time} 结束',
  journeys: '旅程',
  noPages: '{role} 角色在此控制台中暂无页面；请使用 API 和命令行。',
  loading: '加载中…',
  error: '出错了：{message}',
  none: '还没有旅程。',
  id: 'ID',
  name: '名称',
  status: '状态',
  latestVersion: '最新版本',
  runningNow: '正在运行',
  waitingNow: '正在等待',
  entries7d: '近 7 天进入',
  conversion: '目标转化率',
  back: '全部旅程',
  version: '版本',
  draft: '草稿',
  notPublished: '此旅程尚未发布：没有可绘制的计划。',
  graphLabel: '旅程 {id} 第 {version} 版的流程图',
  entered: '进入',
  waiting: '等待中',
  exitedHere: '在此结束',
  failed: '失败',
  refreshed: '计数每隔几秒刷新；上次刷新于 {time}。',
  runsAt: '在 {step} 等待的运行',
  runsNeedOps: '查看运行列表需要 ops 或 admin 角色。',
  noRuns: '没有运行在此等待。',
  contact: '联系人',
  started: '开始时间',
  workflow: '工作流 ID',
  pickNode: '选择一个步骤，查看在那里等待的运行。',
  next: '下一步',
  onFailure: '失败时',
  onMissing: '缺少日期',
  onEvent: '收到 {event}',
  timeout: '超时 {d}',
  after: '{d} 后',
  otherwise: '否则',
  when: '条件 #{n}',
  arm: '{name} {percent}%',
  holdout: '对照组',
  statusNames: { draft: '草稿', active: '进行中', paused: '已暂停', archived: '已归档' },
};

export const MESSAGES: Record<Locale, Messages> = { en, 'zh-CN': zh };

const STORAGE_KEY = 'itinera.locale';

/** The saved choice, else the first browser language we have (any zh is zh-CN), else English. */
export function initialLocale(): Locale {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved === 'en' || saved === 'zh-CN') return saved;
  for (const l of navigator.languages ?? [navigator.language]) {
    if (l.toLowerCase().startsWith('zh')) return 'zh-CN';
    if (l.toLowerCase().startsWith('en')) return 'en';
  }
  return 'en';
}

export function saveLocale(l: Locale) {
  localStorage.setItem(STORAGE_KEY, l);
}

type StringKey = { [K in keyof Messages]: Messages[K] extends string ? K : never }[keyof Messages];

export function format(template: string, vars: Record<string, string | number> = {}): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? `{${k}}`));
}

export const I18n = createContext<{ locale: Locale; m: Messages }>({ locale: 'en', m: en });

export function useT() {
  const { locale, m } = useContext(I18n);
  return {
    locale,
    m,
    t: (key: StringKey, vars?: Record<string, string | number>) => format(m[key], vars),
  };
}
