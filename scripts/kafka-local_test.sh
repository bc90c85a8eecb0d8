#!/usr/bin/env bash
# Smoke test of scripts/kafka-local.sh with Kafka's own CLI classes (no Go needed):
# start (twice: idempotent), topics, a transactional copy (read_committed), restart on
# the same port and data, restart after SIGKILL, stop. It uses its own state dir, so a
# broker you already run is not touched. Exits non-zero if any check fails and ends
# with the line "N passed, N failed".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
K=$HERE/kafka-local.sh
export COUPA_KAFKA_STATE=${COUPA_KAFKA_TEST_STATE:-$(mktemp -d "${TMPDIR:-/tmp}/kafka-local-test.XXXXXX")}
unset COUPA_KAFKA_PORT COUPA_KAFKA_CONTROLLER_PORT

passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}

cleanup() {
  "$K" stop --kill >/dev/null 2>&1 || true
  if ((failed > 0)); then
    echo "--- last broker log lines ($COUPA_KAFKA_STATE/kafka.log):"
    tail -n 30 "$COUPA_KAFKA_STATE/kafka.log" 2>/dev/null || true
  fi
  [[ -n ${COUPA_KAFKA_TEST_STATE:-} ]] || rm -rf "$COUPA_KAFKA_STATE"
}
trap cleanup EXIT

line=$("$K" start)
check "start prints KAFKA_BROKERS=127.0.0.1:PORT ($line)" grep -Eq '^KAFKA_BROKERS=127\.0\.0\.1:[0-9]+$' <<<"$line"
B=${line#KAFKA_BROKERS=}
check "start again is a no-op printing the same line" test "$("$K" start 2>/dev/null)" = "$line"
check "status says running" "$K" status
check "env prints the same line" test "$("$K" env)" = "$line"

topic() { "$K" run org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" "$@"; }
check "create topic in" topic --create --topic in --partitions 1
check "create topic out" topic --create --topic out --partitions 1
check "create compacted topic" topic --create --topic compacted --partitions 1 --config cleanup.policy=compact

seq 1 10 | sed 's/^/m/' | "$K" run org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$B" --topic in
check "ConsoleProducer wrote 10 records to in" test "$(
  "$K" run org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$B" --topic in --time -1
)" = "in:0:10"

# a transactional consume-transform-produce: 10 records in transactions of 3
check "TransactionalMessageCopier copies in -> out in transactions" \
  "$K" run org.apache.kafka.tools.TransactionalMessageCopier --broker-list "$B" \
  --input-topic in --input-partition 0 --output-topic out --transactional-id smoke-tx \
  --consumer-group smoke-copier --transaction-size 3 --max-messages 10 --use-group-metadata

consume_out() {
  "$K" run org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$B" --topic out \
    --from-beginning --isolation-level read_committed --max-messages 10 --timeout-ms 30000 2>/dev/null | wc -l
}
check "read_committed consumer sees the 10 copied records" test "$(consume_out)" -eq 10
txstate() {
  "$K" run org.apache.kafka.tools.TransactionsCommand --bootstrap-server "$B" describe --transactional-id smoke-tx
}
check "the transaction coordinator knows smoke-tx (CompleteCommit)" grep -q CompleteCommit <<<"$(txstate)"

line2=$("$K" restart)
check "restart keeps the port ($line2)" test "$line2" = "$line"
check "after restart: topics survive" grep -qx out <<<"$(topic --list)"
check "after restart: committed records survive" test "$(consume_out)" -eq 10
check "after restart: smoke-tx still known" grep -q CompleteCommit <<<"$(txstate)"

line3=$("$K" restart --kill)
check "restart --kill keeps the port" test "$line3" = "$line"
check "after a crash: committed records survive" test "$(consume_out)" -eq 10

"$K" stop
if "$K" status >/dev/null; then bad "status after stop says running"; else ok "status after stop says not running"; fi
if "$K" env >/dev/null 2>&1; then bad "env after stop succeeds"; else ok "env after stop fails"; fi

echo "$passed passed, $failed failed"
((failed == 0))
