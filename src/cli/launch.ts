/**
 * `itinera journeys launch <id>` — starts an audience launch through the running API (so it works against the
 * embedded single-process database too) and follows its progress until it ends.
 */
import type { Command } from 'commander';
import { apiTarget, call } from './api-client';
import { CliError } from './errors';
import { bar, count, RateMeter, rateText } from './progress';

type Launch = { launchId: string; status: string; scanned: number; total: number; enrolled: number; skipped: number; skipReasons: Record<string, number>; error: string | null };

/**
 * `[██████░░░░] 61% 6,100/10,000 contacts · 5,490 enrolled · 610 skipped · 98 contacts/s · ETA 40s` — counted in
 * contacts (each scanned contact is enrolled or skipped), with the rate and time left once they are known.
 */
export function progressLine(
  l: Pick<Launch, 'scanned' | 'enrolled' | 'skipped'>,
  total: number | undefined,
  width = 24,
  rate?: { perSecond: number; etaSeconds: number | null },
): string {
  const counts = `${count(l.enrolled)} enrolled · ${count(l.skipped)} skipped${rateText(rate, 'contacts')}`;
  if (!total) return `${count(l.scanned)} contacts · ${counts}`;
  return `${bar(l.scanned, total, width)} ${count(l.scanned)}/${count(total)} contacts · ${counts}`;
}

export function registerLaunchCommand(journeys: Command) {
  journeys
    .command('launch')
    .description('enrol every contact matching an audience into a journey, and follow the progress')
    .argument('<id>', 'journey id')
    .option('--filter <json>', 'audience condition in the journey language as JSON, e.g. \'{"field":"region","eq":"east"}\' (default: the journey\'s audience trigger)')
    .option('--consent <channel>', 'skip contacts who cannot be messaged on email or sms', 'none')
    .option('--rate <n>', 'contacts started per second at most', '100')
    .option('--version <n>', 'journey version (default: the latest)')
    .option('--no-wait', 'print the launch id and return at once')
    .option('--api <url>', 'itinera API base URL')
    .option('--key <key>', 'API key with the marketer role')
    .action(async (id: string, opts: { filter?: string; consent: string; rate: string; version?: string; wait: boolean; api?: string; key?: string }) => {
      const body: Record<string, unknown> = { consent: opts.consent, ratePerSecond: Number(opts.rate) };
      if (opts.version !== undefined) body.version = Number(opts.version);
      if (opts.filter !== undefined) {
        try {
          body.filter = JSON.parse(opts.filter);
        } catch {
          throw new CliError(`--filter: not valid JSON: ${opts.filter}`);
        }
      }
      const target = apiTarget(opts);
      const started = await call<Launch>(target, 'POST', `/v1/journeys/${encodeURIComponent(id)}/launches`, body);
      process.stdout.write(`launch ${started.launchId} started\n`);
      if (!opts.wait) return;
      const tty = process.stdout.isTTY;
      let last = '';
      const meter = new RateMeter();
      for (;;) {
        const l = await call<Launch>(target, 'GET', `/v1/launches/${encodeURIComponent(started.launchId)}`);
        const line = progressLine(l, l.total, 24, l.status === 'running' ? meter.sample(l.scanned, l.total) : undefined);
        if (line !== last) process.stdout.write(tty ? `\r${line}` : `${line}\n`);
        last = line;
        if (l.status !== 'running') {
          if (tty) process.stdout.write('\n');
          for (const [reason, k] of Object.entries(l.skipReasons)) process.stdout.write(`  skipped ${count(k)}: ${reason}\n`);
          process.stdout.write(`launch ${l.status}\n`);
          if (l.status === 'failed') throw new Error(`launch failed: ${l.error ?? 'unknown error'}`);
          return;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    });
}
