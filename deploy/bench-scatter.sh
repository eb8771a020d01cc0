#!/usr/bin/env bash
# Scatter reads through shardgate vs the same query on one unsharded table holding all rows,
# and the proxy's memory while a ROWS-row scatter result streams through it.
#
#   deploy/bench-scatter.sh
#
# Environment: BASE_PORT of a running cluster (deploy/cluster.sh up --base-port N; default
# 4600), PROXY_PORT for the shardgate it starts (4690), ROWS (1000000), REPEAT queries per
# measurement (20, more for fast queries, see mean_us), WIRE_READS (the proxy's [backend]
# wire_reads: 1, its default, merges reads on its own connections; 0 on the driver's). Loads
# patients_0..3 (shards 0,1 on g0, 2,3 on g1) and o_patients (all rows, on g0) in schema
# sg_bench_scatter with MariaDB's SEQUENCE engine.
# Prints per query the mean latency direct and through shardgate, their ratio, the proxy's
# CPU per query and the servers' (both groups' masters, direct and through the proxy: a
# read over four shards runs four queries, and on a machine whose cores the servers share
# their CPU bounds the latency whatever the proxy does), then the proxy's peak RSS while
# `SELECT *` over all shards streams to a client that discards it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE_PORT=${BASE_PORT:-4600}
PROXY_PORT=${PROXY_PORT:-4690}
ROWS=${ROWS:-1000000}
REPEAT=${REPEAT:-20}
SCHEMA=sg_bench_scatter
# shellcheck source-path=SCRIPTDIR source=bench-patients.sh
source "$DEPLOY_DIR/bench-patients.sh"

load_patients seq
start_proxy

# proxy_cpu_us QUERY: the proxy's CPU (utime + stime, /proc) per QUERY over one session of
# 50 x REPEAT of them: where a merged read's time goes when it is not the servers'. The
# session's login is a few hundred µs of CPU, under 1% of the whole at REPEAT=20.
proxy_cpu_us() {
  local n=$((50 * REPEAT)) before after
  before=$(awk '{print $14 + $15}' "/proc/$proxy_pid/stat")
  sql "$PROXY_PORT" bench <<<"$(repeated "$n" "$1")" >/dev/null
  after=$(awk '{print $14 + $15}' "/proc/$proxy_pid/stat")
  echo $(((after - before) * 1000000 / $(getconf CLK_TCK) / n))
}

[[ ${WIRE_READS:-1} == 0 || ${WIRE_READS:-1} == 1 ]] || die "WIRE_READS must be 0 or 1"
state_dir=${TMPDIR:-/tmp}/shardgate-cluster-$BASE_PORT
for f in g0-master.pid g1-master.pid; do
  [[ -s $state_dir/$f ]] || die "no $f in $state_dir (is the cluster of BASE_PORT $BASE_PORT up?)"
done
masters=("$(cat "$state_dir/g0-master.pid")" "$(cat "$state_dir/g1-master.pid")")
# servers_cpu_us PORT DB QUERY: both masters' CPU (utime + stime) per QUERY over one session
# of 50 x REPEAT of them.
servers_cpu_us() {
  local n=$((50 * REPEAT)) before=0 after=0 pid
  for pid in "${masters[@]}"; do before=$((before + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
  sql "$1" "$2" <<<"$(repeated "$n" "$3")" >/dev/null
  for pid in "${masters[@]}"; do after=$((after + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
  echo $(((after - before) * 1000000 / $(getconf CLK_TCK) / n))
}

# The point select is one shard query; LIMIT 1 / 10 / 100 over four shards show the cost of a
# merged read as a part per shard query and a part per row. ORDER BY id (the primary key, an
# integer) needs no WEIGHT_STRING column, which a text sort key adds to every shard query.
printf '%-66s %10s %10s %6s %12s %14s %13s\n' query "direct_us" "proxy_us" ratio "proxy_cpu_us" \
  "servers_direct" "servers_proxy"
for q in "SELECT id, name FROM patients WHERE hospital_id = 1 AND id = 1" \
  "SELECT COUNT(*) FROM patients" \
  "SELECT id, name FROM patients ORDER BY name, id LIMIT 1" \
  "SELECT id, name FROM patients ORDER BY name, id LIMIT 10" \
  "SELECT id, name FROM patients ORDER BY id LIMIT 10" \
  "SELECT id, name FROM patients ORDER BY name, id LIMIT 100" \
  "SELECT id, score FROM patients ORDER BY score DESC, id LIMIT 10"; do
  direct=$(mean_us "$G0" "$SCHEMA" "${q//patients/o_patients}")
  proxy=$(mean_us "$PROXY_PORT" bench "$q")
  printf '%-66s %10s %10s %6s %12s %14s %13s\n' "$q" "$direct" "$proxy" "$(ratio "$proxy" "$direct")" \
    "$(proxy_cpu_us "$q")" "$(servers_cpu_us "$G0" "$SCHEMA" "${q//patients/o_patients}")" \
    "$(servers_cpu_us "$PROXY_PORT" bench "$q")"
done

rss() { awk '/^VmRSS/ {print $2}' "/proc/$proxy_pid/status"; }
# stream QUERY: the proxy's RSS before and at its peak while QUERY streams to a client that
# discards the rows.
stream() {
  local before peak now client
  before=$(rss)
  peak=$before
  sql "$PROXY_PORT" bench --quick -e "$1" >/dev/null &
  client=$!
  while kill -0 "$client" 2>/dev/null; do
    now=$(rss)
    ((now > peak)) && peak=$now
    sleep 0.05
  done
  wait "$client"
  echo "streaming $ROWS rows ($1): proxy RSS before ${before} kB, peak ${peak} kB"
}
stream "SELECT * FROM patients"
stream "SELECT * FROM patients ORDER BY name, id"
drop_patients
