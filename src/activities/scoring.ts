import { heartbeat } from '@temporalio/activity';
import type { Activities, DecayProgress } from '../contracts';
import { applyDecay } from '../scoring/apply';
import type { ActivityDeps } from './deps';

export function scoringActivities(deps: ActivityDeps): Pick<Activities, 'applyScoreDecay'> {
  return {
    /** Heartbeats after each batch so a long pass over many contacts is not mistaken for a dead worker. */
    async applyScoreDecay(): Promise<DecayProgress> {
      if (!deps.scoring) return { batches: 0, scanned: 0, decayed: 0, skipped: 0, pointsRemoved: 0 };
      return applyDecay(deps.db, deps.scoring, {
        now: deps.clock?.now() ?? new Date(),
        onProgress: (p) => {
          try {
            heartbeat(p);
          } catch {
            // Called outside a worker (tests): no heartbeat to send.
          }
        },
      });
    },
  };
}
