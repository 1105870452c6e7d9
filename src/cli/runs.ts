/**
 * `itinera runs ls|show|cancel|terminate|replay` — the ops toolkit over the running API (so it works against the
 * embedded single-process database too). Exit codes: 0 ok, 1 invalid input or nondeterminism found, 2 system error.
 */
import type { Command } from 'commander';
import { apiTarget, call, type ApiTarget } from './api-client';
import { CliError } from './errors';
import { bar, count, RateMeter, rateText } from './progress';

type PendingActivity = { activityType: string; attempt: number; maximumAttempts: number; state: string; lastFailure: string | null; nextAttemptAt: string | null };
export type RunItem = {
  workflowId: string;
  journeyId: string;
  version: number;
  currentStep: string | null;
  status: string;
  startedAt: string;
  updatedAt: string;
  stuck?: { reasons: string[]; pendingActivity: PendingActivity | null };
};
type RunList = { items: RunItem[]; nextCursor: string | null; inspection?: { inspected: number; capped: boolean; limit: number } };
export type TimelineEntry = {
  at: string;
  runId: string;
  kind: string;
  step?: string;
  activityType?: string;
  attempt?: number;
  error?: string;
  timerId?: string;
  fireAt?: string;
  signal?: string;
  eventType?: string;
  eventId?: string;
  reason?: string;
};
export type RunDetail = RunItem & {
  contactId: string;
  endedAt: string | null;
  temporal: { runId: string; status: string; historyLength: number };
  pendingActivities: PendingActivity[];
  timeline: TimelineEntry[];
  timelineTruncated: boolean;
};
export type BulkProgress = { bulkId: string; action: string; dryRun: boolean; status: string; total: number; scanned: number; matched: number; succeeded: number; skipped: number; failed: number; errors: { workflowId: string; message: string }[]; notes?: { workflowId: string; message: string }[]; error?: string };
export type ReplayReport = {
  journeyId: string;
  results: { workflowId: string; version: number; status: string; error?: string }[];
  totals: { ok: number; nondeterministic: number; failed: number; unavailable: number; notReplayed: number };
  timedOut: boolean;
};

/** `3d4h`, `12m5s`, `40s`, `2h`: the largest unit and the next one when it is not zero. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const units: [string, number][] = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
  const i = units.findIndex(([, size]) => ms >= size);
  const [u1, s1] = units[i]!;
  const a = Math.floor(ms / s1);
  const next = units[i + 1];
  const b = next ? Math.floor((ms - a * s1) / next[1]) : 0;
  return `${a}${u1}${next && b > 0 ? `${b}${next[0]}` : ''}`;
}

/**
 * Left-aligned columns, two spaces apart, a header row; cells longer than `max` end in `…`, except in the columns
 * `whole` names (ids someone copies into the next command are never cut).
 */
