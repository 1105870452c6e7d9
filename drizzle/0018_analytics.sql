CREATE TABLE "analytics_touches" (
	"event_id" text PRIMARY KEY NOT NULL,
	"contact_id" uuid NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"utm_source" text,
	"utm_medium" text,
	"utm_campaign" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "campaign_costs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"campaign_id" text NOT NULL,
	"amount" numeric(18, 2) NOT NULL,
	"currency" text NOT NULL,
	"incurred_on" text NOT NULL,
	"note" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "campaigns" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"channel" text NOT NULL,
	"budget" numeric(18, 2),
	"currency" text NOT NULL,
	"starts_on" text,
	"ends_on" text,
	"utm_campaign" text,
	"journey_ids" text[] DEFAULT '{}'::text[] NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "contact_funnel" (
	"contact_id" uuid PRIMARY KEY NOT NULL,
	"lead_at" timestamp with time zone,
	"mql_at" timestamp with time zone,
	"sql_at" timestamp with time zone,
	"opportunity_at" timestamp with time zone,
	"customer_at" timestamp with time zone,
	"entered_at" timestamp with time zone,
	"current_stage" text,
	"moved_at" timestamp with time zone,
	"first_touch_at" timestamp with time zone,
	"utm_source" text,
	"utm_medium" text,
	"utm_campaign" text,
	"sales_touch_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "deal_events" (
	"event_id" text PRIMARY KEY NOT NULL,
	"deal_id" text NOT NULL,
	"contact_id" uuid NOT NULL,
	"type" text NOT NULL,
	"fields" jsonb NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "deals" (
	"id" text PRIMARY KEY NOT NULL,
	"contact_id" uuid NOT NULL,
	"company" text,
	"amount" numeric(18, 2),
	"currency" text,
	"stage" text,
	"status" text DEFAULT 'open' NOT NULL,
	"owner_id" text,
	"expected_close_at" timestamp with time zone,
	"opened_at" timestamp with time zone NOT NULL,
	"closed_at" timestamp with time zone,
	"regressions" integer DEFAULT 0 NOT NULL,
	"paid" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"last_event_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "analytics_touches_contact_idx" ON "analytics_touches" USING btree ("contact_id","occurred_at");--> statement-breakpoint
CREATE INDEX "analytics_touches_campaign_idx" ON "analytics_touches" USING btree ("utm_campaign");--> statement-breakpoint
CREATE INDEX "campaign_costs_campaign_idx" ON "campaign_costs" USING btree ("campaign_id");--> statement-breakpoint
CREATE UNIQUE INDEX "campaigns_utm_uq" ON "campaigns" USING btree ("utm_campaign");--> statement-breakpoint
CREATE INDEX "contact_funnel_entered_idx" ON "contact_funnel" USING btree ("entered_at");--> statement-breakpoint
CREATE INDEX "contact_funnel_mql_idx" ON "contact_funnel" USING btree ("mql_at");--> statement-breakpoint
CREATE INDEX "deal_events_deal_idx" ON "deal_events" USING btree ("deal_id","occurred_at");--> statement-breakpoint
CREATE INDEX "deals_contact_idx" ON "deals" USING btree ("contact_id");--> statement-breakpoint
CREATE INDEX "deals_closed_idx" ON "deals" USING btree ("status","closed_at");--> statement-breakpoint
CREATE INDEX "deals_opened_idx" ON "deals" USING btree ("opened_at");--> statement-breakpoint
CREATE INDEX "journey_run_steps_contact_entries_idx" ON "journey_run_steps" USING btree ("contact_id","entered_at") WHERE "journey_run_steps"."seq" = 1;