#!/usr/bin/env bash
# sysbench (oltp_point_select; WORKLOADS adds oltp_read_only, oltp_read_write) against one MariaDB server three ways: directly, through an
# HAProxy TCP relay (one thread, the floor for a proxy process here), and through shardgate.
# All three reach the same server, g0's master: shardgate's sbtest rules list the replica but
# say `read_policy = "master_only"`, so no proxy gets a second server to read from.
#
#   deploy/bench-sysbench.sh
#
# Environment:
#   BASE_PORT (3400)     the cluster (deploy/cluster.sh; started if down, left running)
#   PROXY_PORT (BASE_PORT+98), HAPROXY_PORT (BASE_PORT+99): the proxies this script starts
#                        and stops (shardgate with rules of its own, so no demo is needed)
#   MODES ("text prepared"): text is --db-ps-mode=disable, prepared is --db-ps-mode=auto
#                        (server-side prepared statements, what sysbench, JDBC and Go use)
#   THREADS ("4 8 32")   client thread counts; every mode runs at every count
#   WORKLOADS (oltp_point_select): sysbench tests to run, each at every mode and count, e.g.
#                        "oltp_point_select oltp_read_only oltp_read_write" (the last two are
#                        single-group transactions: BEGIN, 14 reads (+4 writes), COMMIT)
#   ROUNDS (6) rounds of ROUND_SECONDS (10) seconds per target and combination, interleaved
#                        so that drift of the machine hits every target alike; SECONDS works
#                        too when given in the environment (bash's own SECONDS is the shell's
#                        uptime, so it is read from the initial environment)
#   WARMUP (2)           seconds per target before each combination's rounds
#   TARGETS ("direct haproxy shardgate")
#   PROXY_WORKERS        shardgate's `workers` (its default when unset: one per core)
#   HAPROXY_THREADS (1)  the relay's nbthread; compare like with like (PROXY_WORKERS the same):
#                        on a 2-core box shared with the servers, a second thread costs both
#                        proxies 4-6 µs of CPU per query
#   SHARDGATE (target/release/shardgate, built when missing)
#   PROFILE              a file name: `perf record` of shardgate over all its rounds
#   PROFILE_CALLGRAPH (fp) perf's --call-graph: fp is cheap but loses frames in Rust code built
#                        without frame pointers; dwarf,16384 attributes user time to callers
#   TOP_TOML             top-level lines added to shardgate.toml (e.g. an admin_listen, which
#                        installs the Prometheus recorder, or a [log] section's neighbours)
#   USER_LIMITS          lines added to shardgate's [[users]] entry for app, to measure the
#                        cost of per-user limits (e.g. "max_qps = 10000000" never limits)
#   CACHE_TTL_MS         the sbtest tables opt into the result cache with this TTL (text mode
#                        answers repeated ids from memory; prepared statements never are)
#   IDLE_HOLD_MS         shardgate's [backend] idle_hold_ms (its default when unset: 2)
#   WIRE_READS           shardgate's [backend] wire_reads (1: single-shard reads on the
#                        proxy's own backend connections; its default when unset: on)
#   CALLGRIND (0)        1: instead of timed rounds, run each proxy under valgrind's callgrind
#                        and print the instructions of its own process per query (user space
#                        only): a count that does not drift with the machine's load, so it
#                        shows changes of a few percent that timed rounds cannot; QUERIES
#                        (5000) queries per mode at the first of THREADS, after 1000 unmeasured;
#                        CALLGRIND_KEEP=DIR keeps each count as DIR/callgrind.TARGET.PS for
#                        callgrind_annotate (PS: sysbench's --db-ps-mode, disable = text)
#   SYSCALLS (0)         1: instead of timed rounds, count each proxy's system calls and context
#                        switches per query with perf (QUERIES queries at the first of THREADS,
#                        after 1000 unmeasured), and print perf trace's table of which calls
#   SYSBENCH_ARGS        more sysbench options for every run against every target, e.g.
#                        "--skip-trx=on" (oltp_read_only's reads as autocommit statements,
#                        outside transactions: what a transaction's reads would cost on the
#                        proxy's own connections)
#   TLS (0)              1: shardgate gets a certificate made here ([tls]) and sysbench
#                        connects to it with --mysql-ssl=on (the other targets stay plain:
#                        compare two runs of shardgate alone, TLS=0 and TLS=1)
# sbtest (4 tables x 10000 rows) is prepared once, directly on the master.
# Prints, per combination, QPS per target and proxy CPU per query (utime+stime from
# /proc/PID/stat over the rounds); at the end one line per combination:
#   ratio text 4 threads: shardgate/haproxy 1.02 (rounds 0.97-1.08) ... CPU µs/query shardgate 20.1 haproxy 19.7
#     user µs/query shardgate 9.8 haproxy 1.9      (utime alone: the proxy's own code)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

