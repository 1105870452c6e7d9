#!/bin/sh
# The compose job `temporal-namespace` (temporalio/admin-tools): the namespace itinera runs in and the search attributes
# its workflows set (src/contracts/search-attributes.ts). Safe to run again: an existing namespace is kept and the CLI
# accepts attributes that already exist with the same type. tests/cluster/compose.test.ts runs this same file.
set -eu
: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
ns="${TEMPORAL_NAMESPACE:-default}"

# Every call is bounded (--command-timeout; the CLI's default is no deadline at all), so a call that hangs on a server
# still starting is given up and retried like a refused one instead of holding the job.
cli() { temporal "$@" --address "$TEMPORAL_ADDRESS" --command-timeout "${TEMPORAL_CLI_TIMEOUT:-15s}"; }

attempt=1
until cli operator cluster health >/dev/null 2>&1; do
  [ "$attempt" -ge 90 ] && { echo "Temporal at $TEMPORAL_ADDRESS is not healthy" >&2; exit 1; }
  attempt=$((attempt + 1))
  sleep 2
done

# Describe, else create; a create that timed out may still have made it, so the next round describes again.
attempt=1
until cli operator namespace describe --namespace "$ns" >/dev/null 2>&1; do
  cli operator namespace create --namespace "$ns" --retention "${TEMPORAL_RETENTION:-72h}" && break
  [ "$attempt" -ge 30 ] && { echo "could not create the namespace $ns" >&2; exit 1; }
  attempt=$((attempt + 1))
  sleep 2
done

# A new namespace reaches every service within the registry's refresh interval (10 s): retry until it is accepted.
attempt=1
until cli operator search-attribute create --namespace "$ns" \
    --name JourneyId --type Keyword \
    --name JourneyVersion --type Int \
    --name ContactId --type Keyword \
    --name JourneyStep --type Keyword; do
  [ "$attempt" -ge 30 ] && { echo "could not register the search attributes in $ns" >&2; exit 1; }
  attempt=$((attempt + 1))
  sleep 2
done
cli operator search-attribute list --namespace "$ns"
