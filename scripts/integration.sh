#!/usr/bin/env bash
# integration.sh: the integration suite (go test -tags integration ./integration/...)
# against a real Apache Kafka broker. CI (.ci/run) calls it after the unit tests.
#
#   1. starts a broker with scripts/kafka-local.sh (its own state dir, so a broker you
#      run yourself is not touched; jars from Maven Central on the first run),
#   2. sets up the Python venv of the consumer check (scripts/pycheck: confluent-kafka
#      and fastavro from PyPI) under ${XDG_CACHE_HOME:-$HOME/.cache}/coupa-kafka/venv,
#   3. runs go vet and go test with the integration tag,
#   4. runs the Flink SQL + PostgreSQL stage (scripts/flink-stage.sh) on the same broker,
#      then, where a Docker engine answers and go.mod has testcontainers-go, the suite
#      against Redpanda too,
#   5. stops the broker, also when anything fails or the script is interrupted.
#
# Settings (environment):
#   INTEGRATION_RUN       go test -run pattern (default: every test)
#   INTEGRATION_GOFLAGS   extra go test flags, e.g. "-race -v"
#   INTEGRATION_TIMEOUT   go test -timeout (default 20m)
#   INTEGRATION_FLINK     1: run the Flink stage even with INTEGRATION_RUN; 0: skip it
#   COUPA_PYCHECK_VENV    venv of the Python check (default above)
#   COUPA_KAFKA_STATE     broker state dir (default: a fresh temp dir, removed at the end)
#   KEEP_KAFKA=1          leave the broker running at the end (prints how to stop it)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

t_start=$SECONDS
say() { printf '== integration (%ss): %s\n' "$((SECONDS - t_start))" "$*"; }

own_state=
if [[ -z ${COUPA_KAFKA_STATE:-} ]]; then
  COUPA_KAFKA_STATE=$(mktemp -d "${TMPDIR:-/tmp}/coupa-kafka-it.XXXXXX")
  own_state=1
fi
export COUPA_KAFKA_STATE
broker_started=

# The broker JVM of our state dir, if one runs (found by its command line).
broker_jvm() {
  local p props=$COUPA_KAFKA_STATE/server.properties
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "kafka.Kafka $props"; then
      printf '%s\n' "${p#/proc/}"
      return 0
    fi
  done
  return 1
}

# kafka-local.sh checks a new broker's command line right after forking it and
# can find the forked shell's (before exec): it then reports the broker, which is
# starting, as exited, and forgets it. adopt_broker waits for that broker and
# records it in the state dir (pid and env files) as kafka-local.sh would have.
adopt_broker() {
  local pid port deadline=$((SECONDS + 120))
  pid=$(broker_jvm) || return 1
  port=$(sed -n 's/^coupa.local.broker.port=//p' "$COUPA_KAFKA_STATE/server.properties")
  while ((SECONDS < deadline)); do
    [[ -d /proc/$pid ]] || return 1
    if awk '/^===== kafka-local.sh/ {s = 0} /Kafka Server started/ {s = 1} END {exit !s}' "$COUPA_KAFKA_STATE/kafka.log" &&
      (: <>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      printf '%s\n' "$pid" >"$COUPA_KAFKA_STATE/kafka.pid"
      printf 'KAFKA_BROKERS=127.0.0.1:%s\n' "$port" >"$COUPA_KAFKA_STATE/env"
      say "adopted the broker (pid $pid) that kafka-local.sh reported as exited while it was starting"
      return 0
    fi
    sleep 0.2
  done
  return 1
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $broker_started ]]; then
    if ((rc != 0)); then
      echo "--- last broker log lines ($COUPA_KAFKA_STATE/kafka.log):"
      tail -n 40 "$COUPA_KAFKA_STATE/kafka.log" 2>/dev/null || true
    fi
    if [[ ${KEEP_KAFKA:-} == 1 ]]; then
      say "broker left running: COUPA_KAFKA_STATE=$COUPA_KAFKA_STATE scripts/kafka-local.sh stop"
      own_state=
    else
      scripts/kafka-local.sh stop >/dev/null 2>&1 || scripts/kafka-local.sh stop --kill >/dev/null 2>&1 || true
      # a broker kafka-local.sh lost track of (see adopt_broker) is ours too
      local pid
      if pid=$(broker_jvm); then
        kill -KILL "$pid" 2>/dev/null || true
        say "killed the broker pid $pid that kafka-local.sh had lost track of"
      fi
    fi
  fi
  if [[ -n $own_state ]]; then rm -rf "$COUPA_KAFKA_STATE"; fi
  say "done, exit $rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v go >/dev/null || { echo "integration: Go is needed on the PATH" >&2; exit 1; }

