import { ApplicationFailure, continueAsNew, ParentClosePolicy, proxyActivities, setHandler, startChild } from '@temporalio/workflow';
import { type Activities, type AudienceLaunchInput, cancelImportSignal, type ContactImportInput, importLaunchId, WorkflowType } from '../contracts';

const chunks = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  // A chunk heartbeats per row: a worker that died mid-chunk is noticed within this, and the chunk is retried elsewhere.
  heartbeatTimeout: '1m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});
const writes = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s' },
});

/** Chunks per run before continue-as-new: each costs a few history events. */
const CHUNKS_PER_RUN = 500;

/**
 * One contact import: asks for the next chunk until none is left. The checkpoint lives in the database with the
 * counts (src/imports/store.ts), not in workflow state, so a retried chunk or a continued run resumes where the last
 * committed chunk ended. `cancelImport` stops it after the chunk in flight.
 */
export async function contactImportWorkflow(input: ContactImportInput): Promise<void> {
  let cancelled = false;
  setHandler(cancelImportSignal, () => void (cancelled = true));
  try {
    for (let n = 0; ; n++) {
      if (cancelled) {
        await writes.endImport({ importId: input.importId, status: 'cancelled' });
        return;
      }
      if (n >= CHUNKS_PER_RUN) await continueAsNew<typeof contactImportWorkflow>(input);
      const r = await chunks.importChunk({ importId: input.importId });
      if (r.done) {
        if (r.status === 'completed' && input.enrol) {
          // The same path as an audience launch, over the contacts this import wrote; it outlives this workflow.
          const launchId = importLaunchId(input.importId);
          const launch: AudienceLaunchInput = { v: 1, journeyId: input.enrol.journeyId, version: input.enrol.version, launchId, filter: { importId: input.importId, consent: null }, ...(input.enrol.ratePerSecond ? { ratePerSecond: input.enrol.ratePerSecond } : {}), ...(input.enrol.createdBy ? { createdBy: input.enrol.createdBy } : {}) };
          await startChild(WorkflowType.AudienceLaunch, { workflowId: launchId, args: [launch], parentClosePolicy: ParentClosePolicy.ABANDON });
        }
        return;
      }
    }
  } catch (err) {
    if (err instanceof ApplicationFailure || (err as Error).name === 'ActivityFailure') {
      await writes.endImport({ importId: input.importId, status: 'failed', error: (err as Error).message });
    }
    throw err;
  }
}
