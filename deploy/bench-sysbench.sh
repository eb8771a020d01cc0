#!/usr/bin/env bash
# sysbench oltp_point_select (text protocol) against g0's master three ways: directly, through an
# HAProxy TCP relay (one thread, the floor for a proxy process here), and through shardgate.
#
#   deploy/bench-sysbench.sh
#
# Environment: ROUNDS (6) rounds of ROUND_SECONDS (10) seconds per target, interleaved so that
# drift of the machine hits every target alike; SECONDS works too when given in the environment
# (bash's own SECONDS is the shell's uptime, so it is read from the initial environment).
# THREADS (4), WARMUP seconds per target before the rounds (2), TARGETS ("direct haproxy
# shardgate"). Needs the demo running (deploy/demo.sh up), and starts it if shardgate is not
# answering. sbtest (4 tables x 10000 rows) is prepared once, directly on the master.
# Prints QPS per target, proxy CPU per query (utime+stime from /proc), and as the last line
# `ratio x.xx`: shardgate's QPS over HAProxy's.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

env_seconds=$(tr '\0' '\n' <"/proc/$$/environ" | sed -n 's/^SECONDS=//p')
ROUNDS=${ROUNDS:-6}
ROUND_SECONDS=${ROUND_SECONDS:-${env_seconds:-10}}
THREADS=${THREADS:-4}
WARMUP=${WARMUP:-2}
TARGETS=${TARGETS:-direct haproxy shardgate}
for v in ROUNDS ROUND_SECONDS THREADS WARMUP; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
((ROUNDS > 0 && ROUND_SECONDS > 0 && THREADS > 0)) || die "ROUNDS, ROUND_SECONDS, THREADS must be > 0"

BASE_PORT=3400
declare -A PORT=([direct]=$BASE_PORT [haproxy]=3309 [shardgate]=3307)
for t in $TARGETS; do
  [[ -n ${PORT[$t]:-} ]] || die "unknown target '$t' in TARGETS (direct, haproxy, shardgate)"
done
has_target() { [[ " $TARGETS " == *" $1 "* ]]; }
STATE_DIR=${TMPDIR:-/tmp}/shardgate-cluster-$BASE_PORT
CLK_TCK=$(getconf CLK_TCK)

ensure_mariadb
ensure_packages sysbench:sysbench haproxy:haproxy

work=$(mktemp -d "${TMPDIR:-/tmp}/shardgate-bench.XXXXXX")
haproxy_pid=
cleanup() {
  local rc=$?
  if [[ -n $haproxy_pid ]]; then
    stop_pid "$haproxy_pid" haproxy haproxy || rc=1
    wait "$haproxy_pid" 2>/dev/null || true # reap it: it is our child
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

# --- the servers ---------------------------------------------------------------------------
shardgate_pid=
if has_target shardgate; then
  if ! answers "${PORT[shardgate]}"; then
    log "shardgate is not answering on 127.0.0.1:${PORT[shardgate]}: starting the demo"
    bash "$DEPLOY_DIR/demo.sh" up >&2
  fi
  # The demo's PID file first; else any running `shardgate serve` (started some other way).
  shardgate_pid=$(cat "$STATE_DIR/shardgate.pid" 2>/dev/null || true)
  if ! pid_matches "$shardgate_pid" "shardgate serve"; then
    shardgate_pid=$(pgrep -of 'shardgate serve' || true)
  fi
  pid_matches "$shardgate_pid" "shardgate serve" || die "cannot find the shardgate process"
fi
answers "$BASE_PORT" || bash "$DEPLOY_DIR/cluster.sh" up --base-port "$BASE_PORT" >&2

if has_target haproxy; then
  if port_taken "${PORT[haproxy]}"; then
    die "127.0.0.1:${PORT[haproxy]} is already in use"
  fi
  sed -e "s/@LISTEN@/127.0.0.1:${PORT[haproxy]}/" -e "s/@BACKEND@/127.0.0.1:$BASE_PORT/" \
    "$DEPLOY_DIR/haproxy.cfg.in" >"$work/haproxy.cfg"
  haproxy -c -q -f "$work/haproxy.cfg" || die "haproxy rejected $work/haproxy.cfg"
  # -db: stay in the foreground, so $! is haproxy itself and is what gets recorded and stopped.
  setsid haproxy -db -f "$work/haproxy.cfg" </dev/null >"$work/haproxy.log" 2>&1 &
  haproxy_pid=$!
  echo "$haproxy_pid" >"$work/haproxy.pid"
  for ((i = 0; i < 100; i++)); do
    answers "${PORT[haproxy]}" && break
    kill -0 "$haproxy_pid" 2>/dev/null || { cat "$work/haproxy.log" >&2; die "haproxy exited"; }
    sleep 0.1
  done
  answers "${PORT[haproxy]}" || { cat "$work/haproxy.log" >&2; die "haproxy does not relay"; }
fi

# --- sbtest, prepared once directly on the master ------------------------------------------
sb() {
  local port=$1
  shift
  sysbench oltp_point_select --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" \
    --mysql-user=app --mysql-password=app-pass --mysql-db=sbtest \
    --tables=4 --table-size=10000 --threads="$THREADS" --db-ps-mode=disable "$@"
}
direct_sql() {
  mariadb --no-defaults -h127.0.0.1 -P"$BASE_PORT" -uapp -papp-pass --batch --skip-column-names "$@"
}
direct_sql -e 'CREATE DATABASE IF NOT EXISTS sbtest DEFAULT CHARACTER SET utf8mb4'
rows=$(direct_sql sbtest -e 'SELECT (SELECT COUNT(*) FROM sbtest1), (SELECT COUNT(*) FROM sbtest2),
  (SELECT COUNT(*) FROM sbtest3), (SELECT COUNT(*) FROM sbtest4)' 2>/dev/null || true)
if [[ $rows != $'10000\t10000\t10000\t10000' ]]; then
  log "preparing sbtest (4 tables x 10000 rows) on 127.0.0.1:$BASE_PORT"
  sb "$BASE_PORT" cleanup >/dev/null
  sb "$BASE_PORT" prepare >"$work/prepare.log" 2>&1 ||
    { cat "$work/prepare.log" >&2; die "sysbench prepare failed"; }
fi

# --- the rounds ------------------------------------------------------------------------------
declare -A QUERIES TIME TICKS
# pid_of TARGET: the proxy process whose CPU time is charged to TARGET (none for direct).
pid_of() {
  case $1 in
    haproxy) echo "$haproxy_pid" ;;
    shardgate) echo "$shardgate_pid" ;;
  esac
}