export function formatTable(header: string[], rows: string[][], max = 48, whole: readonly number[] = []): string {
  const clip = (s: string, i: number) => (s.length > max && !whole.includes(i) ? `${s.slice(0, max - 1)}…` : s);
  const cells = [header, ...rows].map((r) => r.map(clip));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function stuckCell(s: RunItem['stuck']): string {
  if (!s) return '';
  const parts: string[] = [];
  if (s.pendingActivity) parts.push(`${s.pendingActivity.activityType} attempt ${s.pendingActivity.attempt}${s.pendingActivity.maximumAttempts ? `/${s.pendingActivity.maximumAttempts}` : ''}`);
  if (s.reasons.includes('overdue')) parts.push('overdue');
  return parts.join(', ');
}

export function runsTable(items: RunItem[], now: number, opts: { stuck?: boolean } = {}): string {
  const header = ['WORKFLOW ID', 'JOURNEY', 'STEP', 'STATUS', 'STARTED', 'IN STEP', ...(opts.stuck ? ['STUCK'] : [])];
  const rows = items.map((r) => [
    r.workflowId,
    `${r.journeyId}@${r.version}`,
    r.currentStep ?? '-',
    r.status,
    new Date(r.startedAt).toISOString().replace('T', ' ').slice(0, 19),
    r.status === 'running' ? formatDuration(now - new Date(r.updatedAt).getTime()) : '-',
    ...(opts.stuck ? [stuckCell(r.stuck)] : []),
  ]);
  return formatTable(header, rows, 48, [0]);
}

const time = (iso: string) => new Date(iso).toISOString().replace('T', ' ').slice(0, 23);

/** One line per timeline entry: `2025-01-02 03:04:05.678  step            welcome`. */
export function timelineLines(entries: TimelineEntry[]): string[] {
  return entries.map((e) => {
    let what: string;
    switch (e.kind) {
      case 'step':
        what = `→ ${e.step}`;
        break;
      case 'activity_scheduled':
        what = `${e.activityType}${e.step ? ` (${e.step})` : ''}`;
        break;
      case 'activity_completed':
      case 'activity_failed':
      case 'activity_timed_out':
      case 'activity_cancelled':
        what = `${e.activityType ?? '?'}${e.attempt && e.attempt > 1 ? ` after ${e.attempt} attempts` : ''}${e.error ? `: ${e.error}` : ''}`;
        break;
      case 'timer_started':
        what = `timer ${e.timerId} fires ${e.fireAt ? time(e.fireAt) : '?'}`;
        break;
      case 'timer_fired':
      case 'timer_cancelled':
        what = `timer ${e.timerId}`;
        break;
      case 'signal':
        what = `${e.signal}${e.eventType ? ` ${e.eventType}` : ''}${e.eventId ? ` (${e.eventId})` : ''}`;
        break;
      case 'started':
        what = `run ${e.runId}`;
        break;
      default:
        what = [e.reason, e.error].filter(Boolean).join(': ');
    }
    return `${time(e.at)}  ${e.kind.padEnd(18)}  ${what}`.trimEnd();
  });
}

export function showRun(d: RunDetail, now: number): string {
  const lines = [
    `${d.workflowId}`,
    `  journey   ${d.journeyId}@${d.version}    contact ${d.contactId}`,
    `  status    ${d.status} (Temporal: ${d.temporal.status}, ${d.temporal.historyLength} events)`,
    `  step      ${d.currentStep ?? '-'}${d.status === 'running' ? ` for ${formatDuration(now - new Date(d.updatedAt).getTime())}` : ''}`,
  ];
  if (d.pendingActivities.length > 0) {
    lines.push('', 'pending activities:');
    for (const p of d.pendingActivities) {
      lines.push(
        `  ${p.activityType} attempt ${p.attempt}${p.maximumAttempts ? `/${p.maximumAttempts}` : ''} (${p.state})${p.nextAttemptAt ? `, next attempt ${time(p.nextAttemptAt)}` : ''}`,
      );
      if (p.lastFailure) lines.push(`    last failure: ${p.lastFailure}`);
    }
  }
  lines.push('', `timeline${d.timelineTruncated ? ' (older entries left out)' : ''}:`, ...timelineLines(d.timeline).map((l) => `  ${l}`));
  return lines.join('\n');
}

const BULK_DONE: Record<string, string> = { cancel: 'cancelled', terminate: 'terminated', 'skip-wait': 'skipped the wait of', 'retry-now': 'retried', migrate: 'migrated' };

/** `[████░░░░] 50% 120/240 scanned · 100 cancelled · 2 skipped · 0 failed` (skipped: ended already, or the repair did not apply) */
export function bulkProgressLine(
  p: Pick<BulkProgress, 'action' | 'dryRun' | 'total' | 'scanned' | 'matched' | 'succeeded' | 'skipped' | 'failed'>,
  width = 24,
  rate?: { perSecond: number; etaSeconds: number | null },
): string {
  const done = BULK_DONE[p.action] ?? p.action;
  const counts =
    (p.dryRun ? `${count(p.matched)} would be ${done}` : `${count(p.succeeded)} ${done} · ${count(p.skipped)} skipped · ${count(p.failed)} failed`) + rateText(rate, 'runs');
  if (!p.total) return `${count(p.scanned)} scanned · ${counts}`;
  return `${bar(p.scanned, p.total, width)} ${count(p.scanned)}/${count(p.total)} scanned · ${counts}`;
}

export function replayLines(r: ReplayReport): string[] {
  const lines = r.results.map((x) => `${x.status === 'ok' ? '✓' : '✗'} ${x.workflowId} v${x.version} ${x.status}${x.error ? `: ${x.error.split('\n')[0]}` : ''}`);
  const t = r.totals;
  lines.push(
    `${t.ok} ok, ${t.nondeterministic} nondeterministic, ${t.failed} failed, ${t.unavailable} unavailable${t.notReplayed ? `, ${t.notReplayed} not replayed${r.timedOut ? ' (timed out)' : ''}` : ''}`,
  );
  return lines;
}

type Common = { api?: string; key?: string };

/** `-o json|table` (and `--json`, its older spelling): how a command prints what the API answered. */
export type OutputFormat = 'json' | 'table';
export function outputFormat(o: { output?: string; json?: boolean }): OutputFormat {
  if (o.output === undefined) return o.json ? 'json' : 'table';
  if (o.output !== 'json' && o.output !== 'table') throw new CliError(`-o/--output: "${o.output}" is not json or table`);
  if (o.json && o.output !== 'json') throw new CliError('--json and -o table contradict each other');
  return o.output;
}
export const outputOption = (cmd: Command): Command =>
  cmd.option('-o, --output <format>', 'json or table (default: table)').option('--json', 'the same as -o json');

/**
 * A workflow id as the user typed it — whole, or a prefix only one run has (`journey:welcome:3f2a`). A whole id wins
 * over longer ids it is a prefix of; several matches are refused with the candidates.
 */
export async function resolveWorkflowId(target: ApiTarget, given: string): Promise<string> {
  const q = new URLSearchParams({ workflowIdPrefix: given, limit: '6' });
  const list = await call<RunList>(target, 'GET', `/v1/runs?${q.toString()}`);
  const ids = list.items.map((r) => r.workflowId);
  if (ids.includes(given)) return given;
  if (ids.length === 1) return ids[0]!;
  if (ids.length === 0) throw new CliError(`no run's workflow id is or starts with "${given}" (itinera runs ls lists them)`);
  const shown = ids.slice(0, 5).map((id) => `  ${id}`);
  throw new CliError(`"${given}" is the start of several runs' ids; give more of it:\n${shown.join('\n')}${list.nextCursor || ids.length > 5 ? '\n  …' : ''}`);
}
type FilterOpts = { journey?: string; version?: string; step?: string; status?: string; contact?: string; stuck?: boolean; minAttempts?: string; grace?: string };

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`${name}: not a whole number: ${v}`);
  return n;
}

