import type { IngestDeps } from '../../src/ingest/event';
import type { DeliverabilityOptions } from '../../src/deliverability/settings';
import { createActivities } from '../../src/activities';
import type { Mailer } from '../../src/activities/deps';
import type { Db } from '../../src/db/client';
import { createOutboxSmsSender } from '../../src/channels/sms';
import { createTextRenderer } from '../../src/templates/text';
import { sampleRenderer } from './renderer';
import { TEMPLATES_DIR } from '../../src/paths';

/** The sample templates' renderer, MJML layouts compiled once for every test that imports this. */
const renderer = await sampleRenderer();

type Tracking = Parameters<typeof createActivities>[0]['tracking'];

/** Activities for email tests: the real renderer and templates, the given mailer, SMS kept in the outbox. */
export function emailTestActivities(db: Db, mailer: Mailer, tracking: Tracking, opts: { urgentDb?: Db; ingest?: IngestDeps; deliverability?: DeliverabilityOptions } = {}) {
  return createActivities({
    db,
    ...opts,
    mailer,
    renderer,
    text: createTextRenderer(TEMPLATES_DIR),
    sms: createOutboxSmsSender(async () => 'unused'),
    smsProvider: 'outbox',
    defaultFrom: 'Marketing <m@acme.test>',
    tracking,
  });
}

/** A marketing `welcome` send of one contact under `key`, as a journey step would ask for it. */
export const welcomeSend = (contactId: string, key: string) => ({
  idempotencyKey: key,
  contactId,
  journeyId: 'welcome',
  workflowId: `journey:welcome:${contactId}`,
  stepId: 'welcome',
  template: 'welcome',
  category: 'marketing' as const,
});
