/**
 * Signals, queries and updates: the messages clients send to running workflows. Defined here, not in the workflows,
 * so the API and activities can name them without importing workflow code.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Contact } from '../journey/schema';
import type { BulkProgress, LaunchProgress } from './progress';

/** An event routed to a run: the same shape the API stores. Times are epoch milliseconds. */
export type JourneyEventSignal = {
  id: string;
  type: string;
  properties: Record<string, unknown>;
  occurredAt: number;
  /**
   * The contact as it is now, on a `contact.updated` routed to a running run (src/ingest/contact-routing.ts): the run
   * replaces its snapshot with it and re-judges its `when:` exits and goals, without reading the database.
   */
  contact?: Contact;
};

export const journeyEventSignal = defineSignal<[JourneyEventSignal]>('journeyEvent');

export type RunStateView = {
  journeyId: string;
  version: number;
  contactId: string;
  currentStep: string | null;
  status: 'running' | 'completed' | 'exited' | 'goal' | 'failed';
};

export const runStateQuery = defineQuery<RunStateView>('runState');

export const launchProgressQuery = defineQuery<LaunchProgress>('launchProgress');

export const bulkProgressQuery = defineQuery<BulkProgress>('bulkProgress');

/** Ops: end the run's current wait now, as if its timer had fired (a `wait` moves on; `wait_for_event` times out). */
export const skipWaitUpdate = defineUpdate<{ step: string }, [{ by: string }]>('skipWait');

/** Ops: move a waiting run to another step of its version (a repair); refused while an activity is in flight. */
export const moveToStepUpdate = defineUpdate<{ from: string; to: string }, [{ stepId: string; by: string }]>('moveToStep');

/**
 * Ops: move a running run to a newer version of its journey. It continues as new on that version, keeping its state:
 * the current wait ends as scheduled, and the steps after it are the new version's. The API checks that the current
 * step exists in the target version; refused while an activity is in flight.
 */
export const migrateVersionUpdate = defineUpdate<{ from: number; to: number }, [{ version: number; by: string }]>('migrateVersion');

/** Stop a contact import after the chunk in flight: what was written stays, the counts stay exact. */
export const cancelImportSignal = defineSignal<[{ by: string }]>('cancelImport');
