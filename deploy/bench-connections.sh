#!/usr/bin/env bash
# 10,000 client connections open at once through one shardgate, each doing an occasional point
# query, over backend pools of at most 64 connections per server. Prints the proxy's memory
# (RSS) idle, with every client connected, and at the end, plus the clients' errors.
#
#   deploy/bench-connections.sh [--base-port N] [--port P]
#
# --base-port: the test cluster's (deploy/cluster.sh; started if down), default 4400.
# --port: where this script's shardgate listens, default base port + 90.
# Environment: CLIENTS (10000), SECONDS_OPEN (30), POOL_MAX (64), MULTIPLEX (true): with
# MULTIPLEX=false every client pins a backend connection, so at most POOL_MAX clients can
# query at once and the rest time out: that is the comparison this script exists for.
# SHARDGATE: the binary to run (target/release/shardgate, built first), so two builds can be
# compared on the same cluster.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

base_port=4400
port=
while (($#)); do
  case $1 in
    --base-port) base_port=${2:?}; shift 2 ;;
    --port) port=${2:?}; shift 2 ;;
    *) die "unknown argument: $1" ;;
  esac
done
port=${port:-$((base_port + 90))}
CLIENTS=${CLIENTS:-10000}
SECONDS_OPEN=${SECONDS_OPEN:-30}
POOL_MAX=${POOL_MAX:-64}
MULTIPLEX=${MULTIPLEX:-true}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Every client is a socket in the client process and one in the proxy.
want=$((CLIENTS + 1024))
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] || ((want <= hard)) || die "ulimit -Hn is $hard, need $want"
ulimit -n "$want"

bash "$root/deploy/cluster.sh" up --base-port "$base_port" >/dev/null
direct() { mariadb --no-defaults -h127.0.0.1 -P"$base_port" -uapp -papp-pass "$@"; }
direct -e "DROP DATABASE IF EXISTS conn_bench; CREATE DATABASE conn_bench;
  USE conn_bench; CREATE TABLE bench (id INT PRIMARY KEY, v BIGINT NOT NULL);
  INSERT INTO bench SELECT seq, seq * 7 FROM seq_1_to_1000;"

work=$(mktemp -d "${TMPDIR:-/tmp}/shardgate-conns.XXXXXX")
proxy_pid=
cleanup() {
  local rc=$?
  [[ -z $proxy_pid ]] || stop_pid "$proxy_pid" "$work/shardgate.toml" shardgate || rc=1
  rm -rf "$work" "${TMPDIR:-/tmp}/bench-connections-$port.open"
  exit "$rc"
}
trap cleanup EXIT

mkdir "$work/rules"
cat >"$work/rules/conn_bench.toml" <<EOF
[database]
name = "conn_bench"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:$base_port"
EOF
cat >"$work/shardgate.toml" <<EOF
listen = "127.0.0.1:$port"
rules = "rules"

[[users]]
name = "app"
password = "app-pass"

[backend]
user = "app"
password = "app-pass"
pool_max = $POOL_MAX
connect_timeout_ms = 5000
multiplex = $MULTIPLEX
EOF

log "building shardgate (release) and the client"
if [[ -z ${SHARDGATE:-} ]]; then
  (cd "$root" && cargo build --release --quiet --bin shardgate)
  SHARDGATE=$root/target/release/shardgate
fi
[[ -x $SHARDGATE ]] || die "SHARDGATE=$SHARDGATE is not an executable"
(cd "$root" && cargo test --quiet --test many_connections --no-run)
"$SHARDGATE" serve --config "$work/shardgate.toml" >"$work/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do
  direct -P"$port" -e 'select 1' conn_bench >/dev/null 2>&1 && break
  sleep 0.1
done
rss() { awk '/^VmRSS/ { print $2 " kB" }' "/proc/$proxy_pid/status"; }
log "proxy idle: RSS $(rss)"

rm -f "${TMPDIR:-/tmp}/bench-connections-$port.open"
(
  cd "$root"
  SHARDGATE_BENCH_PORT=$port BENCH_CLIENTS=$CLIENTS BENCH_SECONDS=$SECONDS_OPEN \
    cargo test --quiet --test many_connections -- --ignored --nocapture 2>&1 |
    grep -E '^(opened|errors)'
) &
client=$!
peak=0
while kill -0 "$client" 2>/dev/null; do
  now=$(awk '/^VmRSS/ { print $2 }' "/proc/$proxy_pid/status")
  ((now > peak)) && peak=$now
  if [[ -e ${TMPDIR:-/tmp}/bench-connections-$port.open ]]; then
    log "all clients connected: proxy RSS ${now} kB"
    rm -f "${TMPDIR:-/tmp}/bench-connections-$port.open"
  fi
  sleep 1
done
wait "$client"
backends=$(direct -N -e "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = 'conn_bench'")
log "done: proxy RSS $(rss) now, peak ${peak} kB; backend connections still open: $backends"
log "multiplex=$MULTIPLEX clients=$CLIENTS pool_max=$POOL_MAX"
