import type { Activities, RunArm } from '../contracts';
import { runArms } from '../db/schema';
import type { ActivityDeps } from './deps';

/** Split arms: which arm each run got, for the per-arm statistics (src/db/stats.ts). */
export function armActivities(deps: ActivityDeps): Pick<Activities, 'recordArm'> {
  return {
    async recordArm(arm: RunArm): Promise<{ recorded: boolean }> {
      // The primary key (run, split) makes a retried activity, or a run looping back through the split, a no-op.
      const rows = await deps.db.insert(runArms).values(arm).onConflictDoNothing().returning({ arm: runArms.arm });
      return { recorded: rows.length === 1 };
    },
  };
}
