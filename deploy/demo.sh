#!/usr/bin/env bash
# The demo: a 2-group MariaDB cluster with the `clinical` demo data, and shardgate in front.
#
#   deploy/demo.sh [up|down|status]
#
# up: installs MariaDB if missing, builds shardgate (release), starts the cluster at base port
# 3400 (deploy/cluster.sh), loads the demo data unless it is already there, creates the sbtest
# schema on g0, and (re)starts `shardgate serve --config deploy/shardgate.toml` on
# 127.0.0.1:3307. Running it again rebuilds and restarts the proxy and keeps the cluster.
# down: stops the proxy and the cluster by their recorded PIDs.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE_PORT=3400
PROXY_PORT=3307
STATE_DIR=${TMPDIR:-/tmp}/shardgate-cluster-$BASE_PORT # the cluster's: down removes it all
PROXY_PID_FILE=$STATE_DIR/shardgate.pid
PROXY_LOG=$STATE_DIR/shardgate.log
CONNECT="mariadb -h127.0.0.1 -P$PROXY_PORT -uapp -papp-pass clinical"

proxy_pid() { cat "$PROXY_PID_FILE" 2>/dev/null || true; }

stop_proxy() {
  local pid
  pid=$(proxy_pid)
  if [[ -n $pid ]] && pid_matches "$pid" "shardgate serve"; then
    log "stopping shardgate (pid $pid)"
    stop_pid "$pid" "shardgate serve" shardgate
  fi
  rm -f "$PROXY_PID_FILE"
}

proxy_answers() {
  mariadb --no-defaults -h127.0.0.1 -P"$PROXY_PORT" -uapp -papp-pass --connect-timeout=2 \
    -e 'select 1' >/dev/null 2>&1
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cmd_up() {
  ensure_mariadb
  ensure_packages python3:python3
  # rustup puts cargo in ~/.cargo/bin, which a non-login shell may not have on PATH.
  command -v cargo >/dev/null 2>&1 || PATH="$HOME/.cargo/bin:$PATH"
  command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain first"

  log "building shardgate (cargo build --release)"
  (cd "$REPO_DIR" && cargo build --release)
  local bin=$REPO_DIR/target/release/shardgate
  [[ -x $bin ]] || die "cargo build did not produce $bin"

  bash "$DEPLOY_DIR/cluster.sh" up --base-port "$BASE_PORT"
  if bash "$DEPLOY_DIR/demo-data.sh" --base-port "$BASE_PORT" --check; then
    log "demo data already loaded"
  else
    bash "$DEPLOY_DIR/demo-data.sh" --base-port "$BASE_PORT"
  fi
  # sysbench's schema (shard-rules/sbtest.toml): unsharded on g0, for sysbench runs by hand
  # (deploy/bench-sysbench.sh fills the same schema but runs a proxy of its own).
  mariadb --no-defaults -h127.0.0.1 -P"$BASE_PORT" -uapp -papp-pass \
    -e 'CREATE DATABASE IF NOT EXISTS sbtest DEFAULT CHARACTER SET utf8mb4'

  # Always restart the proxy, so that it runs the binary and config just built and read.
  stop_proxy
  if port_taken "$PROXY_PORT"; then
    die "127.0.0.1:$PROXY_PORT is already in use by another process"
  fi
  log "starting shardgate on 127.0.0.1:$PROXY_PORT (log: $PROXY_LOG)"
  printf '==== %s: demo.sh starts shardgate ====\n' "$(date '+%F %T')" >>"$PROXY_LOG"
  # Run from deploy/ so that the config's relative `rules = "../shard-rules"` means the same
  # whether it is resolved against the config file or the cwd. setsid and the redirections:
  # the proxy outlives this script and holds none of its terminal or pipes.
  (
    cd "$DEPLOY_DIR"
    export SHARDGATE_BACKEND_PASSWORD=app-pass
    exec setsid "$bin" serve --config "$DEPLOY_DIR/shardgate.toml" \
      </dev/null >>"$PROXY_LOG" 2>&1
  ) &
  local pid=$! i
  echo "$pid" >"$PROXY_PID_FILE"

  for ((i = 0; i < 300; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "---- $PROXY_LOG ----" >&2
      tail -n 50 "$PROXY_LOG" >&2 || true
      rm -f "$PROXY_PID_FILE"
      die "shardgate exited during startup"
    fi
    proxy_answers && break
    sleep 0.1
  done
  if ! proxy_answers; then
    echo "---- $PROXY_LOG ----" >&2
    tail -n 50 "$PROXY_LOG" >&2 || true
    stop_proxy
    die "shardgate did not answer on 127.0.0.1:$PROXY_PORT within 30 s"
  fi

  cat <<EOF

shardgate is running (pid $pid, log $PROXY_LOG) in front of:
  g0: master 127.0.0.1:$BASE_PORT, replica 127.0.0.1:$((BASE_PORT + 1))
  g1: master 127.0.0.1:$((BASE_PORT + 10)), replica 127.0.0.1:$((BASE_PORT + 11))

Connect with:
  $CONNECT

Stop everything with:
  deploy/demo.sh down
EOF
}

cmd_down() {
  stop_proxy
  bash "$DEPLOY_DIR/cluster.sh" down --base-port "$BASE_PORT"
}

cmd_status() {
  local pid rc=0
  bash "$DEPLOY_DIR/cluster.sh" status --base-port "$BASE_PORT" || rc=1
  pid=$(proxy_pid)
  if [[ -n $pid ]] && pid_matches "$pid" "shardgate serve" && proxy_answers; then
    echo "  shardgate   $PROXY_PORT   $pid alive; connect: $CONNECT"
  else
    echo "  shardgate   $PROXY_PORT   not running"
    rc=1
  fi
  return $rc
}

case ${1:-up} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) die "usage: ${0##*/} [up|down|status]" ;;
esac
