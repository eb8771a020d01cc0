#!/usr/bin/env bash
# Load the demo database `clinical` into a running cluster (deploy/cluster.sh up), then verify it.
#
#   deploy/demo-data.sh [--base-port N] [--check]
#
# Drops and recreates the physical schema `clinical` on both masters: g0 gets hospitals,
# patients/trial_enrollment/clinical_data shards 0 and 1, and medication_logs; g1 gets hospitals
# and shards 2 and 3 (shard = hospital_id % 4, as in shard-rules/clinical.toml). Replicas get it
# through replication. Then every physical table is counted on every server (masters and
# replicas) and compared with what demo-data.py generated, and each replica's table checksums
# with its master's. --check only verifies: exit 0 if the data is all there, 1 if not.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

base_port=3400
check_only=0
while (($#)); do
  case $1 in
    --base-port) base_port=${2:?--base-port needs a value}; shift 2 ;;
    --base-port=*) base_port=${1#*=}; shift ;;
    --check) check_only=1; shift ;;
    *) die "usage: ${0##*/} [--base-port N] [--check]" ;;
  esac
done
[[ $base_port =~ ^[0-9]+$ ]] || die "--base-port must be a number"

ensure_mariadb
ensure_packages python3:python3

SCHEMA=clinical
declare -A MASTER=([g0]=$base_port [g1]=$((base_port + 10)))
declare -A REPLICA=([g0]=$((base_port + 1)) [g1]=$((base_port + 11)))

# The client's character set must be given: its default follows the locale, and a latin1
# client would store the accents double-encoded.
db() {
  local port=$1
  shift
  mariadb --no-defaults -h127.0.0.1 -P"$port" -uapp -papp-pass --default-character-set=utf8mb4 \
    --batch --skip-column-names "$@"
}

load() {
  local group=$1
  python3 "$DEPLOY_DIR/demo-data.py" --target "$group" --schema "$SCHEMA" | db "${MASTER[$group]}"
}

# verify GROUP [quiet]: counts on master and replica, checksums replica vs master.
verify() {
  local group=$1 quiet=${2:-} master=${MASTER[$1]} replica=${REPLICA[$1]} pos ok=0
  local table want got_m got_r sum_m sum_r
  # The replica must have applied everything the master has before it is compared.
  pos=$(db "$master" -e 'SELECT @@gtid_binlog_pos')
  [[ $(db "$replica" -e "SELECT MASTER_GTID_WAIT('$pos', 30)") == 0 ]] ||
    die "replica $replica did not catch up with master $master"
  while read -r table want; do
    got_m=$(db "$master" -e "SELECT COUNT(*) FROM \`$SCHEMA\`.\`$table\`" 2>/dev/null || echo missing)
    got_r=$(db "$replica" -e "SELECT COUNT(*) FROM \`$SCHEMA\`.\`$table\`" 2>/dev/null || echo missing)
    sum_m=$(db "$master" -e "CHECKSUM TABLE \`$SCHEMA\`.\`$table\`" 2>/dev/null | cut -f2 || true)
    sum_r=$(db "$replica" -e "CHECKSUM TABLE \`$SCHEMA\`.\`$table\`" 2>/dev/null | cut -f2 || true)
    local verdict=ok
    if [[ $got_m != "$want" || $got_r != "$want" || -z $sum_m || $sum_m != "$sum_r" ]]; then
      verdict=MISMATCH
      ok=1
    fi
    [[ -n $quiet ]] || printf '  %-3s %-20s %6s %8s %8s  %s\n' "$group" "$table" "$want" \
      "$got_m" "$got_r" "$verdict"
  done < <(python3 "$DEPLOY_DIR/demo-data.py" --target "$group" --counts)
  return $ok
}

if ((check_only)); then
  verify g0 quiet && verify g1 quiet && exit 0
  exit 1
fi

log "loading demo schema $SCHEMA into g0 (127.0.0.1:${MASTER[g0]}) and g1 (127.0.0.1:${MASTER[g1]})"
# Both groups at once: they are independent servers.
load g0 &
pid_g0=$!
load g1 &
pid_g1=$!
wait "$pid_g0" || die "loading g0 failed"
wait "$pid_g1" || die "loading g1 failed"

printf '  %-3s %-20s %6s %8s %8s  %s\n' GRP TABLE WANT MASTER REPLICA CHECK
status=0
verify g0 || status=1
verify g1 || status=1
((status == 0)) || die "demo data does not match what was generated"
log "demo data loaded and verified on masters and replicas"
