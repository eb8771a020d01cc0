#!/usr/bin/env bash
# Materialized reads (queries no streaming merge answers exactly: DISTINCT aggregates beside
# others, expressions over aggregates, GROUP_CONCAT, UNION across shards) through shardgate
# vs the same query on one unsharded table holding all rows, and the proxy's peak memory
# while the largest one runs.
#
#   deploy/bench-materialize.sh
#
# Environment: BASE_PORT of a running cluster (deploy/cluster.sh up --base-port N; default
# 4600), PROXY_PORT for the shardgate it starts (4691), ROWS (100000), REPEAT queries per
# measurement (10; the first estimate: see mean_us in bench-patients.sh), PROFILE (a file name: `perf record -g` of the proxy over the queries). Loads patients_0..3 (shards 0,1 on g0, 2,3 on g1) and o_patients (all
# rows, on g0) in schema sg_bench_materialize with MariaDB's SEQUENCE engine.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE_PORT=${BASE_PORT:-4600}
PROXY_PORT=${PROXY_PORT:-4691}
PROFILE=${PROFILE:-}
ROWS=${ROWS:-100000}
REPEAT=${REPEAT:-10}
SCHEMA=sg_bench_materialize
# shellcheck source-path=SCRIPTDIR source=bench-patients.sh
source "$DEPLOY_DIR/bench-patients.sh"

load_patients "seq % 1000"
start_proxy

if [[ -n $PROFILE ]]; then
  perf record -g -o "$PROFILE" -p "$proxy_pid" >"$proxy_dir/perf.log" 2>&1 &
  perf_pid=$!
fi

rss() { awk '/^VmRSS/ {print $2}' "/proc/$proxy_pid/status"; }
printf '%-100s %10s %10s %7s\n' query direct_us proxy_us ratio
small=$((ROWS / 10))
for q in "SELECT COUNT(DISTINCT name), COUNT(*), SUM(score) FROM patients WHERE id < $small" \
  "SELECT hospital_id, SUM(score) / COUNT(*), MAX(score) - MIN(score) FROM patients WHERE id < $small GROUP BY hospital_id" \
  "SELECT hospital_id, GROUP_CONCAT(id ORDER BY id) FROM patients WHERE id < 200 GROUP BY hospital_id" \
  "SELECT id FROM patients WHERE id < 1000 UNION SELECT id FROM patients WHERE id BETWEEN 500 AND 1500 ORDER BY id DESC LIMIT 10" \
  "SELECT COUNT(DISTINCT name), COUNT(*) FROM patients"; do
  direct=$(mean_us "$G0" "$SCHEMA" "${q//patients/o_patients}")
  proxy=$(mean_us "$PROXY_PORT" bench "$q")
  printf '%-100s %10s %10s %7s\n' "$q" "$direct" "$proxy" "$(ratio "$proxy" "$direct")"
done

if [[ -n $PROFILE ]]; then
  kill -INT "$perf_pid" && wait "$perf_pid" || true
  log "profile in $PROFILE"
fi
before=$(rss)
peak=$before
sql "$PROXY_PORT" bench -e "SELECT COUNT(DISTINCT name), COUNT(*) FROM patients" >/dev/null &
client=$!
while kill -0 "$client" 2>/dev/null; do
  now=$(rss)
  ((now > peak)) && peak=$now
  sleep 0.02
done
wait "$client"
echo "materializing all $ROWS rows: proxy RSS before ${before} kB, peak ${peak} kB"
drop_patients
