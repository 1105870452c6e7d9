/**
 * `itinera journeys launch <id>` — starts an audience launch through the running API (so it works against the
 * embedded single-process database too) and follows its progress until it ends.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { CliError } from './errors';

type Launch = { launchId: string; status: string; scanned: number; total: number; enrolled: number; skipped: number; skipReasons: Record<string, number>; error: string | null };

/** API base and key: flags, then ITINERA_API_URL / ITINERA_API_KEY, then the embedded default's port and dev key. */
function apiTarget(opts: { api?: string; key?: string }): { base: string; key: string } {
  const config = loadConfig();
  const base = (opts.api ?? process.env.ITINERA_API_URL ?? `http://127.0.0.1:${config.port}`).replace(/\/$/, '');
  const devKeyFile = path.join(config.dataDir, 'dev-api-key');
  const key = opts.key ?? process.env.ITINERA_API_KEY ?? (existsSync(devKeyFile) ? readFileSync(devKeyFile, 'utf8').trim() : undefined);
  if (!key) throw new CliError('no API key: pass --key, set ITINERA_API_KEY, or run `npm start` once (it writes a development key)');
  return { base, key };
}

async function call<T>(target: { base: string; key: string }, method: string, url: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${target.base}${url}`, {
      method,
      headers: { Authorization: `Bearer ${target.key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new Error(`cannot reach the itinera API at ${target.base} (${(err as Error).message}); is it running?`);
  }
  const json = (await res.json().catch(() => ({}))) as T & { detail?: string; errors?: { path: string; message: string }[] };
  if (res.status >= 400 && res.status < 500) {
    const lines = [json.detail ?? `HTTP ${res.status}`, ...(json.errors ?? []).map((e) => `  ${e.path}: ${e.message}`)];
    throw new CliError(lines.join('\n'));
  }
  if (!res.ok) throw new Error(`the API answered ${res.status}: ${json.detail ?? 'server error'}`);
  return json;
}

/** `[██████░░░░] 61% 6,100/10,000 scanned · 5,490 enrolled · 610 skipped` */
export function progressLine(l: Pick<Launch, 'scanned' | 'enrolled' | 'skipped'>, total: number | undefined, width = 24): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const counts = `${n(l.enrolled)} enrolled · ${n(l.skipped)} skipped`;
  if (!total) return `${n(l.scanned)} scanned · ${counts}`;
  const f = Math.min(1, l.scanned / total);
  const filled = Math.round(f * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${Math.floor(f * 100)}% ${n(l.scanned)}/${n(total)} scanned · ${counts}`;
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
      for (;;) {
        const l = await call<Launch>(target, 'GET', `/v1/launches/${encodeURIComponent(started.launchId)}`);
        const line = progressLine(l, l.total);
        if (line !== last) process.stdout.write(tty ? `\r${line}` : `${line}\n`);
        last = line;
        if (l.status !== 'running') {
          if (tty) process.stdout.write('\n');
          for (const [reason, k] of Object.entries(l.skipReasons)) process.stdout.write(`  skipped ${k.toLocaleString('en-US')}: ${reason}\n`);
          process.stdout.write(`launch ${l.status}\n`);
          if (l.status === 'failed') throw new Error(`launch failed: ${l.error ?? 'unknown error'}`);
          return;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    });
}
