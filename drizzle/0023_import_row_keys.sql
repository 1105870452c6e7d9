ALTER TABLE "contact_import_rows" ADD COLUMN "keys" text[];--> statement-breakpoint
-- An import planned before this migration keeps its in-file dedupe: each row's keys move onto the row.
UPDATE "contact_import_rows" r SET "keys" = k.keys FROM (SELECT "import_id", "row", array_agg("key" ORDER BY "key") AS keys FROM "contact_import_keys" GROUP BY "import_id", "row") k WHERE r."import_id" = k."import_id" AND r."row" = k."row";--> statement-breakpoint
DROP TABLE "contact_import_keys" CASCADE;
