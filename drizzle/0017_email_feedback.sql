CREATE TABLE "email_feedback" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"source" text NOT NULL,
	"event_id" text NOT NULL,
	"kind" text NOT NULL,
	"bounce_class" text,
	"code" text,
	"diagnostic" text,
	"message_id" uuid,
	"contact_id" uuid,
	"journey_id" text,
	"step_id" text,
	"outcome" text NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "email_feedback_event_uq" ON "email_feedback" USING btree ("source","event_id");--> statement-breakpoint
CREATE INDEX "email_feedback_contact_idx" ON "email_feedback" USING btree ("contact_id","kind","occurred_at");--> statement-breakpoint
CREATE INDEX "email_feedback_message_idx" ON "email_feedback" USING btree ("message_id");--> statement-breakpoint
CREATE INDEX "messages_provider_message_idx" ON "messages" USING btree ("provider_message_id");