# ---------------------------------------------------------------- the broker
say "starting Apache Kafka (scripts/kafka-local.sh, state $COUPA_KAFKA_STATE)"
broker_started=1
if ! line=$(scripts/kafka-local.sh start); then
  adopt_broker || { echo "integration: the broker did not start" >&2; exit 1; }
  line=$(scripts/kafka-local.sh env)
fi
[[ $line == KAFKA_BROKERS=* ]] || { echo "kafka-local.sh start printed '$line'" >&2; exit 1; }
export KAFKA_BROKERS=${line#KAFKA_BROKERS=}
say "broker up: KAFKA_BROKERS=$KAFKA_BROKERS"

# ---------------------------------------------------------------- the Python check
VENV=${COUPA_PYCHECK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/coupa-kafka/venv}
py_ok() { [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c 'import confluent_kafka, fastavro' 2>/dev/null; }
if ! py_ok; then
  say "setting up the Python venv $VENV (confluent-kafka, fastavro from PyPI)"
  PY=$(command -v python3 || true)
  [[ -n $PY ]] || { echo "integration: python3 is needed for the consumer check (apt-get install python3 python3-venv)" >&2; exit 1; }
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV" || { echo "integration: '$PY -m venv' failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r scripts/pycheck/requirements.txt
  py_ok || { echo "integration: the venv $VENV cannot import confluent_kafka and fastavro" >&2; exit 1; }
fi
export COUPA_PYCHECK_PYTHON=$VENV/bin/python
say "python check: $("$COUPA_PYCHECK_PYTHON" -c 'import sys, confluent_kafka, fastavro; print("python", sys.version.split()[0], "confluent-kafka", confluent_kafka.version(), "librdkafka", confluent_kafka.libversion()[0], "fastavro", fastavro.__version__)')"

# ---------------------------------------------------------------- the suite
say "go vet -tags integration,flink ./integration/..."
go vet -tags integration,flink ./integration/...

run_args=()
if [[ -n ${INTEGRATION_RUN:-} ]]; then run_args=(-run "$INTEGRATION_RUN"); fi
say "go test -tags integration against $KAFKA_BROKERS"
# shellcheck disable=SC2086 # INTEGRATION_GOFLAGS is a list of flags
go test -tags integration -count=1 -timeout "${INTEGRATION_TIMEOUT:-20m}" ${INTEGRATION_GOFLAGS:-} "${run_args[@]}" ./integration/...

# ---------------------------------------------------------------- Flink + PostgreSQL
# A real downstream on the same broker (scripts/flink-stage.sh). It runs with the
# whole suite; with INTEGRATION_RUN only when INTEGRATION_FLINK=1.
if [[ ${INTEGRATION_FLINK:-} == 1 || ( -z ${INTEGRATION_RUN:-} && ${INTEGRATION_FLINK:-} != 0 ) ]]; then
  say "Flink SQL into PostgreSQL (scripts/flink-stage.sh)"
  scripts/flink-stage.sh
else
  say "Flink stage skipped (INTEGRATION_RUN is set or INTEGRATION_FLINK=0)"
fi

# ---------------------------------------------------------------- Docker (optional)
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  if go list -tags integration,testcontainers ./integration/... >/dev/null 2>&1; then
    say "a Docker engine answers: the suite again against Redpanda (testcontainers-go)"
    # shellcheck disable=SC2086
    env -u KAFKA_BROKERS go test -tags integration,testcontainers -count=1 -timeout "${INTEGRATION_TIMEOUT:-20m}" ${INTEGRATION_GOFLAGS:-} "${run_args[@]}" ./integration/...
  else
    say "a Docker engine answers, but go.mod lacks testcontainers-go: Redpanda run skipped"
  fi
else
  say "no Docker engine: Redpanda (testcontainers-go) run skipped"
fi
