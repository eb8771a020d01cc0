#!/usr/bin/env bash
# A local MariaDB cluster for shardgate: 2 groups, each a master and one GTID replica, on
# 127.0.0.1 only.
#
#   deploy/cluster.sh up|down|status [--base-port N] [--state-dir DIR] [--replicas 1|2]
#
# Ports: g0 master N, g0 replica N+1, g1 master N+10, g1 replica N+11 (N = 3400 by default).
# `--replicas 2` adds a second replica to g0 on N+2 (read/write split tests); a cluster
# started so keeps it in `status` and `down` without the option.
# State (data dirs, sockets, logs, PID files): ${TMPDIR:-/tmp}/shardgate-cluster-N by default.
# `up` is idempotent and safe to run concurrently (tests call it too); `down` stops every server
# by its recorded PID and removes the state dir; `status` exits 1 if a server is down.
# Users on every server (see setup_master for their privileges): app/app-pass (the proxy's
# backend user: its schemas only), monitor/monitor-pass (SLAVE MONITOR), reshard/reshard-pass
# (resharding jobs), dba/dba-pass (the tests' operator), repl/repl-pass (replication); root only
# through the unix socket. `up` on a running cluster whose accounts an older version of this
# script set up sets them again (USERS_VERSION).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "usage: ${0##*/} up|down|status [--base-port N] [--state-dir DIR] [--replicas 1|2]" >&2
  exit 2
}

cmd=${1:-}
[[ -n $cmd ]] || usage
shift
base_port=3400
state_dir=
replicas=1
while (($#)); do
  case $1 in
    --base-port) base_port=${2:?--base-port needs a value}; shift 2 ;;
    --base-port=*) base_port=${1#*=}; shift ;;
    --state-dir) state_dir=${2:?--state-dir needs a value}; shift 2 ;;
    --state-dir=*) state_dir=${1#*=}; shift ;;
    --replicas) replicas=${2:?--replicas needs a value}; shift 2 ;;
    --replicas=*) replicas=${1#*=}; shift ;;
    -h | --help) usage ;;
    *) die "unknown argument: $1" ;;
  esac
done
if ! [[ $base_port =~ ^[0-9]+$ ]] || ((base_port < 1024 || base_port > 65500)); then
  die "--base-port must be a number in 1024..65500, not '$base_port'"
