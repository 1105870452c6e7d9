CREATE TABLE "audience_launch_entries" (
	"launch_id" text NOT NULL,
	"contact_id" uuid NOT NULL,
	"outcome" text DEFAULT 'pending' NOT NULL,
	"reason" text,
	"workflow_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "audience_launch_entries_launch_id_contact_id_pk" PRIMARY KEY("launch_id","contact_id")
);
--> statement-breakpoint
CREATE TABLE "audience_launches" (
	"id" text PRIMARY KEY NOT NULL,
	"journey_id" text NOT NULL,
	"version" integer NOT NULL,
	"filter" jsonb NOT NULL,
	"status" text DEFAULT 'running' NOT NULL,
	"scanned" integer DEFAULT 0 NOT NULL,
	"enrolled" integer DEFAULT 0 NOT NULL,
	"skipped" integer DEFAULT 0 NOT NULL,
	"skip_reasons" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"rate_per_second" integer NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone,
	"error" text
);
--> statement-breakpoint
CREATE TABLE "journey_run_steps" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"workflow_id" text NOT NULL,
	"run_id" text NOT NULL,
	"seq" integer NOT NULL,
	"journey_id" text NOT NULL,
	"version" integer NOT NULL,
	"contact_id" uuid NOT NULL,
	"step_id" text NOT NULL,
	"entered_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "audience_launches_journey_idx" ON "audience_launches" USING btree ("journey_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "journey_run_steps_run_seq_uq" ON "journey_run_steps" USING btree ("workflow_id","run_id","seq");--> statement-breakpoint
CREATE INDEX "journey_run_steps_journey_idx" ON "journey_run_steps" USING btree ("journey_id","version","step_id");