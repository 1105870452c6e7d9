CREATE TABLE "date_trigger_sweeps" (
	"journey_id" text NOT NULL,
	"field" text NOT NULL,
	"swept_until" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "date_trigger_sweeps_journey_id_field_pk" PRIMARY KEY("journey_id","field")
);
--> statement-breakpoint
CREATE INDEX "contacts_created_at_idx" ON "contacts" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "contacts_created_mmdd_idx" ON "contacts" USING btree (((date_part('month', timezone('UTC', "created_at")) * 100 + date_part('day', timezone('UTC', "created_at")))::int));