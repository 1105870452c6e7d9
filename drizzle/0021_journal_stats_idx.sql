DROP INDEX "journey_run_steps_journey_idx";--> statement-breakpoint
CREATE INDEX "journey_run_steps_message_idx" ON "journey_run_steps" USING btree ("workflow_id","step_id","entered_at","version");--> statement-breakpoint
CREATE INDEX "journey_run_steps_journey_idx" ON "journey_run_steps" USING btree ("journey_id","version","step_id","workflow_id","run_id");