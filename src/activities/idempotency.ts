import type { Activities } from '../contracts';
import { sweepExpiredIdempotencyKeys } from '../db/idempotency';
import type { ActivityDeps } from './deps';

export function idempotencyActivities(deps: ActivityDeps): Pick<Activities, 'sweepIdempotencyKeys'> {
  return {
    /** Safe to retry: it deletes only rows already expired. */
    async sweepIdempotencyKeys() {
      return { deleted: await sweepExpiredIdempotencyKeys(deps.db) };
    },
  };
}
