#!/usr/bin/env bash
# The project's test command (CI runs it through .ci/run), for a fresh Debian 12 machine as root
# that already has the Rust toolchain.
#
#   deploy/test.sh
#
# Installs MariaDB and the Python MySQL clients if missing, starts the test cluster at base port
# 4400 (SHARDGATE_TEST_BASE_PORT; the integration tests call `cluster.sh up` on it too, a no-op
# then), runs cargo fmt --check, clippy with warnings as errors and every test target, and stops
# the cluster whatever happens. All three steps run even if one fails, so one run shows every
# problem; the exit status is non-zero if any failed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TEST_BASE_PORT=4400

section() { printf '\n==== %s ====\n' "$*"; }

cluster_up=0
test_log=
cleanup() {
  local rc=$?
  if ((cluster_up)); then
    section "stopping the test cluster"
    bash "$DEPLOY_DIR/cluster.sh" down --base-port "$TEST_BASE_PORT" || rc=1
  fi
  # tests/rwsplit.rs runs its own cluster at +80 and stops it itself; this catches a test
  # process that was killed before it could.
  if [[ -d ${TMPDIR:-/tmp}/shardgate-cluster-$((TEST_BASE_PORT + 80)) ]]; then
    bash "$DEPLOY_DIR/cluster.sh" down --base-port $((TEST_BASE_PORT + 80)) || rc=1
  fi
  [[ -z $test_log ]] || rm -f "$test_log"
  exit "$rc"
}
trap cleanup EXIT
# A signal ends the script through `exit`, so the EXIT trap above still stops the cluster.
trap 'exit 130' INT
trap 'exit 143' TERM

section "dependencies"
ensure_mariadb
ensure_packages python3:python3 systemd-analyze:systemd
if ! python3 -m pip --version >/dev/null 2>&1; then
  apt_install python3-pip
fi
missing=()
python3 -c 'import pymysql' 2>/dev/null || missing+=(pymysql)
python3 -c 'import mysql.connector' 2>/dev/null || missing+=(mysql-connector-python)
if ((${#missing[@]})); then
  log "pip install ${missing[*]}"
  # Debian's own python3 refuses pip installs outside a venv (PEP 668) unless told otherwise;
  # the tests run the plain python3, so that is where the clients must be.
  PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore \
    python3 -m pip install --quiet "${missing[@]}"
fi
command -v cargo >/dev/null 2>&1 || PATH="$HOME/.cargo/bin:$PATH"
command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain first"
cargo fmt --version >/dev/null 2>&1 || die "rustfmt is missing (rustup component add rustfmt)"
cargo clippy --version >/dev/null 2>&1 || die "clippy is missing (rustup component add clippy)"
printf 'mariadbd %s\n' "$(mariadbd --version | awk '{ print $3 }')"
python3 -c 'import pymysql, mysql.connector as m; print("pymysql", pymysql.__version__, "/ mysql-connector-python", m.__version__)'
cargo --version

section "MariaDB test cluster (base port $TEST_BASE_PORT)"
cluster_up=1
bash "$DEPLOY_DIR/cluster.sh" up --base-port "$TEST_BASE_PORT"
export SHARDGATE_TEST_BASE_PORT=$TEST_BASE_PORT

cd "$REPO_DIR"
failed=()

section "cargo fmt --all -- --check"
cargo fmt --all -- --check || failed+=(fmt)

section "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings || failed+=(clippy)

section "cargo test --all-targets"
test_log=$(mktemp)
cargo test --all-targets 2>&1 | tee "$test_log" || failed+=(test)

# Stop the cluster now rather than in the trap, so the summary stays the last thing printed.
section "stopping the test cluster"
cluster_up=0
bash "$DEPLOY_DIR/cluster.sh" down --base-port "$TEST_BASE_PORT" || failed+=(cluster-down)

section "summary"
if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}"
else
  echo "OK: fmt, clippy and tests passed"
fi
# Last line: totals over every test binary, from cargo's "test result: ok. N passed; N failed;
# N ignored; ..." lines.
awk '/^test result:/ { for (i = 1; i < NF; i++) {
       if ($(i + 1) ~ /^passed/) p += $i; if ($(i + 1) ~ /^failed/) f += $i
       if ($(i + 1) ~ /^ignored/) s += $i } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$test_log"
((${#failed[@]} == 0))
