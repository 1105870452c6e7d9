CREATE TABLE "journey_entry_counters" (
	"journey_id" text NOT NULL,
	"bucket" text NOT NULL,
	"count" integer NOT NULL,
	CONSTRAINT "journey_entry_counters_journey_id_bucket_pk" PRIMARY KEY("journey_id","bucket")
);
