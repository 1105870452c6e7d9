/** Bounce-handling settings and their defaults: read by src/config.ts, so this imports nothing. */

export type DeliverabilityOptions = {
  /** Soft bounces of one address within the window that suppress it (BOUNCE_SOFT_LIMIT). @default 3 */
  softBounceLimit: number;
  /** The window soft bounces are counted in (BOUNCE_SOFT_WINDOW_DAYS). @default 7 days */
  softBounceWindowMs: number;
};

export const DEFAULT_DELIVERABILITY: DeliverabilityOptions = { softBounceLimit: 3, softBounceWindowMs: 7 * 86_400_000 };

/** Largest raw report accepted (INBOUND_REPORT_MAX_BYTES): a report returns at most one of our messages. @default 1 MiB */
export const DEFAULT_REPORT_MAX_BYTES = 1024 * 1024;
