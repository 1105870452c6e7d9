import { ConfigError } from '../config';
import { safeError } from '../log-safety';

/**
 * Runs an entry point's `main`: a configuration mistake prints its message alone and exits 1, anything else prints
 * `<failure>: <stack>` and exits 2. What `npm start`, `npm run worker` and `npm run api` each did by hand.
 */
export function runEntryPoint(opts: { main: () => Promise<void>; failure: string }): void {
  opts.main().catch((err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    // Masked like every log line: a failed query's message carries its parameters, a Postgres error's detail the row.
    const safe = safeError(err);
    process.stderr.write(`${opts.failure}: ${safe.stack ?? `${safe.type}: ${safe.message}`}${safe.cause ? ` (cause: ${safe.cause.type}: ${safe.cause.message})` : ''}\n`);
    process.exit(2);
  });
}
