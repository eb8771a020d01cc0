#!/usr/bin/env bash
# Live reload under load: sysbench oltp_read_write (prepared statements, transactions)
# through shardgate while the rule file changes and the proxy gets SIGHUP every RELOAD_MS;
# prints reloads done, client errors (sysbench's, which must be 0) and QPS.
#
#   deploy/bench-reload.sh      (BASE_PORT=6400 SECONDS=20 THREADS=8 RELOAD_MS=200)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

env_seconds=$(tr '\0' '\n' <"/proc/$$/environ" | sed -n 's/^SECONDS=//p')
RUN_SECONDS=${env_seconds:-20}
BASE_PORT=${BASE_PORT:-6400}
THREADS=${THREADS:-8}
RELOAD_MS=${RELOAD_MS:-200}
PROXY_PORT=$((BASE_PORT + 98))
work=$(mktemp -d)
proxy_pid=

cleanup() {
  [[ -n $proxy_pid ]] && stop_pid "$proxy_pid" "shardgate" "shardgate" || true
  bash "$DEPLOY_DIR/cluster.sh" down --base-port "$BASE_PORT" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

ensure_packages sysbench:sysbench
(cd "$REPO_DIR" && cargo build --release --quiet)
bash "$DEPLOY_DIR/cluster.sh" up --base-port "$BASE_PORT" >/dev/null
sb() {
  sysbench oltp_read_write --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$1" \
    --mysql-user=app --mysql-password=app-pass --mysql-db=sbtest --tables=4 \
    --table-size=10000 "${@:2}"
}
mariadb --no-defaults -h127.0.0.1 -P"$BASE_PORT" -uapp -papp-pass \
  -e 'DROP DATABASE IF EXISTS sbtest; CREATE DATABASE sbtest'
sb "$BASE_PORT" --threads=4 prepare >/dev/null

mkdir "$work/rules"
rules() {
  cat <<TOML
[database]
name = "sbtest"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:$BASE_PORT"
replicas = [{ addr = "127.0.0.1:$((BASE_PORT + 1))", weight = $1 }]
schema = "sbtest"
read_policy = "$2"
TOML
}
rules 1 round_robin >"$work/rules/sbtest.toml"
cat >"$work/shardgate.toml" <<TOML
listen = "127.0.0.1:$PROXY_PORT"
rules = "rules"
[[users]]
name = "app"
password = "app-pass"
[backend]
user = "app"
password = "app-pass"
pool_max = 64
TOML
RUST_LOG=info "$REPO_DIR/target/release/shardgate" serve --config "$work/shardgate.toml" \
  >"$work/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do
  mariadb --no-defaults -h127.0.0.1 -P"$PROXY_PORT" -uapp -papp-pass sbtest -e 'SELECT 1' \
    >/dev/null 2>&1 && break
  sleep 0.1
done

sb "$PROXY_PORT" --threads="$THREADS" --time="$RUN_SECONDS" --db-ps-mode=auto \
  --mysql-ignore-errors=none run >"$work/sysbench.log" 2>&1 &
bench_pid=$!
reloads=0
policies=(round_robin master_only weighted random)
while kill -0 "$bench_pid" 2>/dev/null; do
  reloads=$((reloads + 1))
  rules $((reloads % 5 + 1)) "${policies[reloads % 4]}" >"$work/rules/sbtest.toml.tmp"
  mv "$work/rules/sbtest.toml.tmp" "$work/rules/sbtest.toml"
  kill -HUP "$proxy_pid"
  sleep "$(awk "BEGIN { print $RELOAD_MS / 1000 }")"
done
rc=0
wait "$bench_pid" || rc=$?
errors=$(sed -n 's/.*ignored errors: *\([0-9]*\).*/\1/p' "$work/sysbench.log")
qps=$(sed -n 's/.*queries: *[0-9]* *(\([0-9.]*\) per sec.).*/\1/p' "$work/sysbench.log")
fatal=$(grep -c 'FATAL' "$work/sysbench.log" || true)
applied=$(grep -c 'reloaded the rules' "$work/proxy.log" || true)
printf 'reloads sent: %d (applied: %d); sysbench exit %d, FATAL %d, ignored errors %s; %s queries/s\n' \
  "$reloads" "$applied" "$rc" "$fatal" "${errors:-?}" "${qps:-?}"
((rc == 0 && fatal == 0)) || { tail -20 "$work/sysbench.log" >&2; exit 1; }
