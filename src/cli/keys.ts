import type { Command } from 'commander';
import { createApiKey, revokeApiKey, ROLES, type Role } from '../api/auth';
import { loadConfig } from '../config';
import { createLogger } from '../logger';
import { openMigratedDatabase } from '../wiring/database';
import { CliError } from './errors';

export function registerKeyCommands(program: Command) {
  const keys = program.command('keys').description('manage API keys');
  keys
    .command('create')
    .description('create an API key; it is shown once and stored only as a hash')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .option('--name <name>', 'a label for the key', 'cli')
    .action(async (opts: { role: string; name: string }) => {
      if (!ROLES.includes(opts.role as Role)) throw new CliError(`--role must be one of ${ROLES.join(', ')}, not "${opts.role}"`);
      const config = loadConfig();
      const database = await openMigratedDatabase({ config, log: createLogger('warn') });
      try {
        const key = await createApiKey(database.db, { name: opts.name, role: opts.role as Role });
        process.stdout.write(`${key.key}\n`);
        process.stderr.write(`created ${key.role} key "${key.name}" (id ${key.id}); store it now, it cannot be shown again\n`);
      } finally {
        await database.close();
      }
    });
  keys
    .command('revoke <id>')
    .description('revoke an API key by id')
    .action(async (id: string) => {
      const config = loadConfig();
      const database = await openMigratedDatabase({ config, log: createLogger('warn') });
      try {
        if (!(await revokeApiKey(database.db, id))) throw new CliError(`no active key with id ${id}`);
        process.stderr.write(`revoked ${id}\n`);
      } finally {
        await database.close();
      }
    });
}
