CREATE TABLE "analytics_rollup_state" (
	"name" text PRIMARY KEY NOT NULL,
	"built_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "attribution_contact_credits" (
	"contact_id" uuid NOT NULL,
	"model" text NOT NULL,
	"day" date NOT NULL,
	"conversion" text NOT NULL,
	"touch_kind" text NOT NULL,
	"touch_key" text NOT NULL,
	"currency" text NOT NULL,
	"credit" numeric NOT NULL,
	"amount" numeric,
	"priced" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "attribution_credits" (
	"model" text NOT NULL,
	"day" date NOT NULL,
	"conversion" text NOT NULL,
	"touch_kind" text NOT NULL,
	"touch_key" text NOT NULL,
	"currency" text NOT NULL,
	"credit" numeric NOT NULL,
	"amount" numeric NOT NULL,
	"priced" integer NOT NULL,
	CONSTRAINT "attribution_credits_model_day_conversion_touch_kind_touch_key_currency_pk" PRIMARY KEY("model","day","conversion","touch_kind","touch_key","currency")
);
--> statement-breakpoint
CREATE TABLE "attribution_dirty" (
	"contact_id" uuid PRIMARY KEY NOT NULL,
	"marked_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "attribution_contact_credits_contact_idx" ON "attribution_contact_credits" USING btree ("contact_id");