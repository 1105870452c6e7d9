/**
 * `itinera contacts import FILE` — uploads a CSV or JSON Lines file to `POST /v1/imports` (so it works against the
 * embedded single-process database too) and follows the import's progress, with its rate and ETA, until it ends.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { apiTarget, call, download, upload } from './api-client';
import { CliError } from './errors';
import { bar, count as n, eta } from './progress';

type Import = {
  importId: string;
  status: string;
  dryRun: boolean;
  encoding: 'utf-8' | 'gbk';
  totalRows: number;
  rowsDone: number;
  created: number;
  updated: number;
  merged: number;
  rejected: number;
  rowsPerSecond: number;
  etaSeconds: number | null;
  rejectsUrl: string;
  launchId?: string | null;
  error: string | null;
};


/** `[██████░░░░] 61% 3,050/5,000 rows · 3,000 created · 20 updated · 10 merged · 20 rejected · 180 rows/s · ETA 11s` */
export function importProgressLine(i: Import, width = 24): string {
  const verb = i.dryRun ? 'would be ' : '';
  return (
    // An empty file is complete.
    `${i.totalRows ? bar(i.rowsDone, i.totalRows, width) : bar(1, 1, width)} ${n(i.rowsDone)}/${n(i.totalRows)} rows · ` +
    `${n(i.created)} ${verb}created · ${n(i.updated)} ${verb}updated · ${n(i.merged)} ${verb}merged · ${n(i.rejected)} rejected · ${n(i.rowsPerSecond)} rows/s` +
    (i.etaSeconds !== null ? ` · ETA ${eta(i.etaSeconds)}` : '')
  );
}

const CONTENT_TYPE: Record<string, string> = { csv: 'text/csv', jsonl: 'application/x-ndjson' };

/** `import` under the `contacts` command (contacts.ts). */
export function addContactImportCommand(contacts: Command) {
  contacts
    .command('import')
    .description('import contacts from a CSV or JSON Lines file (dedupe, cleaning, merge as PUT /v1/contacts), and follow the progress')
    .argument('<file>', 'a CSV file with a header row, or JSON Lines (.jsonl/.ndjson)')
    .option('--mapping <file>', 'field mapping as JSON: { "columns": { "<column>": "<field>" | { "field", "trim", "lower", "map", "split", "date" } } }')
    .option('--dry-run', 'plan and count every row, write no contact')
    .option('--format <format>', 'csv or jsonl (default: from the file name)')
    .option('--encoding <encoding>', 'utf-8 or gbk (default: utf-8, or gbk when the file is not valid utf-8 but is valid gbk)')
    .option('--delimiter <char>', 'CSV delimiter (default: a comma)')
    .option('--country <code>', 'region of national phone numbers', 'CN')
    .option('--precedence <keys>', 'which key picks the contact a row updates', 'externalId,email,phone')
    .option('--duplicates <how>', 'rows sharing a key with an earlier row: merge or reject', 'merge')
    .option('--journey <id>', "once written, enrol the imported contacts into this journey's latest version (an audience launch)")
    .option('--rejects <file>', 'write the rejected rows (with _row, _column, _reason) to this file when done')
    .option('--no-wait', 'print the import id and return at once')
    .option('--api <url>', 'itinera API base URL')
    .option('--key <key>', 'API key with the marketer role')
    .action(async (file: string, opts: { mapping?: string; dryRun?: boolean; format?: string; encoding?: string; delimiter?: string; country: string; precedence: string; duplicates: string; rejects?: string; journey?: string; wait: boolean; api?: string; key?: string }) => {
      if (!existsSync(file)) throw new CliError(`${file}: no such file`);
      const format = opts.format ?? (/\.(jsonl|ndjson)$/i.test(file) ? 'jsonl' : /\.csv$/i.test(file) ? 'csv' : undefined);
      if (!format || !CONTENT_TYPE[format]) throw new CliError(`--format: say csv or jsonl (the file name ${path.basename(file)} does not)`);
      const query = new URLSearchParams({ format, country: opts.country, precedence: opts.precedence, duplicates: opts.duplicates, fileName: path.basename(file).slice(0, 300) });
      if (opts.encoding) query.set('encoding', opts.encoding);
      if (opts.dryRun) query.set('dryRun', 'true');
      if (opts.delimiter) query.set('delimiter', opts.delimiter);
      if (opts.journey) query.set('journey', opts.journey);
      if (opts.mapping) {
        let text: string;
        try {
          text = readFileSync(opts.mapping, 'utf8');
          JSON.parse(text);
        } catch (err) {
          throw new CliError(`--mapping: ${(err as Error).message}`);
        }
        query.set('mapping', JSON.stringify(JSON.parse(text)));
      }
      const target = apiTarget(opts);
      const started = await upload<Import>(target, `/v1/imports?${query}`, file, CONTENT_TYPE[format]!);
      process.stdout.write(`import ${started.importId} started${started.dryRun ? ' (dry run: nothing is written)' : ''}; read as ${started.encoding}${opts.encoding ? '' : ' (detected)'}\n`);
      if (!opts.wait) return;
      const tty = process.stdout.isTTY;
      let last = '';
      for (;;) {
        const i = await call<Import>(target, 'GET', `/v1/imports/${encodeURIComponent(started.importId)}`);
        const line = importProgressLine(i);
        if (line !== last) process.stdout.write(tty ? `\r${line}` : `${line}\n`);
        last = line;
        if (i.status !== 'running') {
          if (tty) process.stdout.write('\n');
          process.stdout.write(`import ${i.status}\n`);
          if (i.rejected > 0) {
            if (opts.rejects) {
              writeFileSync(opts.rejects, await download(target, i.rejectsUrl));
              process.stdout.write(`${n(i.rejected)} rejected rows written to ${opts.rejects}\n`);
            } else process.stdout.write(`${n(i.rejected)} rejected rows: GET ${i.rejectsUrl} (or pass --rejects FILE)\n`);
          }
          if (i.status === 'failed') throw new Error(`import failed: ${i.error ?? 'unknown error'}`);
          if (i.status === 'completed' && i.launchId) process.stdout.write(`enrolling the imported contacts: launch ${i.launchId} (progress: GET /v1/launches/${i.launchId})\n`);
          return;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    });
}
