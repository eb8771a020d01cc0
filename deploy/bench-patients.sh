# shellcheck shell=bash
# What the benchmarks of reads over several shards share (bench-scatter.sh,
# bench-materialize.sh): patients_0..3 (shards 0,1 on g0, 2,3 on g1) beside o_patients holding
# every row on g0, a shardgate of their own over them, and a latency measure that leaves out
# the client's start and login. Sourced after lib.sh, never run on its own.
#
# Expects BASE_PORT, PROXY_PORT, ROWS, REPEAT and SCHEMA set by the caller; sets G0, G1 and,
# once started, proxy_pid and proxy_dir (removed, and the proxy stopped, on exit).

G0=$BASE_PORT
G1=$((BASE_PORT + 10))
proxy_pid=
proxy_dir=

sql() { mariadb -h127.0.0.1 -P"$1" -uapp -papp-pass --batch --skip-column-names "${@:2}"; }

# load_patients NAME_EXPR: ROWS rows (MariaDB's SEQUENCE engine) into a fresh SCHEMA on both
# groups; NAME_EXPR, over `seq`, makes the names, so a benchmark chooses how often they repeat.
load_patients() {
  log "loading $ROWS rows"
  local name=$1 last=$((ROWS - 1)) port
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
    echo "INSERT INTO $1 SELECT seq, seq % 8, CONCAT(ELT(1 + seq % 5, 'Ana', 'bob', 'Émile', 'zoë', 'Carl'), $name), \
(seq * 37) % 100000 / 100 FROM seq_0_to_$last $where;"
  }
  sql "$G0" "$SCHEMA" -e "$(ddl patients_0) $(ddl patients_1) $(ddl o_patients) \
$(load patients_0 0) $(load patients_1 1) $(load o_patients '')"
  sql "$G1" "$SCHEMA" -e "$(ddl patients_2) $(ddl patients_3) $(load patients_2 2) $(load patients_3 3)"
}

drop_patients() {
  local port
  for port in $G0 $G1; do sql "$port" -e "DROP DATABASE $SCHEMA"; done
}

# start_proxy: a release shardgate (built if needed) on PROXY_PORT, one worker, logical
# database `bench` with `patients` sharded by hospital_id % 4 over the two groups.
start_proxy() {
  proxy_dir=$(mktemp -d)
  trap 'kill "$proxy_pid" 2>/dev/null || true; rm -rf "$proxy_dir"' EXIT
  cat >"$proxy_dir/rules.toml" <<TOML
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
  cat >"$proxy_dir/shardgate.toml" <<TOML
listen = "127.0.0.1:$PROXY_PORT"
rules = "rules.toml"
workers = 1
[[users]]
name = "app"
password = "app-pass"
[backend]
user = "app"
password = "app-pass"
wire_reads = $([[ ${WIRE_READS:-1} == 1 ]] && echo true || echo false)
TOML
  log "building and starting shardgate on $PROXY_PORT"
  (cd "$REPO_DIR" && cargo build --release --quiet)
  "$REPO_DIR/target/release/shardgate" serve --config "$proxy_dir/shardgate.toml" \
    >"$proxy_dir/log" 2>&1 &
  proxy_pid=$!
  local i
  for i in $(seq 50); do
    sql "$PROXY_PORT" bench -e "SELECT 1" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  cat "$proxy_dir/log" >&2
  die "shardgate does not answer on 127.0.0.1:$PROXY_PORT"
}

# session_ns PORT DB SCRIPT: wall time of one client session running SCRIPT (from stdin: no
# argument length limit), the least of three: the other builders of a shared machine only
# ever add time.
session_ns() {
  local start end best="" i
  for i in 1 2 3; do
    start=$(date +%s%N)
    sql "$1" "$2" <<<"$3" >/dev/null
    end=$(date +%s%N)
    if [[ -z $best ]] || ((end - start < best)); then best=$((end - start)); fi
  done
  echo "$best"
}
# repeated N QUERY: QUERY; repeated N times.
repeated() {
  local script="" i
  for ((i = 0; i < $1; i++)); do script+="$2;"; done
  printf '%s' "$script"
}
# mean_us PORT DB QUERY: mean wall time of one QUERY, as the difference between a session
# running it 2N times and one running it N times, so that starting the client, connecting
# and logging in (10-15 ms here) cancel out; N is REPEAT, or more for a fast query, so the
# difference stays well above that noise (about a second per session). Dividing one
# session's time by REPEAT instead counted those in every query (0.8 ms on top of a 0.1 ms
# query at REPEAT=20), which made the proxy's ratio look far better than it is.
mean_us() {
  local n once twice
  sql "$1" "$2" -e "$3" >/dev/null # warm
  once=$(session_ns "$1" "$2" "$(repeated "$REPEAT" "$3")")
  n=$((REPEAT * (1000000000 / (once + 1) + 1)))
  ((n > 100 * REPEAT)) && n=$((100 * REPEAT))
  once=$(session_ns "$1" "$2" "$(repeated "$n" "$3")")
  twice=$(session_ns "$1" "$2" "$(repeated $((2 * n)) "$3")")
  # A load spike in every run of the shorter session can still leave no difference: say so.
  if ((twice > once)); then echo $(((twice - once) / n / 1000)); else echo "noisy"; fi
}
# ratio A B: A / B to two places, `?` when either is not a number.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN{if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else print "?"}'
}
