/** A mistake in what the user asked for: exit code 1. Anything else that fails is a system error: exit code 2. */
export class CliError extends Error {
  override name = 'CliError';
}