env_seconds=$(tr '\0' '\n' <"/proc/$$/environ" | sed -n 's/^SECONDS=//p')
ROUNDS=${ROUNDS:-6}
ROUND_SECONDS=${ROUND_SECONDS:-${env_seconds:-10}}
THREADS=${THREADS:-4 8 32}
MODES=${MODES:-text prepared}
WORKLOADS=${WORKLOADS:-oltp_point_select}
WARMUP=${WARMUP:-2}
TARGETS=${TARGETS:-direct haproxy shardgate}
BASE_PORT=${BASE_PORT:-3400}
PROXY_PORT=${PROXY_PORT:-$((BASE_PORT + 98))}
HAPROXY_PORT=${HAPROXY_PORT:-$((BASE_PORT + 99))}
PROXY_WORKERS=${PROXY_WORKERS:-}
HAPROXY_THREADS=${HAPROXY_THREADS:-1}
PROFILE_CALLGRAPH=${PROFILE_CALLGRAPH:-fp}
SHARDGATE=${SHARDGATE:-$REPO_DIR/target/release/shardgate}
PROFILE=${PROFILE:-}
USER_LIMITS=${USER_LIMITS:-}
TOP_TOML=${TOP_TOML:-}
TLS=${TLS:-0}
CALLGRIND=${CALLGRIND:-0}
QUERIES=${QUERIES:-5000}
CALLGRIND_KEEP=${CALLGRIND_KEEP:-}
SYSCALLS=${SYSCALLS:-0}
[[ $SYSCALLS == 0 || $SYSCALLS == 1 ]] || die "SYSCALLS must be 0 or 1, not '$SYSCALLS'"
[[ -z $CALLGRIND_KEEP || -d $CALLGRIND_KEEP ]] || die "CALLGRIND_KEEP=$CALLGRIND_KEEP is not a directory"
[[ $CALLGRIND == 0 || $CALLGRIND == 1 ]] || die "CALLGRIND must be 0 or 1, not '$CALLGRIND'"
[[ $QUERIES =~ ^[1-9][0-9]*$ ]] || die "QUERIES must be a whole number > 0, not '$QUERIES'"
IDLE_HOLD_MS=${IDLE_HOLD_MS:-}
[[ -z $IDLE_HOLD_MS || $IDLE_HOLD_MS =~ ^[0-9]+$ ]] ||
  die "IDLE_HOLD_MS must be a whole number, not '$IDLE_HOLD_MS'"
WIRE_READS=${WIRE_READS:-}
[[ -z $WIRE_READS || $WIRE_READS == 0 || $WIRE_READS == 1 ]] ||
  die "WIRE_READS must be 0 or 1, not '$WIRE_READS'"
CACHE_TTL_MS=${CACHE_TTL_MS:-}
[[ -z $CACHE_TTL_MS || $CACHE_TTL_MS =~ ^[1-9][0-9]*$ ]] ||
  die "CACHE_TTL_MS must be a whole number > 0, not '$CACHE_TTL_MS'"
