CREATE TABLE "run_arms" (
	"workflow_id" text NOT NULL,
	"run_id" text NOT NULL,
	"journey_id" text NOT NULL,
	"version" integer NOT NULL,
	"contact_id" uuid NOT NULL,
	"split_id" text NOT NULL,
	"arm" text NOT NULL,
	"holdout" boolean DEFAULT false NOT NULL,
	"step_seq" integer NOT NULL,
	"assigned_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "run_arms_workflow_id_run_id_split_id_pk" PRIMARY KEY("workflow_id","run_id","split_id")
);
--> statement-breakpoint
CREATE INDEX "run_arms_journey_idx" ON "run_arms" USING btree ("journey_id","version","split_id");