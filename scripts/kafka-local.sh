#!/usr/bin/env bash
# kafka-local.sh: a real Apache Kafka 4.x broker on 127.0.0.1 for integration tests
# and CI, without Docker: the jars come from Maven Central (scripts/kafka/pom.xml)
# and run on the machine's java.
#
# Usage: scripts/kafka-local.sh COMMAND
#   start       start one KRaft node (process.roles=broker,controller) on random free
#               loopback ports with a fresh data dir; prints KAFKA_BROKERS=127.0.0.1:PORT.
#               Already running: prints the same line and does nothing else.
#   stop        SIGTERM (controlled shutdown), then SIGKILL after the stop timeout;
#               the state dir stays (kafka.log for post-mortems), `start` wipes its data.
#   stop --kill SIGKILL at once.
#   restart     stop (if running), then start again on the SAME ports and data dir
#               (topics, offsets and transactions survive); prints KAFKA_BROKERS=...
#   restart --kill
#               the same, but SIGKILL first: a crash rather than a clean shutdown.
#   status      "running ..." (exit 0) or "not running" (exit 3).
#   env         prints KAFKA_BROKERS=127.0.0.1:PORT of the running broker (exit 1 if none).
#   provision   only fetch the jars into the cache (what a cold `start` does first).
#   run CLASS [ARGS...]
#               run a Kafka CLI class on the broker's classpath, e.g.
#               run org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:PORT --list
#   classpath   print the classpath (LIBS_DIR/*).
#   logs [N]    print the last N (100) lines of the broker log.
#
# Typical use:   eval "export $(scripts/kafka-local.sh start)"; go test ...; scripts/kafka-local.sh stop
#
# Settings (environment):
#   KAFKA_VERSION              Kafka version from Maven Central (default 4.1.1)
#   COUPA_KAFKA_CACHE          jar cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/coupa-kafka/kafka-$KAFKA_VERSION)
#   COUPA_KAFKA_LIBS           the jar directory itself (default $COUPA_KAFKA_CACHE/libs)
#   COUPA_KAFKA_STATE          state dir: pid, server.properties, data/, kafka.log (default /tmp/coupa-kafka-local)
#   COUPA_KAFKA_PORT           fixed broker port (default: a random free one)
#   COUPA_KAFKA_CONTROLLER_PORT fixed controller port (default: a random free one)
#   COUPA_KAFKA_START_TIMEOUT  seconds to wait for the broker (default 120: a start takes
#                              5-8s on an idle 2-core machine, 20-40s when it is busy)
#   COUPA_KAFKA_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 30)
#   COUPA_KAFKA_MVN_OPTS       extra mvn arguments, e.g. -Dmaven.repo.local=/some/dir
#   KAFKA_HEAP_OPTS            broker heap (default -Xms128m -Xmx512m)
#   KAFKA_JVM_OPTS             other broker JVM options (default: G1, C1 JIT only: starts
#                              in ~2/3 of the time on 2 busy cores, fast enough for tests)
#   JAVA_HOME                  java to use (default: java on PATH); needs Java 17+
#
# Messages go to stderr; stdout carries only the KAFKA_BROKERS line (or a tool's output).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KAFKA_VERSION=${KAFKA_VERSION:-4.1.1}
CACHE_DIR=${COUPA_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/coupa-kafka/kafka-$KAFKA_VERSION}
LIBS_DIR=${COUPA_KAFKA_LIBS:-$CACHE_DIR/libs}
STATE_DIR=${COUPA_KAFKA_STATE:-/tmp/coupa-kafka-local}
START_TIMEOUT=${COUPA_KAFKA_START_TIMEOUT:-120}
STOP_TIMEOUT=${COUPA_KAFKA_STOP_TIMEOUT:-30}
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}
JVM_OPTS=${KAFKA_JVM_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:TieredStopAtLevel=1 -Djava.awt.headless=true}

PID_FILE=$STATE_DIR/kafka.pid
PROPS_FILE=$STATE_DIR/server.properties
ENV_FILE=$STATE_DIR/env
LOG_FILE=$STATE_DIR/kafka.log
DATA_DIR=$STATE_DIR/data
LOCK_FILE=$STATE_DIR/.lock

if [[ -n ${JAVA_HOME:-} && -x ${JAVA_HOME}/bin/java ]]; then
  JAVA=$JAVA_HOME/bin/java
else
  JAVA=java
fi

say() { printf 'kafka-local: %s\n' "$*" >&2; }
die() { printf 'kafka-local: error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,/^set -euo pipefail$/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
}

# ---------------------------------------------------------------- prerequisites

