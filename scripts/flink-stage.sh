#!/usr/bin/env bash
# flink-stage.sh: the Flink + PostgreSQL stage of the integration suite. A real
# downstream reads the topics: the Flink SQL job of deploy/flink (in an embedded
# mini-cluster) keeps a throw-away PostgreSQL cluster in step, and
# TestFlinkSQLKeepsPostgresInStep checks the database against the simulator's
# truth, before and after the instance changes, with the job still running;
# TestFlinkJobJarOnStandaloneCluster does the same with the job jar submitted to
# a standalone session cluster (scripts/flink-cluster.sh).
#
#   1. builds deploy/flink with Maven (Flink 1.20 from Maven Central, cached in
#      ~/.m2 like the broker's jars) and writes its classpath,
#   2. starts PostgreSQL with scripts/postgres-local.sh (installs Debian's
#      postgresql package when initdb is missing),
#   3. runs the tests (build tags integration,flink) against KAFKA_BROKERS,
#   4. stops PostgreSQL, also when anything fails.
#
# scripts/integration.sh runs it after the suite, with its broker; alone:
#   KAFKA_BROKERS=127.0.0.1:PORT scripts/flink-stage.sh
# Settings: INTEGRATION_GOFLAGS (extra go test flags), COUPA_PG_STATE (the
# cluster's state dir; default a fresh temp dir, removed at the end).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

t_start=$SECONDS
say() { printf '== flink (%ss): %s\n' "$((SECONDS - t_start))" "$*"; }

[[ -n ${KAFKA_BROKERS:-} ]] || { echo "flink-stage: KAFKA_BROKERS is not set (scripts/integration.sh sets it)" >&2; exit 1; }
command -v mvn >/dev/null || { echo "flink-stage: Maven (mvn) is needed on the PATH" >&2; exit 1; }
command -v java >/dev/null || { echo "flink-stage: Java 17 is needed on the PATH" >&2; exit 1; }

say "building the Flink job (deploy/flink, mvn package)"
(cd deploy/flink && mvn -q -B -Dstyle.color=never package) ||
  { echo "flink-stage: the Maven build of deploy/flink failed" >&2; exit 1; }

own_state=
if [[ -z ${COUPA_PG_STATE:-} ]]; then
  COUPA_PG_STATE=$(mktemp -d "${TMPDIR:-/tmp}/coupa-kafka-pg.XXXXXX")
  own_state=1
fi
export COUPA_PG_STATE
cleanup() {
  scripts/postgres-local.sh stop >/dev/null 2>&1 || true
  if [[ -n $own_state ]]; then rm -rf "$COUPA_PG_STATE"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "starting PostgreSQL (scripts/postgres-local.sh, state $COUPA_PG_STATE)"
line=$(scripts/postgres-local.sh start)
[[ $line == POSTGRES_URL=* ]] || { echo "postgres-local.sh start printed '$line'" >&2; exit 1; }
export POSTGRES_URL=${line#POSTGRES_URL=}

say "go test -tags integration,flink -run TestFlink against $KAFKA_BROKERS"
# shellcheck disable=SC2086 # INTEGRATION_GOFLAGS is a list of flags
go test -tags integration,flink -count=1 -timeout 15m -v ${INTEGRATION_GOFLAGS:-} \
  -run '^TestFlink' ./integration/ |
  grep -v '^=== \(RUN\|PAUSE\|CONT\)'
say "done"
