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
# measurement (10), PROFILE (a file name: `perf record -g` of the proxy over the queries). Loads patients_0..3 (shards 0,1 on g0, 2,3 on g1) and o_patients (all
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
G0=$BASE_PORT
G1=$((BASE_PORT + 10))

sql() { mariadb -h127.0.0.1 -P"$1" -uapp -papp-pass --batch --skip-column-names "${@:2}"; }

log "loading $ROWS rows"
last=$((ROWS - 1))
for port in $G0 $G1; do
  sql "$port" -e "DROP DATABASE IF EXISTS $SCHEMA; CREATE DATABASE $SCHEMA DEFAULT CHARACTER SET utf8mb4"
done
ddl() {
  echo "CREATE TABLE $1 (id BIGINT PRIMARY KEY, hospital_id INT NOT NULL, \
name VARCHAR(100) NOT NULL, score DECIMAL(10,2), KEY (name));"
}
load() { # table, shard (or "" for all rows)
  local where=""
  [[ -n $2 ]] && where="WHERE seq % 4 = $2"
  echo "INSERT INTO $1 SELECT seq, seq % 8, CONCAT(ELT(1 + seq % 5, 'Ana', 'bob', 'Émile', 'zoë', 'Carl'), seq % 1000), \
(seq * 37) % 100000 / 100 FROM seq_0_to_$last $where;"
}
sql "$G0" "$SCHEMA" -e "$(ddl patients_0) $(ddl patients_1) $(ddl o_patients) \
$(load patients_0 0) $(load patients_1 1) $(load o_patients '')"
sql "$G1" "$SCHEMA" -e "$(ddl patients_2) $(ddl patients_3) $(load patients_2 2) $(load patients_3 3)"

dir=$(mktemp -d)
trap 'kill "$proxy_pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
cat >"$dir/rules.toml" <<TOML
[database]
name = "bench"
default_group = "g0"
[groups.g0]
master = "127.0.0.1:$G0"
schema = "$SCHEMA"
[groups.g1]
master = "127.0.0.1:$G1"
schema = "$SCHEMA"
[[tables]]
name = "patients"
shard_key = "hospital_id"
algorithm = "mod"
shards = 4
placement = ["g0", "g0", "g1", "g1"]
TOML
cat >"$dir/shardgate.toml" <<TOML
listen = "127.0.0.1:$PROXY_PORT"
rules = "rules.toml"
workers = 1
[[users]]
name = "app"
password = "app-pass"
[backend]
user = "app"
password = "app-pass"
TOML
log "building and starting shardgate on $PROXY_PORT"
(cd "$REPO_DIR" && cargo build --release --quiet)
"$REPO_DIR/target/release/shardgate" serve --config "$dir/shardgate.toml" >"$dir/log" 2>&1 &
proxy_pid=$!
for _ in $(seq 50); do
  sql "$PROXY_PORT" bench -e "SELECT 1" >/dev/null 2>&1 && break
  sleep 0.2
done

if [[ -n $PROFILE ]]; then
  perf record -g -o "$PROFILE" -p "$proxy_pid" >"$dir/perf.log" 2>&1 &
  perf_pid=$!
fi

# mean_us PORT DB QUERY: mean wall time of REPEAT runs in one session.
mean_us() {
  local script="" i start end
  for ((i = 0; i < REPEAT; i++)); do script+="$3;"; done
  sql "$1" "$2" -e "$3" >/dev/null # warm
  start=$(date +%s%N)
  sql "$1" "$2" -e "$script" >/dev/null
  end=$(date +%s%N)
  echo $(((end - start) / REPEAT / 1000))
}
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
  printf '%-100s %10s %10s %7s\n' "$q" "$direct" "$proxy" \
    "$(awk -v a="$proxy" -v b="$direct" 'BEGIN{printf "%.2f", a/b}')"
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
for port in $G0 $G1; do sql "$port" -e "DROP DATABASE $SCHEMA"; done
