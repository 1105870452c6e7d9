import { proxyActivities } from '@temporalio/workflow';
import type { Activities, ScoreDecayResult } from '../contracts';

const maintenance = proxyActivities<Activities>({
  startToCloseTimeout: '2h',
  heartbeatTimeout: '2m',
  retry: { initialInterval: '1m', maximumAttempts: 5 },
});

/** Daily score decay over every idle contact; started by the `itinera-score-decay` Schedule (SCORE_DECAY_SCHEDULE_ID). Idempotent per day. */
export async function scoreDecayWorkflow(): Promise<ScoreDecayResult> {
  const r = await maintenance.applyScoreDecay();
  return { scanned: r.scanned, decayed: r.decayed, pointsRemoved: r.pointsRemoved };
}
