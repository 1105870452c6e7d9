// Prints the path of the Temporal CLI, building it with Go when needed (see src/temporal/cli-binary.ts).
import { resolveTemporalBinary } from '../src/temporal/cli-binary';

try {
  const bin = await resolveTemporalBinary();
  if (bin.kind === 'path') {
    process.stdout.write(`${bin.path}\n`);
  } else {
    process.stdout.write('download\n');
  }
} catch (err) {
  process.stderr.write(`temporal: ${(err as Error).message}\n`);
  process.exit(2);
}
