CREATE TABLE "console_sessions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"id_hash" text NOT NULL,
	"api_key_id" uuid NOT NULL,
	"role" text NOT NULL,
	"csrf_token" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "console_sessions" ADD CONSTRAINT "console_sessions_api_key_id_api_keys_id_fk" FOREIGN KEY ("api_key_id") REFERENCES "public"."api_keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "console_sessions_id_hash_uq" ON "console_sessions" USING btree ("id_hash");--> statement-breakpoint
CREATE INDEX "console_sessions_key_idx" ON "console_sessions" USING btree ("api_key_id");--> statement-breakpoint
CREATE INDEX "journey_run_steps_entries_idx" ON "journey_run_steps" USING btree ("journey_id","entered_at") WHERE "journey_run_steps"."seq" = 1;