import { ConfigError } from '../config';

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
    process.stderr.write(`${opts.failure}: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(2);
  });
}
