#!/bin/sh
# The compose job `temporal-namespace` (temporalio/admin-tools): the namespace itinera runs in and the search attributes
# its workflows set (src/contracts/search-attributes.ts). Safe to run again: an existing namespace is kept and the CLI
# accepts attributes that already exist with the same type. tests/cluster/compose.test.ts runs this same file.
set -eu
: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
ns="${TEMPORAL_NAMESPACE:-default}"

attempt=1
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  [ "$attempt" -ge 90 ] && { echo "Temporal at $TEMPORAL_ADDRESS is not healthy" >&2; exit 1; }
  attempt=$((attempt + 1))
  sleep 2
done

if ! temporal operator namespace describe --namespace "$ns" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
  temporal operator namespace create --namespace "$ns" --retention "${TEMPORAL_RETENTION:-72h}" --address "$TEMPORAL_ADDRESS"
fi

# A new namespace reaches every service within the registry's refresh interval (10 s): retry until it is accepted.
attempt=1
until temporal operator search-attribute create --namespace "$ns" --address "$TEMPORAL_ADDRESS" \
    --name JourneyId --type Keyword \
    --name JourneyVersion --type Int \
    --name ContactId --type Keyword \
    --name JourneyStep --type Keyword; do
  [ "$attempt" -ge 30 ] && { echo "could not register the search attributes in $ns" >&2; exit 1; }
  attempt=$((attempt + 1))
  sleep 2
done
temporal operator search-attribute list --namespace "$ns" --address "$TEMPORAL_ADDRESS"
