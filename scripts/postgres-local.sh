#!/usr/bin/env bash
# postgres-local.sh: a throw-away PostgreSQL cluster on 127.0.0.1 for the Flink
# stage of the integration tests, without Docker and without the system service:
# Debian's postgresql package (installed with apt-get when initdb is missing),
# `initdb` into a state dir and `pg_ctl` on a free loopback port.
#
# Usage: scripts/postgres-local.sh COMMAND
#   start   initdb a fresh cluster and start it; prints
#           POSTGRES_URL=postgres://coupa:coupa@127.0.0.1:PORT/coupa?sslmode=disable
#   stop    stop it (fast shutdown); the state dir stays (postgres.log)
#   psql [ARGS...]
#           psql connected to the running cluster's database
#
# Settings (environment):
#   COUPA_PG_STATE   state dir (default /tmp/coupa-kafka-pg)
#   COUPA_PG_PORT    fixed port (default: a random free one)
#
# Runs as root too (as in CI): the cluster then belongs to the `postgres` user,
# since PostgreSQL refuses to run as root. Messages go to stderr; stdout
# carries only the POSTGRES_URL line (or psql's output).
set -euo pipefail

STATE_DIR=${COUPA_PG_STATE:-/tmp/coupa-kafka-pg}
DATA_DIR=$STATE_DIR/data
LOG_FILE=$STATE_DIR/postgres.log
ENV_FILE=$STATE_DIR/env

say() { printf 'postgres-local: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n $d && -x $d/initdb ]] && printf '%s\n' "$d"
}

install_postgres() {
  bindir >/dev/null && return 0
  command -v apt-get >/dev/null || die "no PostgreSQL server binaries (initdb) and no apt-get to install them"
  say "installing Debian's postgresql package"
  local sudo=
  ((EUID == 0)) || sudo=sudo
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >&2
  bindir >/dev/null || die "apt-get installed postgresql but initdb is still missing"
}

# as_owner runs a command as the cluster's owner: postgres when we are root.
as_owner() {
  if ((EUID == 0)); then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# port_open, free_port
# shellcheck source=lib/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ports.sh"

cmd_start() {
  install_postgres
  local bin port
  bin=$(bindir)
  cmd_stop 2>/dev/null || true
  rm -rf "$STATE_DIR"
  mkdir -p "$STATE_DIR"
  ((EUID != 0)) || chown postgres: "$STATE_DIR"
  local pwfile=$STATE_DIR/pw
  printf 'coupa\n' >"$pwfile"
  ((EUID != 0)) || chown postgres: "$pwfile"
  as_owner "$bin/initdb" -D "$DATA_DIR" -U coupa --pwfile="$pwfile" -A scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  port=${COUPA_PG_PORT:-$(free_port)}
  # Loopback only, no Unix socket in a system directory, UTC for every session.
  as_owner "$bin/pg_ctl" -D "$DATA_DIR" -l "$LOG_FILE" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$STATE_DIR -c timezone=UTC -c fsync=off" \
    start >/dev/null || { tail -n 20 "$LOG_FILE" >&2; die "PostgreSQL did not start"; }
  PGPASSWORD=coupa "$bin/createdb" -h 127.0.0.1 -p "$port" -U coupa coupa
  printf 'POSTGRES_URL=postgres://coupa:coupa@127.0.0.1:%s/coupa?sslmode=disable\n' "$port" | tee "$ENV_FILE"
  say "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') up on 127.0.0.1:$port (state $STATE_DIR)"
}

cmd_stop() {
  local bin
  bin=$(bindir) || return 0
  [[ -f $DATA_DIR/postmaster.pid ]] || { say "not running"; return 0; }
  as_owner "$bin/pg_ctl" -D "$DATA_DIR" -m fast -w stop >/dev/null
  rm -f "$ENV_FILE"
  say "stopped"
}

cmd_psql() {
  [[ -f $ENV_FILE ]] || die "not running: start it first"
  local url
  url=$(sed -n 's/^POSTGRES_URL=//p' "$ENV_FILE")
  exec psql "$url" "$@"
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
psql) shift; cmd_psql "$@" ;;
*) die "usage: $0 start|stop|psql [ARGS...]" ;;
esac
