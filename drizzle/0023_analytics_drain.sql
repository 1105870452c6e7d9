ALTER TABLE "analytics_rollup_state" ADD COLUMN "upto" text;--> statement-breakpoint
ALTER TABLE "analytics_rollup_state" ADD COLUMN "after" "xid8";--> statement-breakpoint
ALTER TABLE "attribution_dirty" ADD COLUMN "since" timestamp with time zone;--> statement-breakpoint
-- Added without a default, then given one: events stored before stay null (no table rewrite, and no entry in the index
-- below); new events carry their writer's transaction id.
ALTER TABLE "events" ADD COLUMN "xid" "xid8";--> statement-breakpoint
ALTER TABLE "events" ALTER COLUMN "xid" SET DEFAULT pg_current_xact_id();--> statement-breakpoint
-- Events stored before the upgrade were rolled up by the ingest path before being marked routed; those not yet routed may
-- not have been: given this transaction's id, the analytics drain's first look (src/analytics/drain.ts) takes them in
-- (its writes are idempotent per event id, so one already applied changes nothing).
UPDATE "events" SET "xid" = pg_current_xact_id() WHERE "routed_at" IS NULL;--> statement-breakpoint
CREATE INDEX "events_analytics_xid_idx" ON "events" USING btree ("xid") WHERE xid is not null and contact_id is not null and (type in ('deal.created', 'deal.updated', 'deal.stage_changed', 'deal.won', 'deal.lost', 'order.paid', 'payment.received', 'lead.mql', 'handoff.accepted', 'handoff.rejected', 'sales.touched', 'email.clicked') or (type = 'contact.updated' and (properties -> 'changes') ? 'lifecycle_stage') or properties ? 'utm_campaign' or properties ? 'utm');