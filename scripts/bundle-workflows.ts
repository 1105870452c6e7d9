// Prebuilds the workflow bundle into dist/ (the worker reuses it while the workflow sources are unchanged).
import { ensureWorkflowBundle } from '../src/temporal/workflow-bundle';

const file = await ensureWorkflowBundle({ log: (l) => console.log(l) });
console.log(file);
