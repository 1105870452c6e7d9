import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { JourneyArchivedError, publishJourney } from '../publishing/journeys';
import { ValidationError } from '../errors';
import { loadTemplateCatalog } from '../templates/catalog';
import { createLogger } from '../logger';
import { openMigratedDatabase } from '../wiring/database';
import { TEMPLATES_DIR } from '../paths';
import { CliError } from './errors';

/** `itinera publish` and `itinera journeys publish` (the same command, under the name each audience looks for). */
export function addPublishCommand(parent: Command) {
  parent
    .command('publish')
    .description('publish journeys as new immutable versions (identical content keeps its version)')
    .argument('<files...>', 'journey files')
    .option('--templates <dir>', 'template directory', TEMPLATES_DIR)
    .action(async (files: string[], opts: { templates: string }) => {
      const config = loadConfig();
      const database = await openMigratedDatabase({ config, log: createLogger('warn') });
      const templates = loadTemplateCatalog(opts.templates);
      let failed = 0;
      try {
        for (const file of files) {
          try {
            const r = await publishJourney(database.db, readFileSync(file, 'utf8'), { file: path.relative(process.cwd(), file), templates, publishedBy: 'cli', outboundAllow: config.outboundAllow, topics: config.mail.topics });
            process.stdout.write(`${r.created ? '✓ published' : '= unchanged'} ${r.journeyId} v${r.version} (${r.contentHash.slice(0, 19)})\n`);
          } catch (err) {
            if (!(err instanceof ValidationError || err instanceof JourneyArchivedError)) throw err;
            failed++;
            process.stderr.write(`✗ ${err.message}\n`);
          }
        }
      } finally {
        await database.close();
      }
      if (failed) throw new CliError(`${failed} of ${files.length} journeys were not published`);
    });
}