[[ $TLS == 0 || $TLS == 1 ]] || die "TLS must be 0 or 1, not '$TLS'"
for v in ROUNDS ROUND_SECONDS WARMUP BASE_PORT PROXY_PORT HAPROXY_PORT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
[[ -z $PROXY_WORKERS || $PROXY_WORKERS =~ ^[0-9]+$ ]] ||
  die "PROXY_WORKERS must be a whole number, not '$PROXY_WORKERS'"
[[ $HAPROXY_THREADS =~ ^[1-9][0-9]*$ ]] ||
  die "HAPROXY_THREADS must be a whole number > 0, not '$HAPROXY_THREADS'"
((ROUNDS > 0 && ROUND_SECONDS > 0)) || die "ROUNDS and ROUND_SECONDS must be > 0"
read -ra thread_counts <<<"$THREADS"
read -ra modes <<<"$MODES"
read -ra workloads <<<"$WORKLOADS"
for w in "${workloads[@]}"; do
  case $w in
    oltp_point_select | oltp_read_only | oltp_read_write) ;;
    *) die "unknown workload '$w' in WORKLOADS (oltp_point_select, oltp_read_only, oltp_read_write)" ;;
  esac
done
((${#workloads[@]} > 0)) || die "WORKLOADS must not be empty"
((${#thread_counts[@]} > 0 && ${#modes[@]} > 0)) || die "THREADS and MODES must not be empty"
for t in "${thread_counts[@]}"; do
  [[ $t =~ ^[1-9][0-9]*$ ]] || die "THREADS must be whole numbers > 0, not '$t'"
done
declare -A PS_MODE=([text]=disable [prepared]=auto)
for m in "${modes[@]}"; do
  [[ -n ${PS_MODE[$m]:-} ]] || die "unknown mode '$m' in MODES (text, prepared)"
done

declare -A PORT=([direct]=$BASE_PORT [haproxy]=$HAPROXY_PORT [shardgate]=$PROXY_PORT)
for t in $TARGETS; do
  [[ -n ${PORT[$t]:-} ]] || die "unknown target '$t' in TARGETS (direct, haproxy, shardgate)"
done
has_target() { [[ " $TARGETS " == *" $1 "* ]]; }
CLK_TCK=$(getconf CLK_TCK)

ensure_mariadb
ensure_packages sysbench:sysbench haproxy:haproxy
[[ $TLS == 0 ]] || ensure_packages openssl:openssl
[[ -z $PROFILE ]] || ensure_packages perf:linux-perf
[[ $CALLGRIND == 0 ]] || ensure_packages valgrind:valgrind
[[ $SYSCALLS == 0 ]] || ensure_packages perf:linux-perf

work=$(mktemp -d "${TMPDIR:-/tmp}/shardgate-bench.XXXXXX")
# Under callgrind a proxy starts some fifty times slower; each dumps its counts into
# $work/callgrind.TARGET.N, N counting the dumps.
under_haproxy=()
under_shardgate=()
answer_tries=100
if [[ $CALLGRIND == 1 ]]; then
  callgrind=(valgrind --tool=callgrind --dump-instr=no --collect-jumps=no)
  under_haproxy=("${callgrind[@]}" --callgrind-out-file="$work/callgrind.haproxy")
  under_shardgate=("${callgrind[@]}" --callgrind-out-file="$work/callgrind.shardgate")
  answer_tries=1200
fi
haproxy_pid=
shardgate_pid=
perf_pid=
cleanup() {
  local rc=$?
  if [[ -n $perf_pid ]]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
  fi
  if [[ -n $haproxy_pid ]]; then
    stop_pid "$haproxy_pid" haproxy haproxy || rc=1
    wait "$haproxy_pid" 2>/dev/null || true # reap it: it is our child
  fi
  if [[ -n $shardgate_pid ]]; then
    stop_pid "$shardgate_pid" "serve --config $work/shardgate.toml" shardgate || rc=1
    wait "$shardgate_pid" 2>/dev/null || true
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
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# wait_answering PORT PID WHAT LOG: until PORT answers a query, or PID exits.
wait_answering() {
  local i
  for ((i = 0; i < answer_tries; i++)); do
    answers "$1" && return 0
    kill -0 "$2" 2>/dev/null || { cat "$4" >&2; die "$3 exited"; }
    sleep 0.1
  done
  cat "$4" >&2
  die "$3 does not answer on 127.0.0.1:$1"
}

# --- the cluster ---------------------------------------------------------------------------
answers "$BASE_PORT" || bash "$DEPLOY_DIR/cluster.sh" up --base-port "$BASE_PORT" >&2

# --- sbtest, prepared once directly on the master ------------------------------------------
# sb PORT THREADS PS_MODE ARGS...: sysbench $workload (oltp_point_select while preparing).
workload=oltp_point_select
read -r -a sysbench_args <<< "${SYSBENCH_ARGS:-}"
sb() {
  local port=$1 threads=$2 ps=$3 ssl=()
  shift 3
  # Only shardgate has a certificate; the setup steps talk to the server directly.
  # sysbench's client loads client-key.pem, client-cert.pem and cacert.pem from its working
  # directory ($work, see [tls] below; shardgate asks for no client certificate).
  [[ $TLS == 1 && $port == "$PROXY_PORT" ]] && ssl=(--mysql-ssl=on)
  (cd "$work" && sysbench "$workload" "${ssl[@]}" --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" \
    --mysql-user=app --mysql-password=app-pass --mysql-db=sbtest \
    --tables=4 --table-size=10000 --threads="$threads" --db-ps-mode="$ps" "${sysbench_args[@]}" "$@")
}
direct_sql() {
  mariadb --no-defaults -h127.0.0.1 -P"$BASE_PORT" -uapp -papp-pass --batch --skip-column-names "$@"
}
direct_sql -e 'CREATE DATABASE IF NOT EXISTS sbtest DEFAULT CHARACTER SET utf8mb4'
rows=$(direct_sql sbtest -e 'SELECT (SELECT COUNT(*) FROM sbtest1), (SELECT COUNT(*) FROM sbtest2),
  (SELECT COUNT(*) FROM sbtest3), (SELECT COUNT(*) FROM sbtest4)' 2>/dev/null || true)
if [[ $rows != $'10000\t10000\t10000\t10000' ]]; then
  log "preparing sbtest (4 tables x 10000 rows) on 127.0.0.1:$BASE_PORT"
  sb "$BASE_PORT" 4 disable cleanup >/dev/null
  sb "$BASE_PORT" 4 disable prepare >"$work/prepare.log" 2>&1 ||
    { cat "$work/prepare.log" >&2; die "sysbench prepare failed"; }
fi

# --- the proxies ---------------------------------------------------------------------------
if has_target haproxy; then
  port_taken "$HAPROXY_PORT" && die "127.0.0.1:$HAPROXY_PORT is already in use"
  sed -e "s/@LISTEN@/127.0.0.1:$HAPROXY_PORT/" -e "s/@BACKEND@/127.0.0.1:$BASE_PORT/" \
    -e "s/@THREADS@/$HAPROXY_THREADS/" \
    "$DEPLOY_DIR/haproxy.cfg.in" >"$work/haproxy.cfg"
  haproxy -c -q -f "$work/haproxy.cfg" || die "haproxy rejected $work/haproxy.cfg"
  # -db: stay in the foreground, so $! is haproxy itself and is what gets recorded and stopped.
  setsid "${under_haproxy[@]}" haproxy -db -f "$work/haproxy.cfg" </dev/null >"$work/haproxy.log" 2>&1 &
  haproxy_pid=$!
  wait_answering "$HAPROXY_PORT" "$haproxy_pid" haproxy "$work/haproxy.log"
fi

if has_target shardgate; then
  port_taken "$PROXY_PORT" && die "127.0.0.1:$PROXY_PORT is already in use"
  if [[ ! -x $SHARDGATE ]]; then
    log "building shardgate (cargo build --release)"
    (cd "$REPO_DIR" && cargo build --release --bin shardgate) >&2
  fi
  mkdir "$work/rules"
  # The replica is listed, as in a real deployment; master_only keeps the reads on the server
  # the other targets use.
  cat >"$work/rules/sbtest.toml" <<TOML
[database]
name = "sbtest"
default_group = "g0"

[groups.g0]
master = "127.0.0.1:$BASE_PORT"
replicas = ["127.0.0.1:$((BASE_PORT + 1))"]
schema = "sbtest"
read_policy = "master_only"
TOML
  if [[ -n $CACHE_TTL_MS ]]; then
    for i in 1 2 3 4; do
      printf '\n[[tables]]\nname = "sbtest%d"\nbroadcast = true\ncache_ttl_ms = %d\n' \
        "$i" "$CACHE_TTL_MS"
    done >>"$work/rules/sbtest.toml"
  fi
  {
    echo "listen = \"127.0.0.1:$PROXY_PORT\""
    echo 'rules = "rules"'
    [[ -z $TOP_TOML ]] || printf '%s\n' "$TOP_TOML"
    [[ -z $PROXY_WORKERS ]] || echo "workers = $PROXY_WORKERS"
    cat <<TOML

[[users]]
name = "app"
password = "app-pass"
$USER_LIMITS

[backend]
user = "app"
password = "app-pass"
pool_max = 32
TOML
    [[ -z $IDLE_HOLD_MS ]] || echo "idle_hold_ms = $IDLE_HOLD_MS"
    [[ -z $WIRE_READS ]] || echo "wire_reads = $([[ $WIRE_READS == 1 ]] && echo true || echo false)"
    if [[ $TLS == 1 ]]; then
      openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
        -keyout "$work/server.key" -out "$work/server.pem" >/dev/null 2>&1 ||
        die "openssl could not make a test certificate"
      cp "$work/server.pem" "$work/cacert.pem"
      cp "$work/server.pem" "$work/client-cert.pem"
      cp "$work/server.key" "$work/client-key.pem"
      printf '\n[tls]\ncert = "server.pem"\nkey = "server.key"\n'
    fi
  } >"$work/shardgate.toml"
  RUST_LOG=warn setsid "${under_shardgate[@]}" "$SHARDGATE" serve --config "$work/shardgate.toml" \
    </dev/null >"$work/shardgate.log" 2>&1 &
  shardgate_pid=$!
  wait_answering "$PROXY_PORT" "$shardgate_pid" shardgate "$work/shardgate.log"
fi

# Which server each target reads from: the backend's own port, asked through the target.
read -ra targets <<<"$TARGETS"
for t in "${targets[@]}"; do
  served_by=$(mariadb --no-defaults -h127.0.0.1 -P"${PORT[$t]}" -uapp -papp-pass --batch \
    --skip-column-names sbtest -e 'SELECT @@port FROM sbtest1 WHERE id = 1') ||
    die "cannot ask $t which server it reads from"
  echo "$t (127.0.0.1:${PORT[$t]}) reads from the server on port $served_by"
  [[ $served_by == "$BASE_PORT" ]] || die "$t does not read from g0's master ($BASE_PORT)"
done

# Threads per proxy: a second one costs CPU per query here, so the output says what ran.
has_target haproxy && echo "haproxy runs $HAPROXY_THREADS thread(s) (HAPROXY_THREADS)"
if has_target shardgate; then
  if [[ -n $PROXY_WORKERS ]]; then
    echo "shardgate runs $PROXY_WORKERS worker(s) (PROXY_WORKERS)"
  else
    echo "shardgate runs one worker per core, its default (PROXY_WORKERS sets it)"
  fi
fi

if [[ -n $PROFILE ]] && has_target shardgate; then
  perf record --call-graph "$PROFILE_CALLGRAPH" -o "$PROFILE" -p "$shardgate_pid" >"$work/perf.log" 2>&1 &
  perf_pid=$!
  log "recording a profile of shardgate into $PROFILE"
fi

# --- the rounds ------------------------------------------------------------------------------
# pid_of TARGET: the proxy process whose CPU time is charged to TARGET (none for direct).
pid_of() {
  case $1 in
    haproxy) echo "$haproxy_pid" ;;
    shardgate) echo "$shardgate_pid" ;;
  esac
}

# instructions_per_query TARGET THREADS PS_MODE: QUERIES queries under callgrind, counted
# from a zeroed counter to a dump (the warm-up's connection set-up and planning stay out).
instructions_per_query() {
  local t=$1 pid out queries dump ir i
  pid=$(pid_of "$t")
  sb "${PORT[$t]}" "$2" "$3" --events=1000 --time=0 run >/dev/null 2>&1 ||
    die "sysbench's warm-up against $t failed"
  callgrind_control -z "$pid" >/dev/null 2>&1 || die "callgrind_control cannot reach $t (pid $pid)"
  out=$(sb "${PORT[$t]}" "$2" "$3" --events="$QUERIES" --time=0 --report-interval=0 run 2>&1) ||
    { printf '%s\n' "$out" >&2; die "sysbench against $t failed"; }
  callgrind_control -d "$pid" >/dev/null 2>&1 || die "callgrind_control cannot reach $t (pid $pid)"
  queries=$(awk '$1 == "queries:" { print $2 }' <<<"$out")
  for ((i = 0; i < 100; i++)); do
    dump=$(find "$work" -maxdepth 1 -name "callgrind.$t.*" | sort -t. -k3 -n | tail -1)
    ir=$([[ -z $dump ]] || awk '/^summary:/ { print $2 }' "$dump")
    [[ -z $ir ]] || break
    sleep 0.1
  done
  [[ -n $ir && -n $queries ]] || die "no callgrind count for $t"
  if [[ -n $CALLGRIND_KEEP ]]; then
    mv "$dump" "$CALLGRIND_KEEP/callgrind.$t.$3"
  else
    rm -f "$dump"
  fi
  echo $((ir / queries))
}

if [[ $CALLGRIND == 1 ]]; then
  threads=${thread_counts[0]}
  summary=()
  for workload in "${workloads[@]}"; do
    name=
    [[ $workload == oltp_point_select ]] || name="$workload "
    for mode in "${modes[@]}"; do
      line="instructions per query, $name$mode, $threads threads:"
      for t in "${targets[@]}"; do
        [[ $t == direct ]] || line+=" $t $(instructions_per_query "$t" "$threads" "${PS_MODE[$mode]}")"
      done
      summary+=("$line")
    done
  done
  printf '%s\n' "${summary[@]}"
  exit 0
fi

# kernel_calls_per_query TARGET THREADS PS_MODE: QUERIES queries with perf counting the
# proxy's system calls and context switches (every thread); prints "<syscalls> <switches>"
# per query, then perf trace's table of the commonest calls to stderr.
kernel_calls_per_query() {
  local t=$1 pid out queries counts calls switches
  pid=$(pid_of "$t")
  sb "${PORT[$t]}" "$2" "$3" --events=1000 --time=0 run >/dev/null 2>&1 ||
    die "sysbench's warm-up against $t failed"
  perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "$pid" -o "$work/perf.$t" &
  local perf=$!
  sleep 0.5
  out=$(sb "${PORT[$t]}" "$2" "$3" --events="$QUERIES" --time=0 --report-interval=0 run 2>&1) ||
    { printf '%s\n' "$out" >&2; die "sysbench against $t failed"; }
  kill -INT "$perf"
  wait "$perf" || true
  queries=$(awk '$1 == "queries:" { print $2 }' <<<"$out")
  calls=$(awk -F, '$3 == "raw_syscalls:sys_enter" { print $1 }' "$work/perf.$t")
  switches=$(awk -F, '$3 == "context-switches" { print $1 }' "$work/perf.$t")
  [[ -n $calls && -n $switches && -n $queries ]] || { cat "$work/perf.$t" >&2; die "no perf count for $t"; }
  # Which calls: perf trace's summary over a second, shorter run.
  perf trace -s -p "$pid" -o "$work/trace.$t" &
  perf=$!
  sleep 0.5
  sb "${PORT[$t]}" "$2" "$3" --events="$QUERIES" --time=0 --report-interval=0 run >/dev/null 2>&1 ||
    die "sysbench against $t failed"
  kill -INT "$perf"
  wait "$perf" || true
  {
    echo "$t, $3: system calls over $QUERIES queries (perf trace -s, all threads summed)"
    awk '$2 ~ /^[0-9]+$/ && NF >= 3 && $1 !~ /^-/ { n[$1] += $2 } END { for (c in n) printf "  %-16s %8d %6.2f/query\n", c, n[c], n[c] / '"$QUERIES"' }' \
      "$work/trace.$t" | sort -k2 -nr | head -12
  } >&2
  awk -v c="$calls" -v s="$switches" -v q="$queries" 'BEGIN { printf "%.2f %.2f", c / q, s / q }'
}

if [[ $SYSCALLS == 1 ]]; then
  threads=${thread_counts[0]}
  summary=()
  for workload in "${workloads[@]}"; do
    name=
    [[ $workload == oltp_point_select ]] || name="$workload "
    for mode in "${modes[@]}"; do
      line="kernel per query, $name$mode, $threads threads (syscalls, context switches):"
      for t in "${targets[@]}"; do
        [[ $t == direct ]] || line+=" $t $(kernel_calls_per_query "$t" "$threads" "${PS_MODE[$mode]}")"
      done
      summary+=("$line")
    done
  done
  printf '%s\n' "${summary[@]}"
  exit 0
fi

# run TARGET SECONDS THREADS PS_MODE: one sysbench run; prints
# "<queries> <seconds> <ticks> <user ticks>".
run() {
  local target=$1 secs=$2 pid before=0 after=0 user_before=0 user_after=0 out queries total
  pid=$(pid_of "$target")
  [[ -z $pid ]] || user_before=$(proc_user_ticks "$pid") || die "$target (pid $pid) is gone"
  [[ -z $pid ]] || before=$(proc_cpu_ticks "$pid") || die "$target (pid $pid) is gone"
  out=$(sb "${PORT[$target]}" "$3" "$4" --time="$secs" --report-interval=0 run 2>&1) ||
    { printf '%s\n' "$out" >&2; die "sysbench against $target failed"; }
  [[ -z $pid ]] || after=$(proc_cpu_ticks "$pid") || die "$target (pid $pid) is gone"
  [[ -z $pid ]] || user_after=$(proc_user_ticks "$pid") || die "$target (pid $pid) is gone"
  # "    queries:   123456 (12345.67 per sec.)" and "    total time:   10.0004s"
  queries=$(awk '$1 == "queries:" { print $2 }' <<<"$out")
  total=$(awk '$1 == "total" && $2 == "time:" { sub(/s$/, "", $3); print $3 }' <<<"$out")
  [[ -n $queries && -n $total ]] || { printf '%s\n' "$out" >&2; die "cannot read sysbench output"; }
  echo "$queries $total $((after - before)) $((user_after - user_before))"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
summary=()
n=${#targets[@]}
for workload in "${workloads[@]}"; do
  # Point selects keep the summary lines they always had; other workloads are named.
  name=
  [[ $workload == oltp_point_select ]] || name="$workload "
  for mode in "${modes[@]}"; do
    for threads in "${thread_counts[@]}"; do
      declare -A QUERIES=() TIME=() TICKS=() USER_TICKS=() QPS=() CPU=() USER_CPU=()
      if ((WARMUP > 0)); then
        for t in "${targets[@]}"; do run "$t" "$WARMUP" "$threads" "${PS_MODE[$mode]}" >/dev/null; done
      fi
      log "$name$mode, $threads threads: $ROUNDS rounds x $ROUND_SECONDS s per target"
      for t in "${targets[@]}"; do QUERIES[$t]=0 TIME[$t]=0 TICKS[$t]=0 USER_TICKS[$t]=0; done
      # Per round, shardgate's QPS over the relay's in the same round: their spread says how
      # much of a difference between two runs this box's noise can make.
      round_ratios=()
      for ((r = 0; r < ROUNDS; r++)); do
        declare -A ROUND_QPS=()
        line="$name$mode $threads threads, round $((r + 1))/$ROUNDS:"
        # Each round starts with the next target, so none always runs first or last.
        for ((k = 0; k < n; k++)); do
          t=${targets[$(((r + k) % n))]}
          read -r q s ticks user_ticks <<<"$(run "$t" "$ROUND_SECONDS" "$threads" "${PS_MODE[$mode]}")"
          QUERIES[$t]=$((QUERIES[$t] + q))
          TIME[$t]=$(awk -v a="${TIME[$t]}" -v b="$s" 'BEGIN { printf "%.4f", a + b }')
          TICKS[$t]=$((TICKS[$t] + ticks))
          USER_TICKS[$t]=$((USER_TICKS[$t] + user_ticks))
          ROUND_QPS[$t]=$(awk -v q="$q" -v s="$s" 'BEGIN { printf "%.1f", q / s }')
          line+="  $t ${ROUND_QPS[$t]%.*} qps"
        done
        if has_target shardgate && has_target haproxy; then
          round_ratios+=("$(ratio "${ROUND_QPS[shardgate]}" "${ROUND_QPS[haproxy]}")")
        fi
        unset ROUND_QPS
        echo "$line"
      done
      for t in "${targets[@]}"; do
        QPS[$t]=$(awk -v q="${QUERIES[$t]}" -v s="${TIME[$t]}" 'BEGIN { printf "%.1f", q / s }')
        cpu=
        if [[ $t != direct ]]; then
          CPU[$t]=$(awk -v k="${TICKS[$t]}" -v hz="$CLK_TCK" -v q="${QUERIES[$t]}" \
            'BEGIN { printf "%.1f", k / hz * 1e6 / q }')
          USER_CPU[$t]=$(awk -v k="${USER_TICKS[$t]}" -v hz="$CLK_TCK" -v q="${QUERIES[$t]}" \
            'BEGIN { printf "%.1f", k / hz * 1e6 / q }')
          cpu="  proxy CPU ${CPU[$t]} µs/query (user ${USER_CPU[$t]})"
        fi
        printf '%-10s %10s QPS  (%d queries in %s s)%s\n' "$t" "${QPS[$t]}" "${QUERIES[$t]}" \
          "${TIME[$t]}" "$cpu"
      done
      line="ratio $name$mode $threads threads:"
      if has_target shardgate && has_target haproxy; then
        line+=" shardgate/haproxy $(ratio "${QPS[shardgate]}" "${QPS[haproxy]}")"
        line+=" (rounds $(printf '%s\n' "${round_ratios[@]}" | sort -n | sed -n '1p;$p' | paste -sd-))"
      fi
      for t in shardgate haproxy; do
        if has_target direct && has_target "$t"; then
          line+="  $t/direct $(ratio "${QPS[$t]}" "${QPS[direct]}")"
        fi
      done
      if has_target shardgate || has_target haproxy; then
        line+="  CPU µs/query"
        for t in shardgate haproxy; do
          ! has_target "$t" || line+=" $t ${CPU[$t]}"
        done
        line+="  user µs/query"
        for t in shardgate haproxy; do
          ! has_target "$t" || line+=" $t ${USER_CPU[$t]}"
        done
      fi
      echo "$line"
      echo
      summary+=("$line")
      unset QUERIES TIME TICKS USER_TICKS QPS CPU USER_CPU
    done
  done
done

if [[ -n $perf_pid ]]; then
  kill -INT "$perf_pid" 2>/dev/null || true
  wait "$perf_pid" 2>/dev/null || true
  perf_pid=
  log "profile in $PROFILE (perf report -i $PROFILE --no-children)"
fi
echo "all targets read from 127.0.0.1:$BASE_PORT (g0's master)"
printf '%s\n' "${summary[@]}"