function listQuery(o: FilterOpts & { limit?: string }): URLSearchParams {
  const q = new URLSearchParams();
  if (o.journey) q.set('journeyId', o.journey);
  if (o.version) q.set('version', String(int('--version', o.version)));
  if (o.step) q.set('step', o.step);
  if (o.status) q.set('status', o.status);
  if (o.contact) q.set('contactId', o.contact);
  if (o.stuck) q.set('stuck', 'true');
  if (o.minAttempts) q.set('minAttempts', String(int('--min-attempts', o.minAttempts)));
  if (o.grace) q.set('graceSeconds', String(int('--grace', o.grace)));
  if (o.limit) q.set('limit', String(int('--limit', o.limit)));
  return q;
}

function bulkFilter(o: FilterOpts): Record<string, unknown> {
  return {
    ...(o.journey ? { journeyId: o.journey } : {}),
    ...(o.version ? { version: int('--version', o.version) } : {}),
    ...(o.step ? { step: o.step } : {}),
    ...(o.contact ? { contactId: o.contact } : {}),
    ...(o.stuck ? { stuck: true } : {}),
    ...(o.minAttempts ? { minAttempts: int('--min-attempts', o.minAttempts) } : {}),
    ...(o.grace ? { graceSeconds: int('--grace', o.grace) } : {}),
  };
}

