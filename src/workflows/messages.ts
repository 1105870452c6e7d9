import { defineQuery, defineSignal } from '@temporalio/workflow';

/** An event routed to a run: the same shape the API stores. Times are epoch milliseconds. */
export type JourneyEventSignal = {
  id: string;
  type: string;
  properties: Record<string, unknown>;
  occurredAt: number;
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
