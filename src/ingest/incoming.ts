/**
 * An event on its way into the one ingest path (src/ingest/event.ts). Its own module, importing nothing, so the writers
 * that store events in their own transaction (contact changes, scoring) can name it without importing the ingest path
 * that calls them back.
 */
export type IncomingEvent = {
  id: string;
  type: string;
  contactId: string;
  properties: Record<string, unknown>;
  occurredAt: Date;
  /** api | tracking | scoring | system */
  source: string;
};
