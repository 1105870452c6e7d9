import { Context } from '@temporalio/activity';

/** The activity's logger inside a worker (with workflow/activity ids attached); the console when called directly. */
export function activityLog(level: 'info' | 'warn' | 'error', message: string, attrs: Record<string, unknown> = {}): void {
  let logger: Context['log'] | undefined;
  try {
    logger = Context.current().log;
  } catch {
    logger = undefined;
  }
  if (logger) logger[level](message, attrs);
  else console[level](`[activity] ${message}`, attrs);
}
