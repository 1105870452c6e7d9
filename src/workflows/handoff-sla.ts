import { proxyActivities, sleep } from '@temporalio/workflow';
import type { Activities, HandoffSlaInput, HandoffSlaResult } from '../contracts';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '60s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5m' },
});

/**
 * A hand-off's SLA (`handoff_to_sales.sla`): sleeps until it is due, then, if the CRM has not accepted or rejected the
 * lead, marks the hand-off escalated and tells the rep's manager in chat. One per hand-off (`handoffSlaWorkflowId` in src/contracts).
 */
export async function handoffSlaWorkflow(input: HandoffSlaInput): Promise<HandoffSlaResult> {
  const wait = input.escalateAt - Date.now();
  if (wait > 0) await sleep(wait);
  return acts.escalateHandoff({ handoffId: input.handoffId, journeyId: input.journeyId, workflowId: input.workflowId, channel: input.channel ?? 'wecom' });
}
