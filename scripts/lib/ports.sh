# Loopback port helpers shared by the scripts that start servers for tests
# (kafka-local.sh, postgres-local.sh, flink-cluster.sh). Sourced; the caller
# defines die.

# port_open PORT: something listens on 127.0.0.1:PORT.
port_open() { (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port [EXCLUDED...]: a free loopback port below Linux's ephemeral range
# (32768+), so that no outgoing connection takes it while a server is down
# (kafka-local.sh restart), and none of the excluded ones (ports picked for
# the same server but not bound yet).
free_port() {
  local p i x
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
    for x in "$@"; do [[ $p == "$x" ]] && continue 2; done
    port_open "$p" || { printf '%s\n' "$p"; return 0; }
  done
  die "found no free port in 20000-31999"
}
