ALTER TABLE "sales_handoffs" ADD COLUMN "task_title" text;--> statement-breakpoint
CREATE INDEX "sales_handoffs_rep_status_idx" ON "sales_handoffs" USING btree ("rep_id","status");