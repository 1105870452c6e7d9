ALTER TABLE "contacts" ADD COLUMN "topic_consent" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "html" text;