#!/usr/bin/env bash
# sysbench oltp_read_only (text protocol, no BEGIN/COMMIT so reads may use the replica) on one
# group: directly against its master alone, and through shardgate with the master and one
# replica (read_policy round_robin). Prints QPS of both and, as the last line, `ratio x.xx`:
# through the proxy over direct.
#
#   deploy/bench-readonly.sh
#
# Environment: BASE_PORT (4550) of a cluster of its own (deploy/cluster.sh; started if not
# up, left running), PROXY_PORT (4590), SECONDS per run (10; read from the initial
# environment, bash's own SECONDS being its uptime), THREADS (4), PROXY_WORKERS (2),
# SHARDGATE (target/release/shardgate, built when missing). sbtest (4 x 10000 rows) is
# prepared once on the master and waited for on the replica.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
env_seconds=$(tr '\0' '\n' <"/proc/$$/environ" | sed -n 's/^SECONDS=//p')
RUN_SECONDS=${env_seconds:-10}
BASE_PORT=${BASE_PORT:-4550}
PROXY_PORT=${PROXY_PORT:-4590}
THREADS=${THREADS:-4}
PROXY_WORKERS=${PROXY_WORKERS:-2}
SHARDGATE=${SHARDGATE:-$root/target/release/shardgate}
for v in RUN_SECONDS BASE_PORT PROXY_PORT THREADS PROXY_WORKERS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done

ensure_mariadb
ensure_packages sysbench:sysbench
bash "$root/deploy/cluster.sh" up --base-port "$BASE_PORT" >/dev/null
if [[ ! -x $SHARDGATE ]]; then
  log "building shardgate (release)"
  (cd "$root" && cargo build --release --bin shardgate) >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/shardgate-bench-ro.XXXXXX")
proxy_pid=
cleanup() {
  local rc=$?
  if [[ -n $proxy_pid ]]; then
    stop_pid "$proxy_pid" shardgate shardgate || rc=1
    wait "$proxy_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

sql() {
  local port=$1
  shift
  mariadb --no-defaults -h127.0.0.1 -P"$port" -uapp -papp-pass --batch --skip-column-names "$@"
}
sb() {
  local port=$1
  shift
  sysbench oltp_read_only --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" \
    --mysql-user=app --mysql-password=app-pass --mysql-db=sbtest \
    --tables=4 --table-size=10000 --threads="$THREADS" --db-ps-mode=disable --skip-trx=on "$@"
}

sql "$BASE_PORT" -e 'CREATE DATABASE IF NOT EXISTS sbtest DEFAULT CHARACTER SET utf8mb4'
rows=$(sql "$BASE_PORT" sbtest -e 'SELECT (SELECT COUNT(*) FROM sbtest1) + (SELECT COUNT(*) FROM sbtest4)' \
  2>/dev/null || true)
if [[ $rows != 20000 ]]; then
  log "preparing sbtest (4 tables x 10000 rows) on 127.0.0.1:$BASE_PORT"
  sb "$BASE_PORT" cleanup >/dev/null
  sb "$BASE_PORT" prepare >"$work/prepare.log" 2>&1 ||
    { cat "$work/prepare.log" >&2; die "sysbench prepare failed"; }
fi
pos=$(sql "$BASE_PORT" -e 'SELECT @@gtid_binlog_pos')
[[ $(sql $((BASE_PORT + 1)) -e "SELECT MASTER_GTID_WAIT('$pos', 60)") == 0 ]] ||
  die "the replica did not catch up"

mkdir -p "$work/rules"
cat >"$work/rules/sbtest.toml" <<TOML
[database]
name = "sbtest"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:$BASE_PORT"
replicas = ["127.0.0.1:$((BASE_PORT + 1))"]
schema = "sbtest"
read_policy = "round_robin"
TOML
cat >"$work/shardgate.toml" <<TOML
listen = "127.0.0.1:$PROXY_PORT"
rules = "rules"
workers = $PROXY_WORKERS

[[users]]
name = "app"
password = "app-pass"

[backend]
user = "app"
password = "app-pass"
pool_max = 32
TOML
RUST_LOG=warn "$SHARDGATE" serve --config "$work/shardgate.toml" >"$work/proxy.log" 2>&1 &
proxy_pid=$!
for ((i = 0; i < 100; i++)); do
  sql "$PROXY_PORT" -e 'select 1' >/dev/null 2>&1 && break
  kill -0 "$proxy_pid" 2>/dev/null || { cat "$work/proxy.log" >&2; die "shardgate exited"; }
  sleep 0.1
done

# qps PORT: queries per second of one run.
qps() {
  local out
  out=$(sb "$1" --time="$RUN_SECONDS" --report-interval=0 run 2>&1) ||
    { printf '%s\n' "$out" >&2; die "sysbench against port $1 failed"; }
  awk '$1 == "queries:" { gsub(/\(/, "", $3); print $3 }' <<<"$out"
}
log "oltp_read_only, $THREADS threads, $RUN_SECONDS s each: direct to the master, then through shardgate"
direct=$(qps "$BASE_PORT")
proxied=$(qps "$PROXY_PORT")
sql "$PROXY_PORT" -e 'SHOW SHARDGATE GROUPS' >&2
printf 'direct master alone: %s qps\nshardgate (master + 1 replica): %s qps\n' "$direct" "$proxied"
awk -v a="$proxied" -v b="$direct" 'BEGIN { printf "ratio %.2f\n", a / b }'
