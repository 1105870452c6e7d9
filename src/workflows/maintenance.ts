import { patched, proxyActivities } from '@temporalio/workflow';
import type { Activities, ScoreDecayResult } from '../contracts';

const maintenance = proxyActivities<Activities>({
  startToCloseTimeout: '2h',
  heartbeatTimeout: '2m',
  retry: { initialInterval: '1m', maximumAttempts: 5 },
});

const sweeps = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  retry: { initialInterval: '1m', maximumAttempts: 5 },
});

/**
 * The daily maintenance, started by the `itinera-score-decay` Schedule (SCORE_DECAY_SCHEDULE_ID): score decay over
 * every idle contact (idempotent per day), then the expired Idempotency-Key rows are deleted.
 */
export async function scoreDecayWorkflow(): Promise<ScoreDecayResult> {
  const r = await maintenance.applyScoreDecay();
  const result: ScoreDecayResult = { scanned: r.scanned, decayed: r.decayed, pointsRemoved: r.pointsRemoved };
  // Added after runs of this workflow were recorded: their histories end after the decay.
  if (patched('sweep-idempotency-keys')) result.idempotencyKeysDeleted = (await sweeps.sweepIdempotencyKeys()).deleted;
  return result;
}
