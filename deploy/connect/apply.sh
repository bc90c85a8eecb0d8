#!/usr/bin/env bash
# Creates or updates Kafka Connect connectors from JSON files, idempotently.
#
#   connect/apply.sh CONNECT_URL FILE_OR_DIR...
#   connect/apply.sh http://localhost:8083 deploy/connect/jdbc-postgres
#   connect/apply.sh http://localhost:8083 deploy/connect/coupa-s3.json
#
# Each file is a connector config map, as PUT /connectors/<name>/config takes
# it (name = the "name" key, also the file name without .json). PUT creates
# the connector or replaces its config; running it twice changes nothing.
# Needs only bash and curl (the cp-kafka-connect image has both).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 CONNECT_URL FILE_OR_DIR..." >&2
  exit 2
fi
url=${1%/}
shift

files=()
for arg in "$@"; do
  if [ -d "$arg" ]; then
    for f in "$arg"/*.json; do [ -e "$f" ] && files+=("$f"); done
  else
    files+=("$arg")
  fi
done
[ ${#files[@]} -gt 0 ] || { echo "apply.sh: no .json files in $*" >&2; exit 2; }

# Wait for the worker's REST API (up to about 5 minutes).
for i in $(seq 1 60); do
  if curl -fsS -o /dev/null "$url/connectors"; then break; fi
  [ "$i" = 60 ] && { echo "apply.sh: $url is not answering" >&2; exit 1; }
  sleep 5
done

rc=0
for f in "${files[@]}"; do
  name=$(basename "$f" .json)
  code=$(curl -sS -o /tmp/apply-connect.out -w '%{http_code}' -X PUT \
    -H 'Content-Type: application/json' --data-binary "@$f" \
    "$url/connectors/$name/config") || code=000
  case $code in
    200) echo "updated $name" ;;
    201) echo "created $name" ;;
    *) echo "apply.sh: $name: HTTP $code: $(cat /tmp/apply-connect.out 2>/dev/null)" >&2; rc=1 ;;
  esac
done
exit $rc
