/**
 * `itinera journeys publish | launch | stats` — through the running API (publish also `--direct` into the database).
 * Exit codes: 0 ok, 1 invalid input (bad journey, archived journey, unknown id), 2 system error.
 */
import type { Command } from 'commander';
import type { JourneyStats } from '../db/stats';
import { apiTarget, call } from './api-client';
import { CliError } from './errors';
import { outputFormat } from './runs';
import { registerLaunchCommand } from './launch';
import { addPublishCommand } from './publish';

function table(header: string[], rows: (string | number)[][]): string[] {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  // Text left, numbers right: columns of counts line up.
  const fmt = (r: string[]) => r.map((c, i) => (/^-?[\d.]+%?$|^—$/.test(c) && i > 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [fmt(header), widths.map((w) => '─'.repeat(w)).join('  '), ...cells.slice(1).map(fmt)];
}

/** The report as plain-text tables, for a terminal. */
export function formatStats(s: JourneyStats): string {
  const out: string[] = [];
  out.push(`${s.journeyId} ${s.version === null ? '(all versions)' : `v${s.version}`}: ${s.entered.runs} runs entered by ${s.entered.contacts} contacts`);
  out.push('');
  out.push(...table(['step', 'type', 'entered', 'passed', 'waiting', 'exited here'], s.steps.map((x) => [x.stepId, x.type ?? '—', x.entered, x.passed, x.waiting, x.exitedHere])));
  out.push('');
  out.push(`runs: ${Object.entries(s.runs.byStatus).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
  const statuses = [...new Set(Object.values(s.messages.byChannel).flatMap((c) => Object.keys(c)))];
  if (statuses.length) {
    out.push('');
    out.push(...table(['channel', ...statuses], Object.entries(s.messages.byChannel).map(([ch, c]) => [ch, ...statuses.map((st) => c[st] ?? 0)])));
  }
  out.push(`email engagement: opened ${s.messages.opened}, clicked ${s.messages.clicked}, unsubscribed ${s.messages.unsubscribed}`);
  if (s.goals.length) {
    out.push('');
    out.push(...table(['goal', 'conversions', 'contacts', 'value'], s.goals.map((g) => [g.goal, g.conversions, g.contacts, g.value])));
  }
  for (const split of s.splits) {
    out.push('');
    out.push(`split ${split.splitId}: each arm against ${split.control ?? '—'} (${split.test}; rates with 95% Wilson intervals)`);
    const pct = (x: number) => `${+(x * 100).toFixed(1)}%`;
    const rows = split.arms.flatMap((a) =>
      (a.goals.length ? a.goals : [undefined]).map((g) => [
        `${a.arm}${a.holdout ? ' (holdout)' : ''}${a.control ? ' *' : ''}`,
        a.entered,
        a.holdout ? a.messagesHeldOut : '—',
        g?.goal ?? '—',
        g?.conversions ?? '—',
        g?.rate == null ? '—' : pct(g.rate),
        g?.interval ? `${pct(g.interval.low)}–${pct(g.interval.high)}` : '—',
        !g?.vsControl ? '—' : g.vsControl.lift === null ? `${g.vsControl.difference >= 0 ? '+' : ''}${+(g.vsControl.difference * 100).toFixed(1)} pts` : `${g.vsControl.lift >= 0 ? '+' : ''}${pct(g.vsControl.lift)}`,
        !g?.vsControl ? '—' : g.vsControl.tooSmall ? 'too small' : g.vsControl.pValue! < 0.0001 ? '<0.0001' : g.vsControl.pValue!.toFixed(4),
      ]),
    );
    out.push(...table(['arm', 'entered', 'held back', 'goal', 'conversions', 'rate', '95% interval', 'lift', 'p'], rows));
    const reasons = [...new Set(split.arms.flatMap((a) => a.goals.flatMap((g) => (g.vsControl?.tooSmall ? [g.vsControl.reason!] : []))))];
    for (const r of reasons) out.push(`too small to judge: ${r}`);
  }
  out.push(`MQLs: ${s.mqls.contacts} contacts became MQL after entering, ${s.mqls.handoffs} sales handoffs`);
  const r = s.roi;
  out.push(
    `ROI: revenue ${r.revenue} ${r.currency} (${r.deals} deals${r.windowMs !== null ? ', within the goal window' : ''}) − cost ${r.cost} ${r.currency}${r.campaignCost ? ` (incl. campaign ${r.campaignCost})` : ''} = ${
      r.roi === null ? '— (no cost)' : `${(r.roi * 100).toFixed(1)}%`
    }`,
  );
  return out.join('\n');
}

export function registerJourneysCommands(program: Command) {
  const journeys = program.command('journeys').description('published journeys: publish versions, launch to an audience, read statistics');
  addPublishCommand(journeys);
  registerLaunchCommand(journeys);
  journeys
    .command('stats')
    .description('per-step funnel, runs, messages, goals, split arms (conversion rates, lift, p-values), MQLs and ROI of a journey')
    .argument('<id>', 'journey id')
    .option('--version <n>', 'one version (default: all versions)')
    .option('-o, --output <format>', 'json or table (default: table)')
    .option('--json', 'the same as -o json')
    .option('--api <url>', 'itinera API base URL')
    .option('--key <key>', 'API key with the marketer role')
    .action(async (id: string, opts: { version?: string; json?: boolean; output?: string; api?: string; key?: string }) => {
      const format = outputFormat(opts);
      let version: number | undefined;
      if (opts.version !== undefined) {
        version = Number(opts.version);
        if (!Number.isInteger(version) || version < 1) throw new CliError(`--version: "${opts.version}" is not a version number`);
      }
      const q = version !== undefined ? `?version=${version}` : '';
      const stats = await call<JourneyStats>(apiTarget(opts), 'GET', `/v1/journeys/${encodeURIComponent(id)}/stats${q}`);
      process.stdout.write(`${format === 'json' ? JSON.stringify(stats, null, 2) : formatStats(stats)}\n`);
    });
}
