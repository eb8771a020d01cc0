# shellcheck shell=bash
# Helpers shared by deploy/*.sh. Sourced, never run on its own.

# mariadbd lives in /usr/sbin, which a non-login root shell (cargo, CI) may not have on PATH.
case ":$PATH:" in
  *:/usr/sbin:*) ;;
  *) PATH="$PATH:/usr/sbin:/sbin" ;;
esac
export PATH

# Where the other scripts and the repository are, whatever the caller's cwd.
DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$DEPLOY_DIR/.." && pwd)
export DEPLOY_DIR REPO_DIR

# Progress goes to stderr so that stdout stays for results (tables, QPS lines).
log() { printf '[%s] %s\n' "${0##*/}" "$*" >&2; }
die() {
  printf '[%s] error: %s\n' "${0##*/}" "$*" >&2
  exit 1
}

# ensure_packages CMD:PACKAGE ... installs the Debian packages whose command is missing.
ensure_packages() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
}

# apt_install PACKAGE ... installs Debian packages (a no-op for those already there). Several
# test processes may get here at once, and apt's own lock fails rather than waits, so installs
# are serialised by a lock file of ours.
apt_install() {
  [[ $(id -u) -eq 0 ]] || die "missing packages $*: install them, or run as root"
  (
    flock -w 900 8 || die "timed out waiting for another package install"
    log "installing $*"
    # Without a policy-rc.d, Debian's postinst starts the system MariaDB on 3306: a server
    # nobody recorded or stops. Deny service starts for the duration of the install.
    local policy=/usr/sbin/policy-rc.d made_policy=0 rc=0
    if [[ ! -e $policy ]]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy"
      chmod 755 "$policy"
      made_policy=1
    fi
    {
      apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 "$@"
    } >&2 || rc=$?
    if ((made_policy)); then rm -f "$policy"; fi
    ((rc == 0)) || die "apt-get install $* failed ($rc)"
  ) 8>"${TMPDIR:-/tmp}/shardgate-apt.lock"
}

# The MariaDB server and client that every script here needs.
ensure_mariadb() {
  ensure_packages mariadbd:mariadb-server mariadb-install-db:mariadb-server mariadb:mariadb-client
}

# pid_cmdline PID prints the command line of a live process, NULs as spaces (empty if gone).
pid_cmdline() {
  if [[ -r /proc/$1/cmdline ]]; then
    # 2>/dev/null first: the process may end between the test and the read.
    tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" || true
  fi
}

# pid_matches PID PATTERN: the process is alive and its command line contains PATTERN. A recorded
# PID may have been reused by an unrelated process after a crash or a reboot: never trust it alone.
pid_matches() {
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  local cmd
  cmd=$(pid_cmdline "$1")
  [[ -n $cmd && $cmd == *"$2"* ]]
}

# stop_pid PID PATTERN WHAT: TERM, wait up to 30 s, then KILL; only if PID still matches PATTERN.
stop_pid() {
  local pid=$1 pattern=$2 what=$3 i
  pid_matches "$pid" "$pattern" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    pid_matches "$pid" "$pattern" || return 0
    sleep 0.1
  done
  log "$what (pid $pid) ignored TERM for 30 s: KILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    pid_matches "$pid" "$pattern" || return 0
    sleep 0.1
  done
  die "$what (pid $pid) survived KILL"
}

# proc_cpu_ticks PID prints utime+stime of a process, in clock ticks (fields 14 and 15 of
# /proc/PID/stat, counted after the ')' that ends the command name, which may contain spaces).
proc_cpu_ticks() {
  local stat rest
  stat=$(cat "/proc/$1/stat") || return 1
  rest=${stat##*) }
  # After ") ": state(3) ppid(4) ... utime(14) stime(15) -> positions 12 and 13 of $rest.
  awk '{ print $12 + $13 }' <<<"$rest"
}

# proc_user_ticks PID prints utime alone: the process's own code, where a proxy's parsing and
# routing show (its system time is mostly the hop's syscalls and wake-ups, alike for all).
proc_user_ticks() {
  local stat rest
  stat=$(cat "/proc/$1/stat") || return 1
  rest=${stat##*) }
  awk '{ print $12 }' <<<"$rest"
}
