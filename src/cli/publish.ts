import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { JourneyArchivedError, publishJourney } from '../publishing/journeys';
import { ValidationError } from '../errors';
import { formatLocated, type JourneyError } from '../journey/compiler';
import { loadTemplateCatalog } from '../templates/catalog';
import { createLogger } from '../logger';
import { openMigratedDatabase } from '../wiring/database';
import { TEMPLATES_DIR } from '../paths';
import { parseYamlDocument } from '../yaml-document';
import { apiTarget, call, find, type ApiTarget } from './api-client';
import { CliError } from './errors';

type Issue = { path: string; message: string; line?: number; column?: number };
type Saved = { validation: { valid: boolean; errors: Issue[]; warnings: Issue[] } };
type Published = { journeyId: string; version: number; contentHash: string; created: boolean; warnings: Issue[] };

/** The file as the user reads it: relative to the working directory when inside it. */
const shownPath = (file: string) => {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
};

const located = (file: string, i: Issue) => formatLocated({ file, path: i.path, message: i.message, ...(i.line !== undefined ? { line: i.line, column: i.column ?? 1 } : {}) } satisfies JourneyError);

/** The journey id a file declares, read without compiling (the server compiles it). */
function declaredId(file: string, source: string): string {
  const { doc, problems } = parseYamlDocument(source);
  const syntax = problems.find((p) => p.kind === 'syntax');
  if (syntax) throw new CliError(`${file}:${syntax.line}:${syntax.col}: YAML syntax error: ${syntax.message.replace(/ at line \d+, column \d+:?$/, '')}`);
  const id = doc.get('id');
  if (typeof id !== 'string' || id === '') throw new CliError(`${file}:1:1: id: is required (the journey's id)`);
  return id;
}

/**
 * Publishes one file through the running API: its text becomes the journey's draft (created if new), then the draft
 * is published. Compiler errors come back with their line and column and are printed against the local file.
 */
async function publishThroughApi(target: ApiTarget, file: string, out: (s: string) => void, err: (s: string) => void): Promise<boolean> {
  const shown = shownPath(file);
  if (!existsSync(file) || !statSync(file).isFile()) throw new CliError('no such file');
  const source = readFileSync(file, 'utf8');
  const id = declaredId(shown, source);
  const url = `/v1/journeys/${encodeURIComponent(id)}`;
  const saved = (await find(target, url))
    ? await call<Saved>(target, 'PUT', `${url}/draft`, { source })
    : await call<Saved>(target, 'POST', '/v1/journeys', { source });
  for (const w of saved.validation.warnings) err(`  warning: ${located(shown, w)}`);
  if (!saved.validation.valid) {
    err(`✗ ${shown}`);
    for (const e of saved.validation.errors) err(`  ${located(shown, e)}`);
    return false;
  }
  const r = await call<Published>(target, 'POST', `${url}/publish`);
  out(`${r.created ? '✓ published' : '= unchanged'} ${r.journeyId} v${r.version} (${r.contentHash.slice(0, 19)})`);
  return true;
}

/** Publishes straight into the configured database (a deploy job with no API running). */
async function publishDirect(files: string[], templatesDir: string, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const config = loadConfig();
  const database = await openMigratedDatabase({ config, log: createLogger('warn') });
  const templates = await loadTemplateCatalog(templatesDir);
  let failed = 0;
  try {
    for (const file of files) {
      try {
        const r = await publishJourney(database.db, readFileSync(file, 'utf8'), { file: shownPath(file), templates, publishedBy: 'cli', outboundAllow: config.outboundAllow, topics: config.mail.topics });
        out(`${r.created ? '✓ published' : '= unchanged'} ${r.journeyId} v${r.version} (${r.contentHash.slice(0, 19)})`);
      } catch (e) {
        if (!(e instanceof ValidationError || e instanceof JourneyArchivedError)) throw e;
        failed++;
        err(`✗ ${e.message}`);
      }
    }
  } finally {
    await database.close();
  }
  return failed;
}

/** `itinera publish` and `itinera journeys publish` (the same command, under the name each audience looks for). */
export function addPublishCommand(parent: Command) {
  parent
    .command('publish')
    .description('publish journeys as new immutable versions through the running API (identical content keeps its version)')
    .argument('<files...>', 'journey files')
    .option('--api <url>', 'itinera API base URL')
    .option('--key <key>', 'API key with the marketer role')
    .option('--direct', "no API: write into the configured database (DATABASE_URL, or the embedded one when nothing else has it open), with this machine's templates")
    .option('--templates <dir>', `with --direct: template directory (default: ${TEMPLATES_DIR}); through the API the server's templates are used`)
    .action(async (files: string[], opts: { api?: string; key?: string; direct?: boolean; templates?: string }) => {
      const out = (s: string) => process.stdout.write(`${s}\n`);
      const err = (s: string) => process.stderr.write(`${s}\n`);
      let failed = 0;
      if (opts.direct) {
        if (opts.api !== undefined || opts.key !== undefined) throw new CliError('--direct writes into the database: --api and --key do not apply');
        failed = await publishDirect(files, opts.templates ?? TEMPLATES_DIR, out, err);
      } else {
        if (opts.templates !== undefined) throw new CliError('--templates applies with --direct only: through the API the server compiles with its own templates');
        const target = apiTarget(opts);
        for (const file of files) {
          try {
            if (!(await publishThroughApi(target, file, out, err))) failed++;
          } catch (e) {
            // A journey the API refuses (archived, another id) fails alone; an unreachable API stops the command.
            if (!(e instanceof CliError)) throw e;
            failed++;
            err(`✗ ${shownPath(file)}: ${e.message}`);
          }
        }
      }
      if (failed) throw new CliError(`${failed} of ${files.length} journeys were not published`);
    });
}
