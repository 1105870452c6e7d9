import type { Client } from '@temporalio/client';
import type { Db } from '../db/client';
import type { ChatWebhooks } from '../config';
import type { ScoringModel } from '../scoring/model';
import type { SalesDeps } from '../sales';
import type { Mailer } from '../channels/email/mailer';
import type { TemplateRenderer } from '../templates/email';
import type { SmsSender } from '../channels/sms';
import type { OutboundHttp } from '../net/outbound';
import type { TextRenderer } from '../templates/text';
import type { IngestDeps } from '../ingest/event';
import type { DeliverabilityOptions } from '../deliverability/settings';

export type { Mailer, OutgoingEmail } from '../channels/email/mailer';

export type EmailRenderer = Pick<TemplateRenderer, 'render'>;

export interface Clock {
  now(): Date;
}

export type ActivityDeps = {
  db: Db;
  /**
   * Where a send records that the provider accepted it (DatabaseHandle.urgent): that write is the window in which a
   * crash makes the retry resend, so it does not queue behind other work. Without it: `db`.
   */
  urgentDb?: Db;
  mailer: Mailer;
  renderer: EmailRenderer;
  /** SMS and chat templates. */
  text: TextRenderer;
  sms: SmsSender;
  /** Name recorded with each SMS (outbox, twilio). */
  smsProvider: string;
  clock?: Clock;
  /** The From address when a step names none. */
  defaultFrom: string;
  /**
   * The guarded HTTP client of webhook steps, chat robots and the CRM webhook (OUTBOUND_ALLOW).
   * @default one that refuses every private, loopback and metadata address
   */
  outbound?: OutboundHttp;
  /** Standard Webhooks secrets (`whsec_…`) for the webhook step; the first signs. */
  webhookSecrets?: readonly string[];
  /** Audience launches start journey runs from an activity: the client and the task queue those runs go to. */
  temporal?: { client: Client; taskQueue: string };
  /**
   * The ingest path, to route the `contact.updated` events contact steps, hand-offs and CRM answers store with their
   * writes right after the commit. Without it the outbox sweeper routes them (within its grace period).
   */
  ingest?: IngestDeps;
  /** The lead-scoring model, for the daily decay. */
  scoring?: ScoringModel;
  /** Soft-bounce policy for SMTP refusals at send (BOUNCE_SOFT_LIMIT, BOUNCE_SOFT_WINDOW_DAYS). @default DEFAULT_DELIVERABILITY */
  deliverability?: DeliverabilityOptions;
  /**
   * VERP return paths (BOUNCE_VERP_DOMAIN): each email's envelope sender is `bounces+<token>@<domain>`, the token
   * signed with `tracking.secrets` (src/deliverability/verp.ts). @default the From address is the envelope sender
   */
  verp?: { domain: string };
  /** Sales teams for hand-offs (journeys/sales/teams.yaml) and the CRM webhook; without it hand-offs are only recorded. */
  sales?: SalesDeps;
  /** Chat robots per channel (see CHAT_WEBHOOKS). */
  chatWebhooks?: ChatWebhooks;
  tracking: {
    /** Public base URL of /t/… and /u/… links. */
    baseUrl: string;
    /** The first signs; all verify. */
    secrets: readonly string[];
    /** Postal address printed in every marketing email's footer. */
    physicalAddress: string;
    unsubscribeMailto?: string;
  };
};
