/**
 * The baselines on the Temporal side: the least a workflow can do for the same shape of work, on the same server.
 * Bundled on its own by bench/bare/worker.ts (no itinera code in this bundle).
 */
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { BareActivities } from './activities';

const acts = proxyActivities<BareActivities>({
  startToCloseTimeout: '60s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5m' },
});

/** Four trivial activities in a row: the floor under the four-action journey. */
export async function bareFourActivitiesWorkflow(contactId: string): Promise<number> {
  let n = 0;
  n += await acts.bareOne({ contactId });
  n += await acts.bareTwo({ contactId });
  n += await acts.bareThree({ contactId });
  n += await acts.bareFour({ contactId });
  return n;
}

/** The four-action journey's side effects as four plain activities: the fair floor under it (no bookkeeping). */
export async function bareFourEffectsWorkflow(input: { contactId: string; email: string }): Promise<number> {
  let n = 0;
  n += await acts.bareSendEmail(input);
  n += await acts.bareScore(input);
  n += await acts.bareTag(input);
  n += await acts.bareWebhook(input);
  return n;
}

/** One timer until `dueAt` (ms since epoch): the floor under a parked journey run. */
export async function bareParkWorkflow(dueAt: number): Promise<void> {
  await sleep(Math.max(1, dueAt - Date.now()));
}