async function followBulk(target: ApiTarget, started: BulkProgress): Promise<void> {
  process.stdout.write(`bulk ${started.action} ${started.bulkId} started${started.dryRun ? ' (dry run)' : ''}\n`);
  const tty = process.stdout.isTTY;
  let last = '';
  const meter = new RateMeter();
  for (;;) {
    const p = await call<BulkProgress>(target, 'GET', `/v1/runs/bulk/${encodeURIComponent(started.bulkId)}`);
    const line = bulkProgressLine(p, 24, p.status === 'running' ? meter.sample(p.scanned, p.total) : undefined);
    if (line !== last) process.stdout.write(tty ? `\r${line}` : `${line}\n`);
    last = line;
    if (p.status !== 'running') {
      if (tty) process.stdout.write('\n');
      for (const e of p.notes ?? []) process.stdout.write(`  skipped ${e.workflowId}: ${e.message}\n`);
      for (const e of p.errors) process.stdout.write(`  failed ${e.workflowId}: ${e.message}\n`);
      process.stdout.write(`bulk ${p.status}\n`);
      if (p.status === 'failed') throw new Error(`bulk action failed: ${p.error ?? 'unknown error'}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function filterOptions(cmd: Command): Command {
  return cmd
    .option('--journey <id>', 'journey id')
    .option('--version <n>', 'journey version')
    .option('--step <id>', 'current step id')
    .option('--contact <uuid>', 'contact id')
    .option('--stuck', 'only runs that look stuck (an activity retrying, or overdue in their step)')
    .option('--min-attempts <n>', 'with --stuck: a pending activity on this attempt or later (default 3)')
    .option('--grace <seconds>', 'with --stuck: time beyond what a step allows (default 600)');
}

function apiOptions(cmd: Command): Command {
  return cmd.option('--api <url>', 'itinera API base URL').option('--key <key>', 'API key with the ops role');
}

type RunAction = 'cancel' | 'terminate' | 'skip' | 'retry' | 'migrate';
type ActionOpts = FilterOpts & Common & { all?: boolean; dryRun?: boolean; reason?: string; to?: string; from?: string };

/** Each run action: its API path for one run, its bulk action name, and what it prints for one run. */
const RUN_ACTIONS: Record<RunAction, { path: string; bulk: string; describe: string; one: (workflowId: string, r: Record<string, unknown>) => string }> = {
  cancel: { path: 'cancel', bulk: 'cancel', describe: 'cancel a run gracefully (it records itself cancelled)', one: (id) => `${id}: cancellation requested` },
  terminate: { path: 'terminate', bulk: 'terminate', describe: 'terminate a run at once; needs --reason', one: (id, r) => `${id}: ${String(r.status)}` },
  skip: {
    path: 'skip-wait',
    bulk: 'skip-wait',
    describe: "end a run's current wait now (a wait moves on; an event wait takes its timeout branch)",
    one: (id, r) => `skipped the wait in step ${String(r.skippedStep)} of ${id}`,
  },
  retry: {
    path: 'retry-now',
    bulk: 'retry-now',
    describe: "retry a run's failing activities now instead of after their back-off (once the cause is fixed)",
    one: (_id, r) => (r.activities as { type: string; attempt: number }[]).map((a) => `retrying ${a.type} now (was on attempt ${a.attempt})`).join('\n'),
  },
  migrate: {
    path: 'migrate',
    bulk: 'migrate',
    describe: 'move a running run to a newer version of its journey (default: the latest; --to picks one)',
    one: (id, r) => `migrated ${id} from version ${String(r.from)} to ${String(r.to)}`,
  },
};

/** A run action on one run by id, or with --all on every running run the filters select (in the background, with a progress bar). */
function registerAction(runs: Command, action: RunAction) {
  const spec = RUN_ACTIONS[action];
  const cmd = runs
    .command(action)
    .description(`${spec.describe}, or with --all every running run the filters select`)
    .argument('[workflowId]', 'the run: its whole workflow id or a prefix only one run has (omit with --all)')
    .option('--all', 'act on every running run the filters select, in the background, with a progress bar')
    .option('--dry-run', 'with --all: count what would be acted on, act on nothing');
  if (action === 'terminate') cmd.option('--reason <text>', 'why (recorded in Temporal)');
  if (action === 'migrate') cmd.option('--to <n>', 'target version (default: the latest)');
  filterOptions(cmd);
  apiOptions(cmd).action(async (workflowId: string | undefined, o: ActionOpts) => {
    if (action === 'terminate' && !o.reason) throw new CliError('--reason: a termination needs a reason');
    if (workflowId && o.all) throw new CliError('give a workflow id or --all, not both');
    const filters = (['journey', 'version', 'step', 'contact', 'stuck', 'minAttempts', 'grace'] as const).filter((k) => o[k] !== undefined);
    if (workflowId && filters.length > 0) {
      throw new CliError(`filters (${filters.join(', ')}) select runs only with --all${action === 'migrate' && o.version ? '; the target version of a migration is --to' : ''}`);
    }
    const to = int('--to', o.to);
    if (to === 0) throw new CliError('--to: versions start at 1');
    const target = apiTarget(o);
    if (workflowId) {
      const id = await resolveWorkflowId(target, workflowId);
      const body = action === 'terminate' ? { reason: o.reason } : action === 'migrate' && to !== undefined ? { version: to } : {};
      const r = await call<Record<string, unknown>>(target, 'POST', `/v1/runs/${encodeURIComponent(id)}/${spec.path}`, body);
      process.stdout.write(`${spec.one(id, r ?? {})}\n`);
      return;
    }
    if (!o.all) throw new CliError(`give a workflow id, or --all with filters (e.g. itinera runs ${action} --journey welcome --all)`);
    const started = await call<BulkProgress>(target, 'POST', '/v1/runs/bulk', {
      action: spec.bulk,
      filter: bulkFilter(o),
      dryRun: o.dryRun ?? false,
      ...(o.reason ? { reason: o.reason } : {}),
      ...(to !== undefined ? { version: to } : {}),
    });
    await followBulk(target, started);
  });
}

export function registerRunsCommands(program: Command) {
  const runs = program.command('runs').description('inspect and act on journey runs: list, show, skip a wait, retry now, move, migrate, cancel, terminate, replay');

  apiOptions(filterOptions(runs.command('ls').description('list runs, newest first (--stuck: only the stuck ones, and why)')))
    .option('--status <status>', 'running, completed, exited, goal, failed, cancelled or terminated')
    .option('--limit <n>', 'at most this many', '50')
    .option('-o, --output <format>', 'json or table (default: table)')
    .option('--json', 'the same as -o json')
    .action(async (o: FilterOpts & Common & { limit?: string; json?: boolean; output?: string }) => {
      const format = outputFormat(o);
      const list = await call<RunList>(apiTarget(o), 'GET', `/v1/runs?${listQuery(o).toString()}`);
      if (format === 'json') {
        process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        return;
      }
      process.stdout.write(list.items.length > 0 ? `${runsTable(list.items, Date.now(), { stuck: o.stuck ?? false })}\n` : 'no runs\n');
      if (list.inspection?.capped) process.stdout.write(`(inspected the first ${list.inspection.limit} running runs only; narrow the filters)\n`);
      if (list.nextCursor) process.stdout.write('(more: raise --limit or narrow the filters)\n');
    });

  outputOption(apiOptions(runs.command('show').description('one run: status, pending activities with their last failure, and its timeline').argument('<workflowId>', 'the whole workflow id, or a prefix only one run has')))
    .action(async (workflowId: string, o: Common & { json?: boolean; output?: string }) => {
      const format = outputFormat(o);
      const target = apiTarget(o);
      const d = await call<RunDetail>(target, 'GET', `/v1/runs/${encodeURIComponent(await resolveWorkflowId(target, workflowId))}`);
      process.stdout.write(format === 'json' ? `${JSON.stringify(d, null, 2)}\n` : `${showRun(d, Date.now())}\n`);
    });

  apiOptions(runs.command('move').description('move a waiting run to another step of its version').argument('<workflowId>', 'the whole workflow id, or a prefix only one run has').argument('<stepId>'))
    .action(async (workflowId: string, stepId: string, o: Common) => {
      const target = apiTarget(o);
      const id = await resolveWorkflowId(target, workflowId);
      const r = await call<{ from: string; to: string }>(target, 'POST', `/v1/runs/${encodeURIComponent(id)}/move`, { stepId });
      process.stdout.write(`moved ${id} from ${r.from} to ${r.to}\n`);
    });

  for (const action of ['skip', 'retry', 'migrate', 'cancel', 'terminate'] as const) registerAction(runs, action);

  apiOptions(runs.command('replay').description("replay a journey's latest runs against the current workflow code; exit 1 on any nondeterminism").argument('<journeyId>'))
    .option('--limit <n>', 'runs to replay, newest first (1-200)', '20')
    .option('--version <n>', 'only runs of this version')
    .action(async (journeyId: string, o: Common & { limit: string; version?: string }) => {
      const r = await call<ReplayReport>(apiTarget(o), 'POST', `/v1/journeys/${encodeURIComponent(journeyId)}/replay`, {
        limit: int('--limit', o.limit),
        ...(o.version ? { version: int('--version', o.version) } : {}),
      });
      for (const line of replayLines(r)) process.stdout.write(`${line}\n`);
      if (r.totals.nondeterministic > 0) throw new CliError(`${r.totals.nondeterministic} run(s) would not replay on the current workflow code`);
      if (r.totals.failed > 0) throw new Error(`${r.totals.failed} replay(s) failed for another reason`);
    });
}
