import type { ActivityDeps } from './deps';
import { bulkActivities } from './bulk';
import { contactActivities } from './contacts';
import { emailActivities } from './email';
import { journeySupportActivities } from './journey-support';
import { launchActivities } from './launch';
import { runActivities } from './runs';
import { scoringActivities } from './scoring';
import { smsActivities } from './sms';

export type { ActivityDeps } from './deps';

/** All activities, closed over their dependencies so tests can pass real local servers without module singletons. */
export const createActivities = (deps: ActivityDeps) => ({
  ...runActivities(deps),
  ...emailActivities(deps),
  ...contactActivities(deps),
  ...smsActivities(deps),
  ...journeySupportActivities(deps),
  ...launchActivities(deps),
  ...scoringActivities(deps),
  ...bulkActivities(deps),
});

export type Activities = ReturnType<typeof createActivities>;
