import type { ActivityDeps } from './deps';
import { bulkActivities } from './bulk';
import { contactActivities } from './contacts';
import { emailActivities } from './email';
import { journeySupportActivities } from './journey-support';
import { keepAlive } from './keep-alive';
import { launchActivities } from './launch';
import { runActivities } from './runs';
import { scoringActivities } from './scoring';
import { smsActivities } from './sms';

export type { ActivityDeps } from './deps';

/** All activities, closed over their dependencies so tests can pass real local servers without module singletons. */
export const createActivities = (deps: ActivityDeps) => {
  const all = {
    ...runActivities(deps),
    ...emailActivities(deps),
    ...contactActivities(deps),
    ...smsActivities(deps),
    ...journeySupportActivities(deps),
    ...launchActivities(deps),
    ...scoringActivities(deps),
    ...bulkActivities(deps),
  };
  // The sends talk to remote servers and run under a heartbeat timeout (src/workflows/journey.ts).
  return {
    ...all,
    sendEmail: keepAlive(all.sendEmail),
    sendSms: keepAlive(all.sendSms),
    notify: keepAlive(all.notify),
    callWebhook: keepAlive(all.callWebhook),
  };
};

export type Activities = ReturnType<typeof createActivities>;
