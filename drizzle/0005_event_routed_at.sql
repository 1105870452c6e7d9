ALTER TABLE "events" ADD COLUMN "routed_at" timestamp with time zone;--> statement-breakpoint
-- Events stored before this column existed were all routed (an unrouted one used to be deleted).
UPDATE "events" SET "routed_at" = "received_at";
