export { journeyWorkflow } from './journey';
export { scoreDecayWorkflow } from './maintenance';
