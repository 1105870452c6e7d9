import type { Activities } from '../contracts';
import { armActivities } from './arms';
import { bulkActivities } from './bulk';
import { contactActivities } from './contacts';
import { dateTriggerActivities } from './date-trigger';
import type { ActivityDeps } from './deps';
import { emailActivities } from './email';
import { handoffActivities } from './handoff';
import { idempotencyActivities } from './idempotency';
import { importActivities } from './imports';
import { keepAlive } from './keep-alive';
import { launchActivities } from './launch';
import { notifyActivities } from './notify';
import { runActivities } from './runs';
import { scoringActivities } from './scoring';
import { smsActivities } from './sms';
import { webhookActivities } from './webhook';

export type { Activities } from '../contracts';
export type { ActivityDeps } from './deps';

/**
 * All activities, closed over their dependencies so tests can pass real local servers without module singletons. The
 * result satisfies the contract's `Activities` interface (src/contracts/activities.ts), which is what workflows see.
 */
export const createActivities = (deps: ActivityDeps): Activities => {
  const all: Activities = {
    ...runActivities(deps),
    ...armActivities(deps),
    ...emailActivities(deps),
    ...smsActivities(deps),
    ...notifyActivities(deps),
    ...webhookActivities(deps),
    ...contactActivities(deps),
    ...handoffActivities(deps),
    ...launchActivities(deps),
    ...scoringActivities(deps),
    ...idempotencyActivities(deps),
    ...bulkActivities(deps),
    ...dateTriggerActivities(deps),
    ...importActivities(deps),
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
