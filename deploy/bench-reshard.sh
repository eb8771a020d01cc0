#!/usr/bin/env bash
# Resharding job benchmark: copy rate (unthrottled), catch-up apply rate and cutover write
# pause, on a local cluster of its own, with the release binary.
#
#   deploy/bench-reshard.sh            (ROWS=200000 BASE_PORT=6200 CHANGES=50000)
#
# Moves clinical_data (ROWS rows, mod 4 on g0,g0,g1,g1) to mod 8 on the same groups. The
# cutover is postponed while CHANGES row changes are written straight to the source masters,
# to time the catch-up; then one client writes through the proxy during the cutover, and the
# write hold the job measured at the proxy is printed with the client's longest write.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROWS=${ROWS:-200000}
CHANGES=${CHANGES:-50000}
BASE_PORT=${BASE_PORT:-6200}
PROXY_PORT=$((BASE_PORT + 97))
ADMIN_PORT=$((BASE_PORT + 96))
M0=$BASE_PORT
M1=$((BASE_PORT + 10))
SCHEMA=bench_reshard
work=$(mktemp -d)
proxy_pid=
writer_pid=

cleanup() {
  [[ -n $writer_pid ]] && kill "$writer_pid" 2>/dev/null || true
  [[ -n $proxy_pid ]] && stop_pid "$proxy_pid" "shardgate" "shardgate" || true
  bash "$DEPLOY_DIR/cluster.sh" down --base-port "$BASE_PORT" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

sql() { mariadb -h127.0.0.1 -P"$1" -uapp -papp-pass --batch --skip-column-names "${@:2}"; }

log "building the release binary"
(cd "$REPO_DIR" && cargo build --release --quiet)
BIN=$REPO_DIR/target/release/shardgate
bash "$DEPLOY_DIR/cluster.sh" up --base-port "$BASE_PORT" >/dev/null

log "loading $ROWS rows"
per_shard=$((ROWS / 4))
for port in "$M0" "$M1"; do
  sql "$port" -e "DROP DATABASE IF EXISTS $SCHEMA; CREATE DATABASE $SCHEMA"
done
for s in 0 1 2 3; do
  port=$M0
  ((s >= 2)) && port=$M1
  sql "$port" "$SCHEMA" -e "
    CREATE TABLE clinical_data_$s (id BIGINT PRIMARY KEY, hospital_id INT NOT NULL,
      patient_id BIGINT NOT NULL, measure VARCHAR(64) NOT NULL, value DECIMAL(10,3),
      recorded_at DATETIME(3), note TEXT);
    INSERT INTO clinical_data_$s
      SELECT seq * 4 + $s, (seq % 250) * 4 + $s, seq, 'heart_rate', seq % 1000 + 0.5,
             '2026-01-01 00:00:00.000' + INTERVAL seq SECOND, CONCAT('note ', seq)
      FROM seq_1_to_$per_shard;"
done

mkdir -p "$work/rules" "$work/migrations"
cat >"$work/rules/clinical.toml" <<TOML
[database]
name = "clinical"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:$M0"
schema = "$SCHEMA"

[groups.g1]
master = "127.0.0.1:$M1"
schema = "$SCHEMA"

[[tables]]
name = "clinical_data"
shard_key = "hospital_id"
shards = 4
placement = ["g0", "g0", "g1", "g1"]
TOML
cat >"$work/shardgate.toml" <<TOML
listen = "127.0.0.1:$PROXY_PORT"
rules = "rules"
admin_listen = "127.0.0.1:$ADMIN_PORT"
[[users]]
name = "app"
password = "app-pass"
[backend]
user = "app"
password = "app-pass"
# The job streams binlogs: its own user (README, Privileges), not the proxy's.
[reshard]
user = "reshard"
password = "reshard-pass"
TOML
cat >"$work/migrations/bench.toml" <<TOML
[job]
database = "clinical"
table = "clinical_data"
[target]
shards = 8
placement = ["g0", "g0", "g0", "g0", "g1", "g1", "g1", "g1"]
physical = "{table}_v2_{shard}"
[options]
max_rows_per_second = 0
cutover_max_pause_ms = 500
TOML
"$BIN" serve --config "$work/shardgate.toml" >"$work/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do
  sql "$PROXY_PORT" clinical -e "SELECT 1" >/dev/null 2>&1 && break
  sleep 0.1
done

state=$work/migrations/bench.state.toml
touch "$work/postpone"
started=$(date +%s.%N)
"$BIN" reshard run "$work/migrations/bench.toml" --config "$work/shardgate.toml" \
  --postpone-cutover-file "$work/postpone" >"$work/job.log" 2>&1 &
job_pid=$!
until grep -q 'phase = "catching_up"' "$state" 2>/dev/null; do
  kill -0 "$job_pid" 2>/dev/null || { cat "$work/job.log" >&2; die "the job ended early"; }
  sleep 0.05
done
copied=$(date +%s.%N)
copy_s=$(awk "BEGIN { print $copied - $started }")

log "writing $CHANGES row changes to the sources"
applied_before=$(sed -n 's/^events_applied = //p' "$state")
changes_started=$(date +%s.%N)
batch=1000
per=$((CHANGES / 4))
loaders=()
for s in 0 1 2 3; do
  port=$M0
  ((s >= 2)) && port=$M1
  for ((from = 1; from <= per; from += batch)); do
    echo "UPDATE clinical_data_$s SET value = value + 1 WHERE id BETWEEN $((from * 4 + s)) AND $(((from + batch - 1) * 4 + s));"
  done | sql "$port" "$SCHEMA" &
  loaders+=($!)
done
wait "${loaders[@]}"
written=$(date +%s.%N)
target=$((applied_before + CHANGES))
until (($(sed -n 's/^events_applied = //p' "$state") >= target)); do
  kill -0 "$job_pid" 2>/dev/null || { cat "$work/job.log" >&2; die "the job ended early"; }
  sleep 0.02
done
caught_up=$(date +%s.%N)
apply_s=$(awk "BEGIN { print $caught_up - $changes_started }")
write_s=$(awk "BEGIN { print $written - $changes_started }")

log "cutover with one client writing through the proxy"
(
  i=0
  while :; do
    i=$((i + 1))
    h=$((i % 1000))
    t0=$(date +%s%N)
    sql "$PROXY_PORT" clinical -e "INSERT INTO clinical_data (id, hospital_id, patient_id, measure) VALUES ($((10000000 + i)), $h, $i, 'w')" || echo "error" >>"$work/writer.err"
    echo $((($(date +%s%N) - t0) / 1000000)) >>"$work/writer.ms"
  done
) &
writer_pid=$!
sleep 1
rm -f "$work/postpone"
wait "$job_pid" || { cat "$work/job.log" >&2; die "the job failed"; }
kill "$writer_pid" 2>/dev/null || true
wait "$writer_pid" 2>/dev/null || true
writer_pid=
pause=$(sed -n 's/^pause_ms = //p' "$state")
longest=$(sort -n "$work/writer.ms" | tail -1)
errors=$( [[ -f $work/writer.err ]] && wc -l <"$work/writer.err" || echo 0)

printf 'rows copied:        %d in %.2f s = %.0f rows/s (copy incl. table creation, unthrottled)\n' \
  "$ROWS" "$copy_s" "$(awk "BEGIN { print $ROWS / $copy_s }")"
printf 'catch-up applied:   %d row changes in %.2f s from the first write = %.0f changes/s (writes took %.2f s)\n' \
  "$CHANGES" "$apply_s" "$(awk "BEGIN { print $CHANGES / $apply_s }")" "$write_s"
printf 'cutover write hold: %s ms at the proxy; longest client write meanwhile %s ms; client errors %s\n' \
  "$pause" "$longest" "$errors"
