ALTER TABLE "analytics_rollup_state" ADD COLUMN "seen" text;--> statement-breakpoint
-- Added without a default, then given one: rows written before stay null (no table rewrite); new rows carry their writer's transaction id.
ALTER TABLE "journey_run_steps" ADD COLUMN "xid" "xid8";--> statement-breakpoint
ALTER TABLE "journey_run_steps" ALTER COLUMN "xid" SET DEFAULT pg_current_xact_id();--> statement-breakpoint
CREATE INDEX "journey_run_steps_entries_xid_idx" ON "journey_run_steps" USING btree ("xid") WHERE "journey_run_steps"."seq" = 1;
