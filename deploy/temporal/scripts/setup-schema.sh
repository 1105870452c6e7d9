#!/bin/sh
# The compose job `temporal-schema` (temporalio/admin-tools): creates Temporal's two databases when missing and brings
# their schemas to what this temporal-sql-tool ships (embedded, --schema-name). Safe to run on every `up`: an existing
# database is only updated. Compose starts it once Postgres is healthy. tests/cluster/compose.test.ts runs this same
# file with the same environment.
set -eu
: "${POSTGRES_SEEDS:?POSTGRES_SEEDS (the Postgres host) is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${POSTGRES_PWD:?POSTGRES_PWD is required}"
port="${DB_PORT:-5432}"

sql() {
  temporal-sql-tool --plugin postgres12 --endpoint "$POSTGRES_SEEDS" --port "$port" \
    --user "$POSTGRES_USER" --password "$POSTGRES_PWD" "$@"
}

log=$(mktemp)
ensure() {
  db=$1
  schema=$2
  if sql --database "$db" create-database --defaultdb postgres >"$log" 2>&1; then
    echo "$db: created"
  elif grep -q 'already exists' "$log"; then
    echo "$db: exists"
  else
    cat "$log" >&2
    exit 1
  fi
  # setup-schema -v 0.0 resets the recorded version, so it runs only where the versioning tables are still missing.
  if ! sql --database "$db" update-schema --schema-name "$schema" >"$log" 2>&1; then
    if grep -q 'schema_version' "$log" && grep -q 'does not exist' "$log"; then
      sql --database "$db" setup-schema -v 0.0
      sql --database "$db" update-schema --schema-name "$schema"
    else
      cat "$log" >&2
      exit 1
    fi
  fi
  echo "$db: schema current ($schema)"
}

ensure "${DBNAME:-temporal}" postgresql/v12/temporal
ensure "${VISIBILITY_DBNAME:-temporal_visibility}" postgresql/v12/visibility
rm -f "$log"