# run TARGET SECONDS: one sysbench run; prints "<queries> <seconds> <proxy ticks>".
run() {
  local target=$1 secs=$2 pid before=0 after=0 out queries total
  pid=$(pid_of "$target")
  [[ -z $pid ]] || before=$(proc_cpu_ticks "$pid") || die "$target (pid $pid) is gone"
  out=$(sb "${PORT[$target]}" --time="$secs" --report-interval=0 run 2>&1) ||
    { printf '%s\n' "$out" >&2; die "sysbench against $target failed"; }
  [[ -z $pid ]] || after=$(proc_cpu_ticks "$pid") || die "$target (pid $pid) is gone"
  # "    queries:   123456 (12345.67 per sec.)" and "    total time:   10.0004s"
  queries=$(awk '$1 == "queries:" { print $2 }' <<<"$out")
  total=$(awk '$1 == "total" && $2 == "time:" { sub(/s$/, "", $3); print $3 }' <<<"$out")
  [[ -n $queries && -n $total ]] || { printf '%s\n' "$out" >&2; die "cannot read sysbench output"; }
  echo "$queries $total $((after - before))"
}

read -ra targets <<<"$TARGETS"
if ((WARMUP > 0)); then
  log "warm-up: ${WARMUP} s per target (${targets[*]})"
  for t in "${targets[@]}"; do run "$t" "$WARMUP" >/dev/null; done
fi
log "$ROUNDS rounds x $ROUND_SECONDS s per target, $THREADS threads, oltp_point_select, text protocol"
for t in "${targets[@]}"; do QUERIES[$t]=0 TIME[$t]=0 TICKS[$t]=0; done
n=${#targets[@]}
for ((r = 0; r < ROUNDS; r++)); do
  line="round $((r + 1))/$ROUNDS:"
  # Each round starts with the next target, so none always runs first or last.
  for ((k = 0; k < n; k++)); do
    t=${targets[$(((r + k) % n))]}
    res=$(run "$t" "$ROUND_SECONDS")
    read -r q s ticks <<<"$res"
    QUERIES[$t]=$((QUERIES[$t] + q))
    TIME[$t]=$(awk -v a="${TIME[$t]}" -v b="$s" 'BEGIN { printf "%.4f", a + b }')
    TICKS[$t]=$((TICKS[$t] + ticks))
    line+=$(awk -v t="$t" -v q="$q" -v s="$s" 'BEGIN { printf "  %s %.0f qps", t, q / s }')
  done
  echo "$line"
done

# --- results ---------------------------------------------------------------------------------
declare -A QPS
echo
for t in "${targets[@]}"; do
  QPS[$t]=$(awk -v q="${QUERIES[$t]}" -v s="${TIME[$t]}" 'BEGIN { printf "%.1f", q / s }')
  cpu=
  if [[ $t != direct ]]; then
    cpu=$(awk -v k="${TICKS[$t]}" -v hz="$CLK_TCK" -v q="${QUERIES[$t]}" \
      'BEGIN { printf "  proxy CPU %.1f µs/query", k / hz * 1e6 / q }')
  fi
  printf '%-10s %10s QPS  (%d queries in %s s)%s\n' "$t" "${QPS[$t]}" "${QUERIES[$t]}" \
    "${TIME[$t]}" "$cpu"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
for t in shardgate haproxy; do
  if has_target direct && has_target "$t"; then
    echo "ratio $t/direct $(ratio "${QPS[$t]}" "${QPS[direct]}")"
  fi
done
if has_target shardgate && has_target haproxy; then
  echo "ratio $(ratio "${QPS[shardgate]}" "${QPS[haproxy]}")"
fi
