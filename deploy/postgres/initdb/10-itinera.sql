-- Runs once, when the postgresql volume is first initialised (docker-entrypoint-initdb.d).
-- Temporal keeps its own `temporal` and `temporal_visibility` databases (created by temporalio/auto-setup);
-- itinera gets a separate role and database so its migrations never touch Temporal's schema.
CREATE ROLE itinera WITH LOGIN PASSWORD 'itinera';
CREATE DATABASE itinera OWNER itinera;
