// `itinera` — the command line for marketers and ops. Exit codes: 0 ok, 1 invalid input, 2 system error.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config';
import { registerContactsCommands } from './contacts';
import { CliError } from './errors';
import { registerJourneyCommands } from './journey-commands';
import { registerJourneysCommands } from './journeys';
import { registerKeyCommands } from './keys';
import { addPublishCommand } from './publish';
import { registerRunsCommands } from './runs';

const program = new Command('itinera').description('itinera journey engine').exitOverride();
registerJourneyCommands(program);
addPublishCommand(program);
registerJourneysCommands(program);
registerKeyCommands(program);
registerRunsCommands(program);
registerContactsCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 1);
  if (err instanceof CliError || err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exit(2);
}
