ALTER TABLE "contact_imports" ADD COLUMN "lease" uuid;--> statement-breakpoint
ALTER TABLE "contact_imports" ADD COLUMN "lease_until" timestamp with time zone;