#!/usr/bin/env bash
# A short sysbench smoke test of the binary protocol through shardgate: oltp_point_select and
# oltp_read_write with --db-ps-mode=auto (server-side prepared statements), a few seconds each,
# against a proxy of its own in front of one group's master; fails on any sysbench error.
#
#   deploy/smoke-sysbench-ps.sh
#
# Environment: BASE_PORT (4400) of the test cluster (deploy/cluster.sh, started if down),
# PROXY_PORT (4499) for the proxy this script starts and stops, RUN_SECONDS (5), THREADS (4),
# PS_MODE (auto; disable runs the text protocol, to compare), RATIO=1 to also run each test
# directly on the master and print proxy/direct QPS ratios. SHARDGATE_BIN (target/release/
# shardgate, built when missing) may point at a debug build for a quicker check.
# The sbtest tables are unsharded, on the rule file's default group: oltp_read_write's range
# queries and aggregates need a single group.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE_PORT=${BASE_PORT:-4400}
PROXY_PORT=${PROXY_PORT:-4499}
RUN_SECONDS=${RUN_SECONDS:-5}
THREADS=${THREADS:-4}
RATIO=${RATIO:-0}
PS_MODE=${PS_MODE:-auto}
for v in BASE_PORT PROXY_PORT RUN_SECONDS THREADS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done

ensure_mariadb
ensure_packages sysbench:sysbench

bin=${SHARDGATE_BIN:-$REPO_DIR/target/release/shardgate}
if [[ ! -x $bin ]]; then
  log "building shardgate (release)"
  (cd "$REPO_DIR" && cargo build --release --quiet)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/shardgate-ps-smoke.XXXXXX")
proxy_pid=
cleanup() {
  local rc=$?
  if [[ -n $proxy_pid ]]; then
    stop_pid "$proxy_pid" "shardgate serve" shardgate || rc=1
    wait "$proxy_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

answers() {
  mariadb --no-defaults -h127.0.0.1 -P"$1" -uapp -papp-pass --connect-timeout=2 \
    -e 'select 1' >/dev/null 2>&1
}
answers "$BASE_PORT" || bash "$DEPLOY_DIR/cluster.sh" up --base-port "$BASE_PORT" >&2

schema=sbtest_ps
mariadb --no-defaults -h127.0.0.1 -P"$BASE_PORT" -uapp -papp-pass \
  -e "CREATE DATABASE IF NOT EXISTS $schema DEFAULT CHARACTER SET utf8mb4"
sb() {
  local test=$1 port=$2 db=$3
  shift 3
  sysbench "$test" --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" \
    --mysql-user=app --mysql-password=app-pass --mysql-db="$db" \
    --tables=2 --table-size=10000 --threads="$THREADS" --db-ps-mode="$PS_MODE" "$@"
}
log "preparing $schema (2 tables x 10000 rows) directly on 127.0.0.1:$BASE_PORT"
sb oltp_read_write "$BASE_PORT" "$schema" cleanup >/dev/null
sb oltp_read_write "$BASE_PORT" "$schema" prepare >"$work/prepare.log" 2>&1 ||
  { cat "$work/prepare.log" >&2; die "sysbench prepare failed"; }

mkdir "$work/rules"
cat >"$work/rules/sbtest.toml" <<TOML
[database]
name = "sbtest"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:$BASE_PORT"
schema = "$schema"
TOML
cat >"$work/shardgate.toml" <<TOML
listen = "127.0.0.1:$PROXY_PORT"
rules = "rules"

[[users]]
name = "app"
password = "app-pass"

[backend]
user = "app"
password = "app-pass"
pool_max = 32
TOML
setsid "$bin" serve --config "$work/shardgate.toml" </dev/null >"$work/shardgate.log" 2>&1 &
proxy_pid=$!
for ((i = 0; i < 100; i++)); do
  answers "$PROXY_PORT" && break
  kill -0 "$proxy_pid" 2>/dev/null || { cat "$work/shardgate.log" >&2; die "shardgate exited"; }
  sleep 0.1
done
answers "$PROXY_PORT" || { cat "$work/shardgate.log" >&2; die "shardgate does not answer"; }

# run TEST PORT DB: prints "<qps> <errors>"; fails when sysbench fails.
run() {
  local out qps errors
  out=$(sb "$1" "$2" "$3" --time="$RUN_SECONDS" --report-interval=0 run 2>&1) ||
    { printf '%s\n' "$out" >&2; die "sysbench $1 on port $2 failed"; }
  # "    queries:   123456 (12345.67 per sec.)" and "    ignored errors:   0 (0.00 per sec.)"
  qps=$(awk '$1 == "queries:" { gsub(/\(/, "", $3); print $3 }' <<<"$out")
  errors=$(awk '$1 == "ignored" && $2 == "errors:" { print $3 }' <<<"$out")
  [[ -n $qps && -n $errors ]] || { printf '%s\n' "$out" >&2; die "cannot read sysbench output"; }
  echo "$qps $errors"
}

status=0
for test in oltp_point_select oltp_read_write; do
  read -r qps errors <<<"$(run "$test" "$PROXY_PORT" sbtest)"
  line="$test via shardgate: $qps qps, $errors errors"
  ((errors == 0)) || status=1
  if [[ $RATIO == 1 ]]; then
    read -r dqps _ <<<"$(run "$test" "$BASE_PORT" "$schema")"
    line+=$(awk -v p="$qps" -v d="$dqps" 'BEGIN { printf "; direct %s qps; ratio %.2f", d, p / d }')
  fi
  echo "$line"
done
((status == 0)) || die "sysbench reported errors through shardgate"
echo "sysbench ps smoke ok"