fi
state_dir=${state_dir:-${TMPDIR:-/tmp}/shardgate-cluster-$base_port}
# Absolute, so that it means the same whatever the cwd of the next caller.
[[ $state_dir == /* ]] || state_dir=$PWD/$state_dir
state_dir=${state_dir%/}
lock_file=$state_dir.lock

[[ $replicas == 1 || $replicas == 2 ]] || die "--replicas must be 1 or 2, not '$replicas'"
NAMES=(g0-master g0-replica g1-master g1-replica)
REPLICAS=(g0-replica g1-replica)
if ((replicas == 2)) || [[ -f $state_dir/g0-replica2.pid ]]; then
  NAMES+=(g0-replica2)
  REPLICAS+=(g0-replica2)
fi
APP_USER=app APP_PASS=app-pass REPL_USER=repl REPL_PASS=repl-pass
# An operator account for tests that play the DBA (killing the proxy's backend threads, as a
# crash or `KILL` by an admin would; stopping replication): the app user may kill only its own
# account's threads and has no replication privileges.
DBA_USER=dba DBA_PASS=dba-pass

port_of() {
  case $1 in
    g0-master) echo $((base_port)) ;;
    g0-replica) echo $((base_port + 1)) ;;
    g1-master) echo $((base_port + 10)) ;;
    g1-replica) echo $((base_port + 11)) ;;
    g0-replica2) echo $((base_port + 2)) ;;
  esac
}
is_replica() { [[ $1 == *-replica* ]]; }
master_of() { echo "${1%-replica*}-master"; }
replicas_of() {
  local r
  for r in "${REPLICAS[@]}"; do
    [[ $(master_of "$r") == "$1" ]] && echo "$r"
  done
}
datadir_of() { echo "$state_dir/$1"; }
socket_of() { echo "$state_dir/$1.sock"; }
pidfile_of() { echo "$state_dir/$1.pid"; }
errlog_of() { echo "$state_dir/$1.err"; }
tmpdir_of() { echo "$state_dir/$1.tmp"; }
recorded_pid() { cat "$(pidfile_of "$1")" 2>/dev/null || true; }

# Alive = the recorded PID is a mariadbd serving this very data dir (PIDs get reused).
is_alive() {
  local pid
  pid=$(recorded_pid "$1")
  [[ -n $pid ]] && pid_matches "$pid" "mariadbd" && pid_matches "$pid" "--datadir=$(datadir_of "$1") "
}

# Root logs in through the unix socket (socket auth), so no root password exists anywhere.
sql() {
  local name=$1
  shift
  mariadb --no-defaults --user=root --socket="$(socket_of "$name")" --connect-timeout=5 \
    --batch --skip-column-names "$@"
}
answers() { sql "$1" -e 'select 1' >/dev/null 2>&1; }
# USERS_VERSION: bump when the accounts or their grants change; a running cluster whose masters
# were set up with another version gets its accounts set again by the next `up`.
USERS_VERSION=3
users_current() { is_replica "$1" || [[ $(cat "$state_dir/$1.users" 2>/dev/null) == "$USERS_VERSION" ]]; }
is_healthy() { is_alive "$1" && answers "$1" && [[ -f $state_dir/$1.ready ]] && users_current "$1"; }

# replication_state NAME prints "IO=<Slave_IO_Running> SQL=<Slave_SQL_Running>".
replication_state() {
  local out io sql_
  out=$(sql "$1" --column-names --vertical -e 'SHOW SLAVE STATUS' 2>/dev/null) || {
    echo "IO=? SQL=?"
    return 0
  }
  io=$(awk -F': ' '$1 ~ /Slave_IO_Running$/ { print $2 }' <<<"$out")
  sql_=$(awk -F': ' '$1 ~ /Slave_SQL_Running$/ { print $2 }' <<<"$out")
  echo "IO=${io:-none} SQL=${sql_:-none}"
}

print_table() {
  local name pid state repl
  printf 'shardgate test cluster, state in %s\n' "$state_dir"
  printf '  %-12s %-6s %-8s %-6s %s\n' NAME PORT PID STATE REPLICATION
  for name in "${NAMES[@]}"; do
    pid=$(recorded_pid "$name")
    repl=-
    if is_alive "$name"; then
      state=alive
      is_replica "$name" && repl=$(replication_state "$name")
    else
      state=dead
    fi
    printf '  %-12s %-6s %-8s %-6s %s\n' "$name" "$(port_of "$name")" "${pid:--}" "$state" "$repl"
  done
  printf '  connect: mariadb -h127.0.0.1 -P%s -u%s -p%s\n' "$base_port" "$APP_USER" "$APP_PASS"
}

errlog_tail() {
  echo "---- last lines of $(errlog_of "$1") ----" >&2
  tail -n 30 "$(errlog_of "$1")" >&2 2>/dev/null || true
  echo "----" >&2
}

init_instance() {
  local name=$1 log=$state_dir/$1.install.log
  rm -rf "$(datadir_of "$name")" "$(tmpdir_of "$name")" "$state_dir/$name.initialized" \
    "$state_dir/$name.ready"
  mkdir -p "$(tmpdir_of "$name")"
  # --skip-name-resolve: no host name lookups at install time (they can hang without a network).
  # The log file size matches the server's option, so the first start need not resize it.
  # A tmpdir of its own: a starting mariadbd deletes every #sql* file in its tmpdir, so with a
  # shared /tmp parallel installs (and servers) delete each other's temporary tables.
  if ! mariadb-install-db --no-defaults --user=root --datadir="$(datadir_of "$name")" \
    --tmpdir="$(tmpdir_of "$name")" \
    --auth-root-authentication-method=socket --skip-test-db --skip-name-resolve \
    --innodb-log-file-size=48M >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "mariadb-install-db failed for $name (log: $log)"
  fi
  touch "$state_dir/$name.initialized"
}

start_instance() {
  local name=$1 port read_only=()
  port=$(port_of "$name")
  # Replicas refuse writes from clients (the replication thread still applies the master's),
  # as in production; stored functions may be created without SUPER (binlog is on).
  is_replica "$name" && read_only=(--read-only)
  # Settings for many short-lived test schemas, not for durability: no fsync per commit or
  # binlog write, no doublewrite, tables in the system tablespace (CREATE/DROP of a table
  # creates and unlinks no file). utf8mb4 as Debian's packaged config has it (--no-defaults
  # would leave latin1). Binlog and relay log names are fixed, not derived from the host name.
  # setsid: the server outlives this script and the caller's Ctrl-C; `9>&-` keeps it from
  # inheriting the cluster lock; output goes to a file so a caller reading our stdout through
  # a pipe (cargo's Command::output) sees EOF when we exit.
  setsid mariadbd --no-defaults --user=root \
    --datadir="$(datadir_of "$name")" --tmpdir="$(tmpdir_of "$name")" \
    --port="$port" --bind-address=127.0.0.1 \
    --socket="$(socket_of "$name")" \
    --pid-file="$(datadir_of "$name")/mariadbd.pid" \
    --log-error="$(errlog_of "$name")" \
    --server-id="$port" \
    --log-bin="$name-bin" --relay-log="$name-relay-bin" --log-slave-updates \
    --binlog-format=ROW --gtid-strict-mode=1 \
    --skip-name-resolve --max-connections=2000 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    --innodb-buffer-pool-size=64M --innodb-log-file-size=48M \
    --innodb-flush-log-at-trx-commit=2 --sync-binlog=0 \
    --innodb-doublewrite=0 --innodb-file-per-table=0 \
    --log-bin-trust-function-creators=1 \
    "${read_only[@]}" \
    </dev/null >>"$(errlog_of "$name")" 2>&1 9>&- &
  echo $! >"$(pidfile_of "$name")"
}

wait_ready() {
  local name=$1 i pid own
  pid=$(recorded_pid "$name")
  for ((i = 0; i < 600; i++)); do
    # kill -0, not is_alive: for a moment after the fork the child is still a copy of this
    # shell, not yet mariadbd.
    if ! kill -0 "$pid" 2>/dev/null; then
      errlog_tail "$name"
      die "$name (port $(port_of "$name")) exited during startup"
    fi
    if answers "$name"; then
      # setsid forks when its caller leads a process group (a shell with job control): then
      # $! was setsid's PID, and the server's own PID file has the one to record.
      own=$(cat "$(datadir_of "$name")/mariadbd.pid" 2>/dev/null || true)
      if [[ $own != "$pid" ]] && pid_matches "$own" "--datadir=$(datadir_of "$name") "; then
        echo "$own" >"$(pidfile_of "$name")"
      fi
      return 0
    fi
    sleep 0.1
  done
  errlog_tail "$name"
  die "$name (port $(port_of "$name")) did not answer within 60 s"
}

# Accounts, each with only what README's "Privileges" section says its job needs:
# - app: the proxy's backend user. Privileges on its own schemas only (as `GRANT ALL ON
#   clinical.* TO app` in production): neither SUPER nor READ_ONLY ADMIN, so a statement the
#   proxy wrongly sends to a replica fails there (read_only) instead of silently writing to it,
#   and no SLAVE MONITOR, so the health checker measures replicas by GTID positions.
# - monitor: `[health] user` for tests of the SHOW SLAVE STATUS method: login and SLAVE MONITOR.
# - reshard: `[reshard] user` of resharding jobs: the same schemas and REPLICATION SLAVE (the
#   binlog dump of the catch-up). Positions (@@gtid_binlog_pos, BINLOG_GTID_POS()) and replica
#   lag (GTID positions) need nothing more.
# - dba: the test harness's operator, never the proxy's: kills backend threads, stops and delays
#   replicas, reads their status.
# The schemas: tests' `sgt_*`, the demo's `clinical`, the benchmarks' and sysbench's.
APP_SCHEMAS=('sgt\_%' clinical sbtest 'sbtest\_ps' 'conn\_bench' 'bench\_reshard' 'sg\_bench\_scatter' 'sg\_bench\_materialize')
MONITOR_USER=monitor MONITOR_PASS=monitor-pass
RESHARD_USER=reshard RESHARD_PASS=reshard-pass
RESHARD_GRANTS="REPLICATION SLAVE"
DBA_GRANTS="CONNECTION ADMIN, PROCESS, REPLICATION SLAVE ADMIN, SLAVE MONITOR"

# create_user NAME PASSWORD [GLOBAL_PRIVILEGES] [schemas]: the statements for one account, on
# 127.0.0.1 (TCP) and localhost (the unix socket, which the proxy's pools prefer), exactly these
# privileges and no others.
create_user() {
  local user=$1 pass=$2 global=${3:-} schemas=${4:-} host schema
  for host in 127.0.0.1 localhost; do
    echo "CREATE USER IF NOT EXISTS '$user'@'$host' IDENTIFIED BY '$pass';"
    # What an older version of this script granted goes first (a cluster set up before).
    echo "REVOKE ALL PRIVILEGES, GRANT OPTION FROM '$user'@'$host';"
    [[ -n $global ]] && echo "GRANT $global ON *.* TO '$user'@'$host';"
    if [[ -n $schemas ]]; then
      for schema in "${APP_SCHEMAS[@]}"; do
        echo "GRANT ALL ON \`$schema\`.* TO '$user'@'$host';"
      done
    fi
  done
}

# Users are created on the master with the binlog on, before its replica first connects: the
# replica starts from an empty GTID position and so replays them too (gtid_strict_mode stays
# happy because the replica never writes a transaction of its own).
setup_master() {
  {
    create_user "$APP_USER" "$APP_PASS" "" schemas
    create_user "$MONITOR_USER" "$MONITOR_PASS" "SLAVE MONITOR"
    create_user "$RESHARD_USER" "$RESHARD_PASS" "$RESHARD_GRANTS" schemas
    create_user "$DBA_USER" "$DBA_PASS" "$DBA_GRANTS"
    echo "CREATE USER IF NOT EXISTS '$REPL_USER'@'127.0.0.1' IDENTIFIED BY '$REPL_PASS';"
    echo "GRANT REPLICATION SLAVE ON *.* TO '$REPL_USER'@'127.0.0.1';"
  } | sql "$1"
}

setup_replica() {
  local name=$1 master
  master=$(master_of "$name")
  # MASTER_CONNECT_RETRY=1: after a master restart the replica reconnects within a second,
  # not the default 60.
  sql "$name" <<SQL
STOP SLAVE;
CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$(port_of "$master"),
  MASTER_USER='$REPL_USER', MASTER_PASSWORD='$REPL_PASS',
  MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
START SLAVE;
SQL
}

# A master killed (kill -9) after an XA PREPARE reached its engine but before it reached
# its binary log keeps the transaction prepared without having sent it; its later XA COMMIT
# or ROLLBACK (a coordinator's recovery, shardgate's among them) then stops the replica with
# 1397 (XAER_NOTA, unknown XID). The replica never had the transaction's rows, so the
# statement is skipped, and said so: a test cluster's replica is then missing those rows,
# which only the crashed transaction's tables hold. The tests' crash cases
# (tests/xa_crash.rs) restart masters this way.
skip_orphan_xa_end() {
  local name=$1 out errno
  out=$(sql "$name" --column-names --vertical -e 'SHOW SLAVE STATUS' 2>/dev/null) || return 0
  errno=$(awk -F': ' '$1 ~ /Last_SQL_Errno$/ { print $2 }' <<<"$out")
  [[ $errno == 1397 ]] || return 0
  sed -n 's/^ *Last_SQL_Error: //p' <<<"$out" | grep -qE "Query: 'XA (COMMIT|ROLLBACK) " ||
    return 0
  echo "[cluster.sh] $name: skipping an XA end its master lost the prepare of in a crash (1397)" >&2
  sql "$name" -e 'SET GLOBAL sql_slave_skip_counter = 1; START SLAVE SQL_THREAD' >/dev/null 2>&1 || true
}

# Both replication threads running, and every transaction of the master applied.
wait_replica_synced() {
  local name=$1 master state i pos res
  master=$(master_of "$name")
  for ((i = 0; i < 300; i++)); do
    state=$(replication_state "$name")
    [[ $state == "IO=Yes SQL=Yes" ]] && break
    # A replica that was restarted after a crash may have its threads stopped: start them.
    if [[ $state == "IO=No SQL=No" ]]; then
      sql "$name" -e 'START SLAVE' >/dev/null 2>&1 || true
    fi
    [[ $state == "IO=Yes SQL=No" ]] && skip_orphan_xa_end "$name"
    sleep 0.1
  done
  if [[ $state != "IO=Yes SQL=Yes" ]]; then
    sql "$name" --column-names --vertical -e 'SHOW SLAVE STATUS' >&2 || true
    errlog_tail "$name"
    die "replication on $name is not running ($state)"
  fi
  pos=$(sql "$master" -e 'SELECT @@gtid_binlog_pos')
  # Up to 90 s, in steps: a replica that still applies (its position moves) is slow, not
  # stuck, on a loaded 2-core box after a whole suite's traffic; one that stops moving is stuck.
  local applied previous='' still=0
  for ((i = 0; i < 9 && still < 2; i++)); do
    res=$(sql "$name" -e "SELECT MASTER_GTID_WAIT('$pos', 10)")
    [[ $res == 0 ]] && return 0
    applied=$(sql "$name" -e 'SELECT @@gtid_slave_pos')
    if [[ $applied == "$previous" ]]; then still=$((still + 1)); else still=0; fi
    previous=$applied
  done
  # What the replica was doing, for the next one to read (a CI run once ended here after
  # a master's kill -9 mid-XA, with nothing to tell why). The one-line summary comes last so
  # that it survives when only the end of the output is kept.
  sql "$name" --column-names --vertical -e 'SHOW SLAVE STATUS' >&2 || true
  errlog_tail "$name"
  replica_summary "$name" >&2 || true
  die "$name did not catch up with $master (GTID $pos): applied $applied after $((i * 10)) s"
}

# One line each: the replica's positions and thread states, its prepared XA branches and the
# InnoDB transactions it waits for, to tell a slow replica from a stuck one.
replica_summary() {
  local name=$1
  sql "$name" -e "SELECT CONCAT('slave_pos=', @@gtid_slave_pos, ' current_pos=', @@gtid_current_pos)"
  sql "$name" --column-names --vertical -e 'SHOW SLAVE STATUS' 2>/dev/null |
    grep -E 'Slave_SQL_Running_State|Last_(IO|SQL)_Err|Gtid_IO_Pos|Seconds_Behind|Exec_Master_Log_Pos|Read_Master_Log_Pos' |
    tr -s ' ' | paste -sd ';' -
  sql "$name" -e "SELECT CONCAT('system thread ', ID, ': ', IFNULL(STATE, ''), ' / ', LEFT(IFNULL(INFO, ''), 80)) FROM information_schema.PROCESSLIST WHERE USER = 'system user'"
  sql "$name" -e "SELECT CONCAT('innodb trx ', trx_id, ' ', trx_state, ' rows_locked=', trx_rows_locked, ' mysql_thread=', trx_mysql_thread_id) FROM information_schema.INNODB_TRX"
  sql "$name" -e 'XA RECOVER' | sed 's/^/xa prepared: /'
}

all_healthy() {
  local name
  for name in "${NAMES[@]}"; do
    is_healthy "$name" || return 1
  done
}

cmd_up() {
  local name pids=() pid r
  ensure_mariadb
  # A unix socket path is limited to 107 bytes.
  ((${#state_dir} + 16 < 108)) || die "state dir path too long for unix sockets: $state_dir"
  mkdir -p "$(dirname "$state_dir")"
  exec 9>"$lock_file"
  flock -w 600 9 || die "timed out waiting for $lock_file"
  if all_healthy; then
    print_table
    return 0
  fi
  mkdir -p "$state_dir"

  # A master that must be (re)initialised has a new history: its replica must start over too.
  for name in g0-master g1-master; do
    if [[ ! -f $state_dir/$name.initialized ]]; then
      for r in $(replicas_of "$name"); do rm -f "$state_dir/$r.initialized"; done
    fi
  done
  for name in "${NAMES[@]}"; do
    [[ -f $state_dir/$name.initialized ]] && continue
    # A running server whose data dir is about to be wiped must stop first.
    stop_pid "$(recorded_pid "$name")" "--datadir=$(datadir_of "$name") " "$name"
    log "initialising $name"
    init_instance "$name" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done

  for name in "${NAMES[@]}"; do
    is_alive "$name" && continue
    log "starting $name on 127.0.0.1:$(port_of "$name")"
    start_instance "$name"
  done
  for name in "${NAMES[@]}"; do wait_ready "$name"; done

  for name in g0-master g1-master; do
    [[ -f $state_dir/$name.ready ]] && users_current "$name" && continue
    setup_master "$name"
    echo "$USERS_VERSION" >"$state_dir/$name.users"
    touch "$state_dir/$name.ready"
  done
  for name in "${REPLICAS[@]}"; do
    if [[ ! -f $state_dir/$name.ready ]]; then
      setup_replica "$name"
    fi
    wait_replica_synced "$name"
    touch "$state_dir/$name.ready"
  done
  print_table
}

cmd_down() {
  local name
  [[ -d $state_dir ]] || {
    log "no cluster state at $state_dir: nothing to stop"
    return 0
  }
  exec 9>"$lock_file"
  flock -w 600 9 || die "timed out waiting for $lock_file"
  # TERM all at once (each shuts down cleanly in parallel), then wait for each.
  for name in "${NAMES[@]}"; do
    if is_alive "$name"; then
      kill -TERM "$(recorded_pid "$name")" 2>/dev/null || true
    fi
  done
  for name in "${NAMES[@]}"; do
    stop_pid "$(recorded_pid "$name")" "--datadir=$(datadir_of "$name") " "$name"
  done
  rm -rf "$state_dir"
  # The lock file stays: removing it would let a waiting `up` and a new one lock different files.
  log "stopped the cluster at base port $base_port and removed $state_dir"
}

cmd_status() {
  local name ok=0
  print_table
  for name in "${NAMES[@]}"; do
    is_alive "$name" || ok=1
  done
  return $ok
}

case $cmd in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) usage ;;
esac
