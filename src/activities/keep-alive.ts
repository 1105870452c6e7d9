import { Context } from '@temporalio/activity';

/**
 * Heartbeats every `everyMs` while a send runs, so the workflow's `heartbeatTimeout` (10 s) notices a worker that died
 * mid-send (kill -9, OOM, lost host) in seconds instead of after the whole start-to-close timeout: the chaos suite saw
 * runs stall a minute per worker kill. A send that is merely slow (a sluggish SMTP server) keeps heartbeating and
 * keeps its full start-to-close time. Outside a worker (tests calling activities directly) it just runs the function.
 */
export function keepAlive<A extends unknown[], R>(fn: (...args: A) => Promise<R>, everyMs = 2000): (...args: A) => Promise<R> {
  return async (...args: A) => {
    let ctx: Context;
    try {
      ctx = Context.current();
    } catch {
      return fn(...args);
    }
    const timer = setInterval(() => ctx.heartbeat(), everyMs);
    try {
      return await fn(...args);
    } finally {
      clearInterval(timer);
    }
  };
}
