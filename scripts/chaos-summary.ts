// Merges the chaos suite's parts (bench/results/chaos-parts/*.json: one per scenario, plus security.json from the
// API fuzz suite) into bench/results/chaos.json and returns the one-line summary. The chaos project's global teardown
// calls it; `tsx scripts/chaos-summary.ts` re-prints the line from the parts on disk.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const RESULTS = fileURLToPath(new URL('../bench/results', import.meta.url));
export const CHAOS_PARTS_DIR = path.join(RESULTS, 'chaos-parts');
export const CHAOS_SUMMARY_FILE = path.join(RESULTS, 'chaos.json');

type ScenarioPart = {
  part: string;
  mode: string;
  journeys: number;
  completed: number;
  lost: number;
  emails: { duplicates: number; resentSameMessageId: number; strictDuplicates?: number };
  webhooks: { duplicatesApplied: number; rawRetries: number };
  timings?: { wallMs: number };
};
type SecurityPart = { fuzz_cases: number; server_errors: number; authz_cases: number; authz_failures: number };

/** @param since only parts written at or after this time (ms): the current run's, not a previous run's. */
export function mergeChaosParts(since = 0): { line: string; summary: Record<string, unknown> } | undefined {
  if (!existsSync(CHAOS_PARTS_DIR)) return undefined;
  const parts = readdirSync(CHAOS_PARTS_DIR)
    .filter((f) => f.endsWith('.json') && statSync(path.join(CHAOS_PARTS_DIR, f)).mtimeMs >= since)
    .sort()
    .map((f) => JSON.parse(readFileSync(path.join(CHAOS_PARTS_DIR, f), 'utf8')) as Record<string, unknown>);
  if (parts.length === 0) return undefined;
  const scenarios = parts.filter((p): p is ScenarioPart => typeof p.journeys === 'number');
  const security = parts.find((p) => p.part === 'security' || typeof p.fuzz_cases === 'number') as SecurityPart | undefined;
  const sum = (f: (p: ScenarioPart) => number) => scenarios.reduce((n, p) => n + f(p), 0);
  const summary = {
    journeys: sum((p) => p.journeys),
    completed: sum((p) => p.completed),
    lost: sum((p) => p.lost),
    duplicate_emails: sum((p) => p.emails.duplicates),
    /** Same Message-ID re-sent after an attempt died between the server's 250 and our record of it (SMTP cannot tell). */
    resent_same_message_id: sum((p) => p.emails.resentSameMessageId),
    /** Exactly-once counted strictly: every second delivery a receiver sees, whatever its Message-ID. */
    duplicate_emails_strict: sum((p) => p.emails.strictDuplicates ?? p.emails.duplicates + p.emails.resentSameMessageId),
    duplicate_webhooks_applied: sum((p) => p.webhooks.duplicatesApplied),
    raw_webhook_retries: sum((p) => p.webhooks.rawRetries),
    fuzz_cases: security?.fuzz_cases ?? 0,
    server_errors: security?.server_errors ?? 0,
    authz_cases: security?.authz_cases ?? 0,
    authz_failures: security?.authz_failures ?? 0,
    fuzz_run: security !== undefined,
    modes: [...new Set(scenarios.map((p) => p.mode))],
    parts: Object.fromEntries(parts.map((p) => [String(p.part), p])),
  };
  writeFileSync(CHAOS_SUMMARY_FILE, `${JSON.stringify(summary, null, 2)}\n`);
  const line =
    `chaos: journeys=${summary.journeys} completed=${summary.completed} lost=${summary.lost} duplicate_emails=${summary.duplicate_emails} ` +
    `duplicate_webhooks_applied=${summary.duplicate_webhooks_applied} raw_webhook_retries=${summary.raw_webhook_retries} ` +
    `fuzz_cases=${summary.fuzz_cases} server_errors=${summary.server_errors}` +
    // Shown on the line, not only in chaos.json: these are second deliveries a receiver sees (with one Message-ID).
    ` resent_same_message_id=${summary.resent_same_message_id} duplicate_emails_strict=${summary.duplicate_emails_strict}` +
    (security ? '' : ' (fuzz not run)');
  return { line, summary };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const merged = mergeChaosParts();
  process.stdout.write(merged ? `${merged.line}\n` : `no chaos parts in ${CHAOS_PARTS_DIR}\n`);
}