check_java() {
  command -v "$JAVA" >/dev/null 2>&1 ||
    die "java not found (JAVA_HOME=${JAVA_HOME:-unset}): install a JDK or JRE 17 or newer, e.g. apt-get install openjdk-17-jre-headless"
  local spec major
  spec=$("$JAVA" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2; exit}') || true
  major=${spec#1.}
  major=${major%%.*}
  [[ $major =~ ^[0-9]+$ ]] || die "cannot tell the version of $(command -v "$JAVA") (got '${spec}'): Kafka $KAFKA_VERSION needs Java 17 or newer"
  ((major >= 17)) || die "$(command -v "$JAVA") is Java $spec: Kafka $KAFKA_VERSION needs Java 17 or newer (set JAVA_HOME)"
}

# Fetch the broker's jars once into LIBS_DIR (outside the repo). A half-done fetch
# never counts: the jars land in a temp dir that is renamed only when complete.
provision() {
  [[ -f $LIBS_DIR/.complete ]] && return 0
  mkdir -p "$(dirname "$LIBS_DIR")"
  # serialize concurrent cold starts that share one cache
  local lockfd
  if command -v flock >/dev/null 2>&1; then
    exec {lockfd}>"$LIBS_DIR.lock"
    flock "$lockfd"
  fi
  if [[ ! -f $LIBS_DIR/.complete ]]; then
    command -v mvn >/dev/null 2>&1 ||
      die "mvn not found: it is needed once to fetch Kafka $KAFKA_VERSION from Maven Central into $LIBS_DIR (apt-get install maven)"
    local tmp t0=$SECONDS
    tmp=$(mktemp -d "$LIBS_DIR.tmp.XXXXXX")
    say "fetching Kafka $KAFKA_VERSION from Maven Central into $LIBS_DIR (once) ..."
    # shellcheck disable=SC2086 # COUPA_KAFKA_MVN_OPTS is a list of arguments
    if ! mvn -B -q -Dstyle.color=never -f "$SCRIPT_DIR/kafka/pom.xml" \
      -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
      ${COUPA_KAFKA_MVN_OPTS:-} >"$tmp.mvn.log" 2>&1; then
      cat "$tmp.mvn.log" >&2
      rm -rf "$tmp" "$tmp.mvn.log"
      die "mvn could not fetch Kafka $KAFKA_VERSION (see above; is Maven Central reachable, is the version served?)"
    fi
    rm -f "$tmp.mvn.log"
    [[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar && -f $tmp/kafka-tools-$KAFKA_VERSION.jar ]] || {
      rm -rf "$tmp"
      die "mvn ran but kafka_2.13-$KAFKA_VERSION.jar is missing from the fetched jars"
    }
    touch "$tmp/.complete"
    rm -rf "$LIBS_DIR"
    mv "$tmp" "$LIBS_DIR"
    say "fetched $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars in $((SECONDS - t0))s"
  fi
  if [[ -n ${lockfd:-} ]]; then exec {lockfd}>&-; fi
  return 0
}

# Run a main class on the Kafka classpath, quietly (warnings only, on stderr).
run_class() {
  "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/tools-log4j2.properties" \
    -cp "$LIBS_DIR/*" "$@"
}

# ---------------------------------------------------------------- state

# Take the state dir's lock for the rest of the command. The broker is started with
# this descriptor closed, so it never holds the lock itself.
LOCK_FD=
lock_state() {
  mkdir -p "$STATE_DIR"
  exec {LOCK_FD}>"$LOCK_FILE"
  if command -v flock >/dev/null 2>&1; then
    flock -w 120 "$LOCK_FD" || die "another kafka-local.sh holds $LOCK_FILE for over 120s"
  fi
}

# Is PID our broker, alive (a zombie is not)?
is_broker_pid() {
  local pid=$1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  if [[ -r /proc/$pid/stat ]]; then
    local stat state
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    state=${stat##*) }
    state=${state%% *}
    [[ $state != Z && $state != X ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "kafka.Kafka $PROPS_FILE"
  else
    local line
    line=$(ps -p "$pid" -o stat= -o command= 2>/dev/null) || return 1
    [[ $line != Z* ]] && [[ $line == *"kafka.Kafka $PROPS_FILE"* ]]
  fi
}

# Is PID alive at all (not a zombie)? Right after the fork the child may still
# be the forked shell, not yet java: launch() waits on this, not on
# is_broker_pid, or a healthy start looks like an early exit.
is_alive_pid() {
  local pid=$1 stat state
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  if [[ -r /proc/$pid/stat ]]; then
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    state=${stat##*) }
    state=${state%% *}
    [[ $state != Z && $state != X ]]
  else
    local line
    line=$(ps -p "$pid" -o stat= 2>/dev/null) || return 1
    [[ $line != Z* ]]
  fi
}

running_pid() {
  [[ -f $PID_FILE ]] || return 1
  local pid
  pid=$(<"$PID_FILE")
  is_broker_pid "$pid" || return 1
  printf '%s\n' "$pid"
}

# the broker's own words about the port it could not bind
bind_error() { grep 'failed to bind' "$LOG_FILE" | tail -n 1 >&2 || true; }

# port_open, free_port
# shellcheck source=lib/ports.sh
source "$SCRIPT_DIR/lib/ports.sh"

prop() { sed -n "s/^$1=//p" "$PROPS_FILE" | tail -n 1; }

brokers_line() { printf 'KAFKA_BROKERS=127.0.0.1:%s\n' "$(prop coupa.local.broker.port)"; }

write_props() {
  local bport=$1 cport=$2
  cat >"$PROPS_FILE" <<EOF
# written by scripts/kafka-local.sh; a single-node KRaft cluster for tests
coupa.local.broker.port=$bport
coupa.local.controller.port=$cport
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA_DIR

# one node: every internal topic with one replica
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# tests create their topics; consumer groups settle at once
auto.create.topics.enable=false
delete.topic.enable=true
group.initial.rebalance.delay.ms=0

# compaction and deletion soon enough for tests (topics still set segment.ms etc.)
log.cleaner.enable=true
log.cleaner.backoff.ms=500
log.cleaner.dedupe.buffer.size=16777216
log.cleaner.threads=1
log.retention.check.interval.ms=5000
log.segment.delete.delay.ms=1000
file.delete.delay.ms=1000

# after a SIGKILL (restart --kill) the new process may register only once the old
# registration's session has expired (default 9s): keep that short
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=500

# small footprint
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
}

# Start the JVM on the current server.properties and wait until it serves.
# Returns 0 when up, 2 when a port was taken (caller may retry), dies otherwise.
launch() {
  local bport cport offset pid deadline
  bport=$(prop coupa.local.broker.port)
  cport=$(prop coupa.local.controller.port)
  mkdir -p "$STATE_DIR/logs"
  touch "$LOG_FILE"
  offset=$(wc -c <"$LOG_FILE")
  printf '\n===== kafka-local.sh %s: starting Kafka %s on 127.0.0.1:%s (controller %s) =====\n' \
    "$(date -u +%FT%TZ)" "$KAFKA_VERSION" "$bport" "$cport" >>"$LOG_FILE"
  # shellcheck disable=SC2086 # HEAP_OPTS and JVM_OPTS are lists of options
  setsid nohup "$JAVA" $HEAP_OPTS $JVM_OPTS \
    -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.properties" \
    -Dkafka.logs.dir="$STATE_DIR/logs" \
    -cp "$LIBS_DIR/*" kafka.Kafka "$PROPS_FILE" \
    </dev/null >>"$LOG_FILE" 2>&1 {LOCK_FD}>&- &
  pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"

  deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if ! is_alive_pid "$pid"; then
      rm -f "$PID_FILE" "$ENV_FILE"
      if tail -c +"$((offset + 1))" "$LOG_FILE" | grep -q 'Address already in use'; then
        return 2
      fi
      say "Kafka exited during startup; last lines of $LOG_FILE:"
      tail -c +"$((offset + 1))" "$LOG_FILE" | tail -n 40 >&2
      die "Kafka did not start"
    fi
    if is_broker_pid "$pid" && tail -c +"$((offset + 1))" "$LOG_FILE" | grep -q 'Kafka Server started' && port_open "$bport"; then
      brokers_line >"$ENV_FILE"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      say "Kafka did not report 'Kafka Server started' within ${START_TIMEOUT}s; last lines of $LOG_FILE:"
      tail -c +"$((offset + 1))" "$LOG_FILE" | tail -n 40 >&2
      stop_pid "$pid" KILL
      rm -f "$PID_FILE" "$ENV_FILE"
      die "Kafka did not start in time (COUPA_KAFKA_START_TIMEOUT=$START_TIMEOUT)"
    fi
    sleep 0.2
  done
}

# stop_pid PID [TERM|KILL]: signal, wait up to STOP_TIMEOUT, then SIGKILL.
stop_pid() {
  local pid=$1 sig=${2:-TERM} deadline
  kill -"$sig" "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while is_broker_pid "$pid"; do
    if ((SECONDS >= deadline)) && [[ $sig != KILL ]]; then
      say "pid $pid still alive ${STOP_TIMEOUT}s after SIG$sig: SIGKILL"
      sig=KILL
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
    elif ((SECONDS >= deadline)); then
      die "pid $pid survives SIGKILL"
    fi
    sleep 0.1
  done
}

format_storage() {
  local cluster_id out
  # a Kafka cluster id is a random 16-byte UUID in URL-safe base64 without padding,
  # as `kafka.tools.StorageTool random-uuid` prints it
  cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
  out=$(run_class kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS_FILE" 2>&1) || {
    printf '%s\n' "$out" >&2
    die "kafka.tools.StorageTool format failed"
  }
}

# ---------------------------------------------------------------- commands

cmd_start() {
  lock_state
  local pid
  if pid=$(running_pid); then
    say "already running (pid $pid)"
    cat "$ENV_FILE"
    return 0
  fi
  check_java
  provision
  rm -f "$PID_FILE" "$ENV_FILE"

  local attempt bport cport rc t0=$SECONDS
  for attempt in 1 2 3; do
    bport=${COUPA_KAFKA_PORT:-$(free_port)}
    cport=${COUPA_KAFKA_CONTROLLER_PORT:-$(free_port "$bport")}
    [[ $bport != "$cport" ]] || die "broker and controller ports are both $bport"
    rm -rf "$DATA_DIR"
    mkdir -p "$DATA_DIR"
    write_props "$bport" "$cport"
    format_storage
    rc=0
    launch || rc=$?
    if ((rc == 0)); then
      say "Kafka $KAFKA_VERSION up in $((SECONDS - t0))s (pid $(<"$PID_FILE"), state $STATE_DIR)"
      cat "$ENV_FILE"
      return 0
    fi
    if [[ -n ${COUPA_KAFKA_PORT:-} || -n ${COUPA_KAFKA_CONTROLLER_PORT:-} ]] || ((attempt == 3)); then
      bind_error
      die "port $bport or $cport on 127.0.0.1 is already in use"
    fi
    say "port $bport or $cport was taken meanwhile; trying other ports"
  done
}

cmd_stop() {
  local sig=TERM
  case ${1:-} in
  "") ;;
  --kill) sig=KILL ;;
  *) die "stop takes only --kill, not '$1'" ;;
  esac
  lock_state
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PID_FILE" "$ENV_FILE"
    say "not running"
    return 0
  fi
  stop_pid "$pid" "$sig"
  rm -f "$PID_FILE" "$ENV_FILE"
  say "stopped (pid $pid, SIG$sig)"
}

cmd_restart() {
  local sig=TERM
  case ${1:-} in
  "") ;;
  --kill) sig=KILL ;;
  *) die "restart takes only --kill, not '$1'" ;;
  esac
  lock_state
  [[ -f $PROPS_FILE && -f $DATA_DIR/meta.properties ]] ||
    die "nothing to restart in $STATE_DIR: run start first"
  local pid t0=$SECONDS
  if pid=$(running_pid); then
    stop_pid "$pid" "$sig"
    say "stopped (pid $pid, SIG$sig)"
  fi
  rm -f "$PID_FILE" "$ENV_FILE"
  check_java
  provision
  local bport cport rc=0
  bport=$(prop coupa.local.broker.port)
  cport=$(prop coupa.local.controller.port)
  launch || rc=$?
  if ((rc == 2)); then
    bind_error
    die "cannot restart: port $bport or $cport on 127.0.0.1 is now used by another process"
  fi
  say "Kafka $KAFKA_VERSION up again in $((SECONDS - t0))s (pid $(<"$PID_FILE"), same ports and data)"
  cat "$ENV_FILE"
}

cmd_status() {
  local pid
  if pid=$(running_pid); then
    echo "running: pid $pid, Kafka $KAFKA_VERSION, $(cat "$ENV_FILE" 2>/dev/null || brokers_line), state $STATE_DIR"
    return 0
  fi
  echo "not running (state $STATE_DIR)"
  return 3
}

cmd_env() {
  running_pid >/dev/null || die "not running (state $STATE_DIR): run scripts/kafka-local.sh start"
  cat "$ENV_FILE" 2>/dev/null || brokers_line
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
  start) cmd_start ;;
  stop) cmd_stop "$@" ;;
  restart) cmd_restart "$@" ;;
  status) cmd_status ;;
  env) cmd_env ;;
  provision) check_java; provision; say "jars in $LIBS_DIR" ;;
  run)
    [[ $# -gt 0 ]] || die "usage: run CLASS [ARGS...]"
    check_java
    provision
    run_class "$@"
    ;;
  classpath) printf '%s/*\n' "$LIBS_DIR" ;;
  logs) tail -n "${1:-100}" "$LOG_FILE" ;;
  -h | --help | help) usage ;;
  *)
    usage
    exit 2
    ;;
  esac
}

main "$@"
