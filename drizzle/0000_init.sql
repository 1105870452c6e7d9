CREATE TABLE "api_keys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"prefix" text NOT NULL,
	"hash" text NOT NULL,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"dev" boolean DEFAULT false NOT NULL
);
--> statement-breakpoint
CREATE TABLE "contact_audit" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"idempotency_key" text,
	"contact_id" uuid NOT NULL,
	"action" text NOT NULL,
	"detail" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"actor" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "contacts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"external_id" text,
	"email" text,
	"phone" text,
	"first_name" text,
	"last_name" text,
	"company" text,
	"region" text,
	"industry" text,
	"job_title" text,
	"timezone" text,
	"locale" text,
	"attributes" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"tags" text[] DEFAULT '{}'::text[] NOT NULL,
	"score" integer DEFAULT 0 NOT NULL,
	"lifecycle_stage" text DEFAULT 'lead' NOT NULL,
	"owner_id" text,
	"consent" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"merged_into" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "conversions" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"idempotency_key" text NOT NULL,
	"journey_id" text NOT NULL,
	"version" integer NOT NULL,
	"contact_id" uuid NOT NULL,
	"goal" text NOT NULL,
	"value" numeric(14, 2),
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "events" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"contact_id" uuid,
	"properties" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"source" text DEFAULT 'api' NOT NULL
);
--> statement-breakpoint
CREATE TABLE "journey_runs" (
	"workflow_id" text PRIMARY KEY NOT NULL,
	"run_id" text,
	"journey_id" text NOT NULL,
	"version" integer NOT NULL,
	"contact_id" uuid NOT NULL,
	"entry_key" text DEFAULT '0' NOT NULL,
	"current_step" text,
	"status" text DEFAULT 'running' NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ended_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "journey_versions" (
	"journey_id" text NOT NULL,
	"version" integer NOT NULL,
	"content_hash" text NOT NULL,
	"source" text NOT NULL,
	"plan" jsonb NOT NULL,
	"published_at" timestamp with time zone DEFAULT now() NOT NULL,
	"published_by" text,
	CONSTRAINT "journey_versions_journey_id_version_pk" PRIMARY KEY("journey_id","version")
);
--> statement-breakpoint
CREATE TABLE "journeys" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"status" text DEFAULT 'draft' NOT NULL,
	"draft_source" text,
	"latest_version" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "messages" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"idempotency_key" text NOT NULL,
	"channel" text NOT NULL,
	"contact_id" uuid,
	"journey_id" text,
	"workflow_id" text,
	"step_id" text,
	"recipient" text NOT NULL,
	"template" text,
	"subject" text,
	"status" text DEFAULT 'reserved' NOT NULL,
	"provider_message_id" text,
	"error" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"sent_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sales_handoffs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"idempotency_key" text NOT NULL,
	"contact_id" uuid NOT NULL,
	"journey_id" text,
	"workflow_id" text,
	"team" text,
	"rep_id" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"reason" text,
	"due_at" timestamp with time zone,
	"escalated_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "score_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"idempotency_key" text,
	"contact_id" uuid NOT NULL,
	"delta" integer NOT NULL,
	"score_after" integer NOT NULL,
	"reason" text NOT NULL,
	"source" text NOT NULL,
	"rule" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "suppressions" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"channel" text NOT NULL,
	"address" text NOT NULL,
	"reason" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "events" ADD CONSTRAINT "events_contact_id_contacts_id_fk" FOREIGN KEY ("contact_id") REFERENCES "public"."contacts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "journey_versions" ADD CONSTRAINT "journey_versions_journey_id_journeys_id_fk" FOREIGN KEY ("journey_id") REFERENCES "public"."journeys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_prefix_uq" ON "api_keys" USING btree ("prefix");--> statement-breakpoint
CREATE UNIQUE INDEX "contact_audit_idempotency_uq" ON "contact_audit" USING btree ("idempotency_key");--> statement-breakpoint
CREATE INDEX "contact_audit_contact_idx" ON "contact_audit" USING btree ("contact_id");--> statement-breakpoint
CREATE UNIQUE INDEX "contacts_external_id_uq" ON "contacts" USING btree ("external_id");--> statement-breakpoint
CREATE INDEX "contacts_email_idx" ON "contacts" USING btree ("email");--> statement-breakpoint
CREATE INDEX "contacts_phone_idx" ON "contacts" USING btree ("phone");--> statement-breakpoint
CREATE INDEX "contacts_lifecycle_idx" ON "contacts" USING btree ("lifecycle_stage");--> statement-breakpoint
CREATE UNIQUE INDEX "conversions_idempotency_uq" ON "conversions" USING btree ("idempotency_key");--> statement-breakpoint
CREATE INDEX "conversions_journey_idx" ON "conversions" USING btree ("journey_id");--> statement-breakpoint
CREATE INDEX "events_contact_time_idx" ON "events" USING btree ("contact_id","occurred_at");--> statement-breakpoint
CREATE INDEX "events_type_idx" ON "events" USING btree ("type");--> statement-breakpoint
CREATE INDEX "journey_runs_journey_idx" ON "journey_runs" USING btree ("journey_id","version","status");--> statement-breakpoint
CREATE INDEX "journey_runs_contact_idx" ON "journey_runs" USING btree ("contact_id");--> statement-breakpoint
CREATE UNIQUE INDEX "journey_versions_hash_uq" ON "journey_versions" USING btree ("journey_id","content_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "messages_idempotency_uq" ON "messages" USING btree ("idempotency_key");--> statement-breakpoint
CREATE INDEX "messages_contact_idx" ON "messages" USING btree ("contact_id","created_at");--> statement-breakpoint
CREATE INDEX "messages_journey_idx" ON "messages" USING btree ("journey_id","status");--> statement-breakpoint
CREATE UNIQUE INDEX "sales_handoffs_idempotency_uq" ON "sales_handoffs" USING btree ("idempotency_key");--> statement-breakpoint
CREATE INDEX "sales_handoffs_contact_idx" ON "sales_handoffs" USING btree ("contact_id");--> statement-breakpoint
CREATE UNIQUE INDEX "score_events_idempotency_uq" ON "score_events" USING btree ("idempotency_key");--> statement-breakpoint
CREATE INDEX "score_events_contact_idx" ON "score_events" USING btree ("contact_id");--> statement-breakpoint
CREATE UNIQUE INDEX "suppressions_channel_address_uq" ON "suppressions" USING btree ("channel","address");