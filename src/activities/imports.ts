import { heartbeat } from '@temporalio/activity';
import type { Activities } from '../contracts';
import { endImport, runImportChunk } from '../imports/store';
import type { ActivityDeps } from './deps';

/** A contact import's chunks (src/imports/store.ts), written through the contact pipeline with the worker's ingest path. */
export function importActivities(deps: ActivityDeps): Pick<Activities, 'importChunk' | 'endImport'> {
  const upsert = { db: deps.db, ...(deps.scoring ? { scoring: deps.scoring } : {}), ...(deps.ingest ? { ingest: deps.ingest } : {}) };
  return {
    importChunk: ({ importId }) => runImportChunk(upsert, importId, () => heartbeat()),
    endImport: ({ importId, status, error }) => endImport(deps.db, importId, status, error),
  };
}
