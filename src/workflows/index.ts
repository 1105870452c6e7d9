export { journeyWorkflow } from './journey';
export { scoreDecayWorkflow } from './maintenance';
export { audienceLaunchWorkflow } from './launch';
export { bulkRunActionWorkflow } from './bulk';
export { handoffSlaWorkflow } from './handoff-sla';
export { dateTriggerSweepWorkflow } from './date-trigger';
export { contactImportWorkflow } from './import';
