#!/usr/bin/env bash
# flink-cluster.sh: a standalone Flink 1.20 session cluster on 127.0.0.1 (one
# JobManager JVM, one TaskManager JVM) built from Maven Central jars, to prove
# that deploy/flink's job jar runs on a cluster as it is, with `flink run`.
# Flink's binary distribution is not on Maven Central, so the cluster's lib is
# the `provided` classpath of deploy/flink (Flink itself, no connector), and the
# job jar has to bring its connectors, as on a real cluster.
#
# Usage: scripts/flink-cluster.sh COMMAND
#   start            start the cluster; prints FLINK_REST=127.0.0.1:PORT
#   run ARGS...      the `flink` command line client (CliFrontend) against it,
#                    e.g. run run -d deploy/flink/target/coupa-flink-sql.jar deploy/flink/coupa.sql
#   stop             stop both JVMs; the state dir stays (logs)
#
# Needs deploy/flink built (scripts/flink-stage.sh does it) and its classpaths:
#   target/classpath.txt and target/cluster-classpath.txt.
# Settings: COUPA_FLINK_STATE (state dir, default /tmp/coupa-kafka-flink).
# Messages go to stderr; stdout carries only the FLINK_REST line (or the client's output).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE_DIR=${COUPA_FLINK_STATE:-/tmp/coupa-kafka-flink}
CONF_DIR=$STATE_DIR/conf
CP_FILE=$ROOT/deploy/flink/target/cluster-classpath.txt

# What Flink's distribution gives every JVM on Java 17 (env.java.opts.all in its
# config.yaml): Flink reflects into these JDK packages.
JAVA_OPENS="--add-exports=java.base/sun.net.util=ALL-UNNAMED --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED
--add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED
--add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.text=ALL-UNNAMED
--add-opens=java.base/java.time=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED"

say() { printf 'flink-cluster: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# port_open, free_port
# shellcheck source=lib/ports.sh
source "$ROOT/scripts/lib/ports.sh"

classpath() {
  [[ -f $CP_FILE ]] || die "$CP_FILE is missing: build deploy/flink first (scripts/flink-stage.sh)"
  cat "$CP_FILE"
}

write_conf() {
  local rpc=$1 rest=$2
  mkdir -p "$CONF_DIR"
  cat >"$CONF_DIR/config.yaml" <<EOF
# written by scripts/flink-cluster.sh
jobmanager:
  rpc: {address: 127.0.0.1, port: $rpc}
  bind-host: 127.0.0.1
  memory: {process: {size: 1024m}}
taskmanager:
  bind-host: 127.0.0.1
  host: 127.0.0.1
  numberOfTaskSlots: 4
  memory: {process: {size: 1536m}}
rest: {address: 127.0.0.1, bind-address: 127.0.0.1, port: $rest}
parallelism: {default: 1}
blob: {server: {port: "0"}}
EOF
  cp "$ROOT/deploy/flink/log4j2.properties" "$CONF_DIR/log4j.properties"
  cp "$ROOT/deploy/flink/log4j2.properties" "$CONF_DIR/log4j-cli.properties"
}

# bash_java_utils asks Flink for a process's JVM options and dynamic settings,
# as Flink's own launch scripts do (the memory model is computed from config.yaml).
bash_java_utils() {
  java -cp "$(classpath)" org.apache.flink.runtime.util.bash.BashJavaUtils "$1" --configDir "$CONF_DIR" 2>/dev/null |
    sed -n 's/^BASH_JAVA_UTILS_EXEC_RESULT://p'
}

launch() {
  local name=$1 main=$2 params=$3 out jvm dyn
  out=$(bash_java_utils "$params")
  jvm=$(sed -n 1p <<<"$out")
  dyn=$(sed -n 2p <<<"$out")
  [[ -n $jvm ]] || die "BashJavaUtils $params printed nothing"
  # shellcheck disable=SC2086 # jvm and dyn are lists of options
  nohup java $jvm $JAVA_OPENS -Dlog4j.configurationFile="$CONF_DIR/log4j.properties" -cp "$(classpath)" \
    "$main" --configDir "$CONF_DIR" $dyn >"$STATE_DIR/$name.log" 2>&1 &
  echo $! >"$STATE_DIR/$name.pid"
}

cmd_start() {
  cmd_stop 2>/dev/null || true
  rm -rf "$STATE_DIR"
  mkdir -p "$STATE_DIR"
  local rpc rest deadline
  rpc=$(free_port)
  rest=$(free_port "$rpc")
  write_conf "$rpc" "$rest"
  launch jobmanager org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint GET_JM_RESOURCE_PARAMS
  launch taskmanager org.apache.flink.runtime.taskexecutor.TaskManagerRunner GET_TM_RESOURCE_PARAMS
  deadline=$((SECONDS + 120))
  until curl -fs "http://127.0.0.1:$rest/taskmanagers" 2>/dev/null | grep -q '"slotsNumber":[1-9]'; do
    ((SECONDS < deadline)) || { tail -n 20 "$STATE_DIR"/*.log >&2; die "the cluster did not come up with a TaskManager in 120s"; }
    for n in jobmanager taskmanager; do
      kill -0 "$(<"$STATE_DIR/$n.pid")" 2>/dev/null || { tail -n 30 "$STATE_DIR/$n.log" >&2; die "the $n exited"; }
    done
    sleep 1
  done
  echo "FLINK_REST=127.0.0.1:$rest" | tee "$STATE_DIR/env"
  say "Flink session cluster up (REST 127.0.0.1:$rest, state $STATE_DIR)"
}

cmd_run() {
  [[ -f $STATE_DIR/env ]] || die "not running: start it first"
  # shellcheck disable=SC2086 # a list of options
  FLINK_CONF_DIR=$CONF_DIR exec java $JAVA_OPENS -Dlog4j.configurationFile="$CONF_DIR/log4j-cli.properties" \
    -cp "$(classpath)" org.apache.flink.client.cli.CliFrontend "$@"
}

cmd_stop() {
  local n pid stopped=
  for n in taskmanager jobmanager; do
    [[ -f $STATE_DIR/$n.pid ]] || continue
    pid=$(<"$STATE_DIR/$n.pid")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 "$pid" 2>/dev/null || true
      stopped=1
    fi
    rm -f "$STATE_DIR/$n.pid"
  done
  rm -f "$STATE_DIR/env"
  [[ -n $stopped ]] && say "stopped" || say "not running"
}

case ${1:-} in
start) cmd_start ;;
run) shift; cmd_run "$@" ;;
stop) cmd_stop ;;
*) die "usage: $0 start|run ARGS...|stop" ;;
esac
