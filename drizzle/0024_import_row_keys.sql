ALTER TABLE "contact_import_rows" ADD COLUMN "keys" text[];--> statement-breakpoint
-- An import still running keeps its in-file dedupe: each row's keys move onto the row (a finished one needs none).
UPDATE "contact_import_rows" r SET "keys" = k.keys FROM (SELECT ik."import_id", ik."row", array_agg(ik."key" ORDER BY ik."key") AS keys FROM "contact_import_keys" ik JOIN "contact_imports" i ON i."id" = ik."import_id" AND i."status" = 'running' GROUP BY ik."import_id", ik."row") k WHERE r."import_id" = k."import_id" AND r."row" = k."row";--> statement-breakpoint
DROP TABLE "contact_import_keys" CASCADE;
